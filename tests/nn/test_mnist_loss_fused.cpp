// The fused mnist_loss against three independent sources of expected values: sums worked out by
// hand from chosen probabilities, the same formula evaluated here in plain double loops, and its
// composite mnist_loss_reference (sigmoid, where, mean); its gradient also against finite
// differences in f64 (support/gradcheck).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ember/nn/nn.hpp"
#include "io/test_files.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::expect_error;
using ember::testing::gradcheck;
using ember::testing::random_f64;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// logit(p) = log(p / (1 - p)), whose sigmoid gives p back
double logit(double p) { return std::log(p / (1 - p)); }

// The chapter's loss and its gradient written out in double, element by element, from the
// definition: s = 1 / (1 + exp(-x)); loss = mean(t == 1 ? 1 - s : s);
// dloss/dx = (t == 1 ? -1 : 1) * s * (1 - s) / n.
struct Expected {
  double loss = 0;
  std::vector<double> grad;
};
Expected by_definition(const std::vector<double>& x, const std::vector<double>& t) {
  Expected e;
  const double n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double s = 1.0 / (1.0 + std::exp(-x[i]));
    e.loss += (t[i] == 1 ? 1 - s : s) / n;
    e.grad.push_back((t[i] == 1 ? -1 : 1) * s * (1 - s) / n);
  }
  return e;
}

// Random logits (normal, scale 3: well into both tails of the sigmoid) and 0/1 targets.
struct Batch {
  Tensor x, t;
};
Batch random_batch(const Shape& shape, std::uint64_t seed, DType dt) {
  Generator gen(seed);
  return {randn(shape, gen, dt) * 3.0, randint(0, 2, shape, gen).to(dt)};
}

}  // namespace

TEST(MnistLossFused, MixedTargetsByHand) {
  // probabilities [0.9, 0.4, 0.2, 0.7] against targets [1, 0, 1, 0] (two exactly 1, two 0):
  // loss = ((1 - 0.9) + 0.4 + (1 - 0.2) + 0.7) / 4 = 2.0 / 4 = 0.5;
  // gradient = (t == 1 ? -1 : 1) * p * (1 - p) / 4 = [-0.0225, 0.06, -0.04, 0.0525]
  const std::vector<double> xs = {logit(0.9), logit(0.4), logit(0.2), logit(0.7)};
  const Tensor expected_grad = tensor({{-0.0225}, {0.06}, {-0.04}, {0.0525}}, DType::f64);
  // f64: only rounding in logit and sigmoid (about 1e-16) separates the result from the sums above
  Tensor x = from_vector(xs, {4, 1}, DType::f64).requires_grad_();
  const Tensor t = tensor({{1.0}, {0.0}, {1.0}, {0.0}}, DType::f64);
  const Tensor loss = nn::mnist_loss(x, t);
  EXPECT_EQ(loss.dtype(), DType::f64);
  EXPECT_EQ(loss.rank(), 0);
  EXPECT_NEAR(loss.item<double>(), 0.5, 1e-12);
  loss.backward();
  EXPECT_TRUE(allclose(x.grad(), expected_grad, 1e-12, 1e-10));
  // f32 predictions and f32 targets (as the DataLoader's float_targets gives them): the logits
  // round to f32 (relative 6e-8) and the sigmoid is the f32 kernel, a few ulp: 1e-6 covers both
  Tensor x32 = from_vector(xs, {4, 1}, DType::f32).requires_grad_();
  const Tensor loss32 = nn::mnist_loss(x32, t.to(DType::f32));
  EXPECT_EQ(loss32.dtype(), DType::f32);
  EXPECT_NEAR(loss32.item<double>(), 0.5, 1e-6);
  loss32.backward();
  EXPECT_TRUE(allclose(x32.grad().to(DType::f64), expected_grad, 1e-7, 1e-5));
}

TEST(MnistLossFused, TargetsOfAnyDtype) {
  // the loss depends only on which targets equal 1: f32, f64, i64 and u8 targets give one value
  const Tensor x = tensor({{2.0f}, {-1.0f}, {0.5f}, {-3.0f}, {0.0f}});
  const std::vector<double> xs = {2.0, -1.0, 0.5, -3.0, 0.0}, ts = {1, 0, 0, 1, 1};
  const double expected = by_definition(xs, ts).loss;
  const Tensor t32 = tensor({{1.0f}, {0.0f}, {0.0f}, {1.0f}, {1.0f}});
  for (DType tdt : {DType::f32, DType::f64, DType::i64, DType::u8}) {
    SCOPED_TRACE(dtype_name(tdt));
    EXPECT_NEAR(nn::mnist_loss(x, t32.to(tdt)).item<double>(), expected, 1e-6);
    EXPECT_NEAR(nn::mnist_loss(x.to(DType::f64), t32.to(tdt)).item<double>(), expected, 1e-15);
  }
  // a target just below 1 is not 1 (the composite compares in the targets' own dtype, f64 here),
  // even for f32 predictions, where rounding the target to f32 would make it 1
  // (sigmoid(2) = 0.8808 is the loss; were the target taken as 1 it would be 1 - 0.8808 = 0.1192)
  const Tensor near_one = tensor({1.0 - 1e-12}, DType::f64);
  const Tensor two = tensor({2.0f});
  EXPECT_NEAR(nn::mnist_loss(two, near_one).item<double>(), 1 / (1 + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(nn::mnist_loss_reference(two, near_one).item<double>(), 1 / (1 + std::exp(-2.0)),
              1e-6);
}

TEST(MnistLossFused, AgreesWithReferenceF32AndF64) {
  // 1003 values: several 256-value blocks of the forward and a tail of the 8-lane sigmoid kernel.
  // Tolerances: both compute identical f32 terms (same sigmoid kernel, same 1 - s) summed in
  // double; they differ only in rounding the mean (f32 divide vs double divide, about 2 ulp,
  // 1.2e-7 at 0.5) and, for the gradients, in the order of three f32 products (relative 4e-7).
  // In f64 the same formulas agree to summation order: 1e-13 is a thousand ulp of margin.
  struct Case {
    DType dt;
    double atol, rtol;
  };
  for (const Case c : {Case{DType::f32, 1e-9, 1e-6}, Case{DType::f64, 1e-15, 1e-13}}) {
    SCOPED_TRACE(dtype_name(c.dt));
    const Batch b = random_batch({1003, 1}, 11, c.dt);
    Tensor xf = b.x.clone().requires_grad_(), xr = b.x.clone().requires_grad_();
    const Tensor fused = nn::mnist_loss(xf, b.t), ref = nn::mnist_loss_reference(xr, b.t);
    EXPECT_EQ(fused.dtype(), ref.dtype());
    EXPECT_EQ(fused.shape(), ref.shape());
    EXPECT_TRUE(allclose(fused, ref, c.atol, c.rtol));
    fused.backward();
    ref.backward();
    EXPECT_TRUE(allclose(xf.grad(), xr.grad(), c.atol, c.rtol));
    // and both against the definition in double (the f32 sigmoid kernel is a few ulp off)
    const Expected e = by_definition(b.x.to(DType::f64).to_vector<double>(),
                                     b.t.to(DType::f64).to_vector<double>());
    EXPECT_NEAR(fused.item<double>(), e.loss, c.dt == DType::f32 ? 1e-6 : 1e-13);
    // (in f32, 1 - s near s = 1 keeps only the absolute accuracy of s, a few 1e-8; divided by
    // n = 1003 that is a few 1e-11 absolute on gradients of up to 2.5e-4: atol 1e-9)
    EXPECT_TRUE(allclose(xf.grad().to(DType::f64), from_vector(e.grad, {1003, 1}, DType::f64),
                         c.dt == DType::f32 ? 1e-9 : 1e-17, c.dt == DType::f32 ? 1e-5 : 1e-12));
  }
}

TEST(MnistLossFused, IncomingGradientScalesTheRule) {
  // d(3 * loss)/dx = 3 * dloss/dx; the loss is also usable inside a larger expression
  const Batch b = random_batch({6, 1}, 2, DType::f64);
  Tensor x1 = b.x.clone().requires_grad_(), x3 = b.x.clone().requires_grad_();
  nn::mnist_loss(x1, b.t).backward();
  (nn::mnist_loss(x3, b.t) * 3.0).backward();
  EXPECT_TRUE(allclose(x3.grad(), x1.grad() * 3.0, 1e-17, 1e-14));
}

TEST(MnistLossFused, GradcheckF64) {
  // finite differences (central, f64) against the backward rule, a [B, 1] batch and another shape
  const Tensor t = tensor({{1.0}, {0.0}, {1.0}, {1.0}, {0.0}}, DType::f64);
  const Fn fused = [&](const std::vector<Tensor>& in) { return nn::mnist_loss(in[0], t); };
  EXPECT_TRUE(gradcheck(fused, {random_f64({5, 1}, 7, -3, 3)}));
  const Tensor t23 = tensor({{0.0, 1.0, 1.0}, {1.0, 0.0, 0.0}}, DType::f64);
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return nn::mnist_loss(in[0], t23); },
                        {random_f64({2, 3}, 8, -4, 4)}));
}

TEST(MnistLossFused, StridedPredictions) {
  // a transposed view is read in its logical order
  const Batch b = random_batch({3, 2}, 5, DType::f32);
  const Tensor t = random_batch({2, 3}, 6, DType::f32).t;
  Tensor xf = b.x.clone().requires_grad_(), xr = b.x.clone().requires_grad_();
  const Tensor fused = nn::mnist_loss(xf.t(), t), ref = nn::mnist_loss_reference(xr.t(), t);
  EXPECT_TRUE(allclose(fused, ref, 1e-9, 1e-6));
  fused.backward();
  ref.backward();
  EXPECT_EQ(xf.grad().shape(), (Shape{3, 2}));
  EXPECT_TRUE(allclose(xf.grad(), xr.grad(), 1e-9, 1e-6));
}

TEST(MnistLossFused, TargetsGetNoGradient) {
  // as in the composite, where the targets only feed where()'s condition
  const Batch b = random_batch({4, 1}, 3, DType::f64);
  Tensor xf = b.x.clone().requires_grad_(), xr = b.x.clone().requires_grad_();
  Tensor tf = b.t.clone().requires_grad_(), tr = b.t.clone().requires_grad_();
  nn::mnist_loss(xf, tf).backward();
  nn::mnist_loss_reference(xr, tr).backward();
  EXPECT_FALSE(tf.grad().defined());
  EXPECT_FALSE(tr.grad().defined());
  EXPECT_TRUE(allclose(xf.grad(), xr.grad(), 1e-17, 1e-13));
  // and with only the targets requiring grad, neither result requires grad
  EXPECT_FALSE(nn::mnist_loss(b.x, tf).requires_grad());
  EXPECT_FALSE(nn::mnist_loss_reference(b.x, tr).requires_grad());
}

TEST(MnistLossFused, ErrorsNameTheOpAndShapes) {
  expect_error([] { nn::mnist_loss(zeros({4, 1}), zeros({4})); }, {"mnist_loss", "[4, 1]", "[4]"});
  expect_error(
      [] {
        nn::mnist_loss_reference(zeros({4, 1}), zeros({4}));
      },
      {"mnist_loss", "[4, 1]", "[4]"});
  expect_error(
      [] {
        nn::mnist_loss(tensor({1, 2}), tensor({1, 0}));
      },
      {"mnist_loss", "predictions", "f32 or f64", "i64"});
  // an empty batch has no mean: both throw (the reference from its mean)
  expect_error(
      [] {
        nn::mnist_loss(zeros({0, 1}), zeros({0, 1}));
      },
      {"mnist_loss", "empty", "[0, 1]"});
  expect_error([] { nn::mnist_loss_reference(zeros({0, 1}), zeros({0, 1})); }, {"empty"});
}
