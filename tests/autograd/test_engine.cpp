// The autograd engine: accumulation, graph freeing, NoGradGuard, detach, grad/value_and_grad.
#include <gtest/gtest.h>

#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  (x * 3.0).sum().backward();
  (x * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{6, 6}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  // y = x*x + x  -> dy/dx = 2x + 1
  Tensor x = tensor(2.0).requires_grad_();
  Tensor y = x * x + x;
  y.backward();
  EXPECT_EQ(x.grad().item<float>(), 5.f);
}

TEST(Autograd, SecondBackwardOnFreedGraphThrows) {
  Tensor x = tensor(2.0).requires_grad_();
  Tensor y = x * x;
  y.backward();
  EXPECT_THROW(y.backward(), Error);
  Tensor z = x * x;
  z.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_NO_THROW(z.backward());
  EXPECT_EQ(x.grad().item<float>(), 4.f + 4.f + 4.f);
}

// A leaf's first gradient is taken without a copy only where nothing else holds it: add's backward
// hands the same tensor to both inputs, a seed belongs to the caller, and the gradient a later
// backward adds must land in the leaf's own buffer. Each case checked by writing through one
// handle and reading the other.
TEST(Autograd, LeafGradientsNeverAlias) {
  Tensor a = tensor({1.0, 2.0}).requires_grad_(), b = tensor({3.0, 4.0}).requires_grad_();
  (a + b).sum().backward();
  a.grad().add_(tensor({10.0, 10.0}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_NE(a.grad().raw_data(), b.grad().raw_data());

  Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor seed = tensor({5.0, 6.0, 7.0});
  x.backward(seed);
  seed.mul_(0.0);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{5, 6, 7}));

  // a product's weight gradient (a fresh result, taken as it is), then a second one added to it:
  // d/dw sum(m w) = m^T 1, the column sums of m = [[1, 2], [3, 4], [5, 6]]
  Tensor m = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}).reshape({3, 2});
  Tensor w = tensor({0.5, -0.5}).reshape({2, 1}).requires_grad_();
  matmul(m, w).sum().backward();
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{9, 12}));
  matmul(m, w).sum().backward();
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{18, 24}));
  EXPECT_EQ(w.grad().shape(), (Shape{2, 1}));
}

TEST(Autograd, NonScalarNeedsGradientAndErrorsAreClear) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(), Error);
  y.backward(tensor({1.0, 10.0}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 20}));
  EXPECT_THROW(tensor({1.0}).backward(), Error);  // requires no grad
  EXPECT_THROW(tensor({1, 2}).requires_grad_(), Error);  // integers carry no gradient
}

TEST(Autograd, NoGradGuardAndDetach) {
  Tensor x = tensor({1.0}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), x.raw_data());
}

TEST(Autograd, NxStyleGradAndValueAndGrad) {
  auto g = grad([](const Tensor& x) { return (x * x).sum(); });
  EXPECT_EQ(g(tensor({3.0, 4.0, 10.0})).to_vector<float>(), (std::vector<float>{6, 8, 20}));
  auto vg = value_and_grad([](const std::vector<Tensor>& p) { return (p[0] * p[1]).sum(); });
  auto [value, grads] = vg({tensor({2.0, 3.0}), tensor({5.0, 7.0})});
  EXPECT_EQ(value.item<float>(), 31.f);
  EXPECT_EQ(grads[0].to_vector<float>(), (std::vector<float>{5, 7}));
  EXPECT_EQ(grads[1].to_vector<float>(), (std::vector<float>{2, 3}));
  auto not_scalar = grad([](const Tensor& x) { return x * 2.0; });
  EXPECT_THROW(not_scalar(tensor({1.0, 2.0})), Error);  // grad needs a scalar function
}

TEST(Autograd, GraphMemoryIsFreedAfterBackward) {
  Tensor x = ones({1000}).requires_grad_();
  Tensor y = (x * 2.0).sum();
  std::weak_ptr<autograd::Node> node = y.grad_fn();
  y.backward();
  EXPECT_TRUE(y.grad_fn()->released);
  EXPECT_TRUE(y.grad_fn()->inputs.empty());
  y = Tensor();
  EXPECT_TRUE(node.expired());
}

TEST(Autograd, QuadraticFitLossFalls) {
  // the chapter's roller coaster: loss after 10 SGD steps is below the first
  Generator gen(42);
  Tensor t = arange(0, 20).to(f32);
  Tensor speed = randn({20}, gen) * 3.0 + 0.75 * (t - 9.5).pow(2) + 1.0;
  Tensor params = randn({3}, gen).requires_grad_();
  std::vector<double> losses;
  for (int i = 0; i < 10; ++i) {
    Tensor loss = (params[0] * t.pow(2) + params[1] * t + params[2] - speed).pow(2).mean();
    loss.backward();
    {
      NoGradGuard no_grad;
      params.sub_(params.grad(), 1e-5);
    }
    params.zero_grad();
    losses.push_back(loss.item<double>());
  }
  EXPECT_LT(losses.back(), losses.front());
}
