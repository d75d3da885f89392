// Reductions and softmax: values by hand, axes handling, errors, gradient checks.
#include <gtest/gtest.h>

#include <cmath>

#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::gradcheck;
using ember::testing::random_f64;

TEST(Reduce, SumMeanOverAxes) {
  Tensor t = arange(24).reshape({2, 3, 4});
  EXPECT_EQ(t.sum().item<std::int64_t>(), 276);  // 0 + ... + 23
  EXPECT_EQ(t.sum().dtype(), i64);
  EXPECT_EQ(t.sum(0).shape(), (Shape{3, 4}));
  EXPECT_EQ(t.sum(0).to_vector<std::int64_t>()[0], 0 + 12);
  EXPECT_EQ(t.sum({-1, -2}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{66, 210}));
  EXPECT_EQ(t.sum({0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(t.sum({0, 2}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{60, 92, 124}));
  Tensor m = t.mean({-1, -2});
  EXPECT_EQ(m.dtype(), f32);
  EXPECT_EQ(m.to_vector<float>(), (std::vector<float>{5.5f, 17.5f}));
  EXPECT_EQ(ember::mean(t, {-1, -2}).to_vector<float>(), m.to_vector<float>());
  EXPECT_THROW(t.sum(3), Error);
  EXPECT_THROW(t.sum({0, 0}), Error);
  // on a transposed view
  Tensor v = arange(6).reshape({2, 3}).t();
  EXPECT_EQ(v.sum(1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 5, 7}));
  EXPECT_EQ(v.sum(0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 12}));
}

TEST(Reduce, MaxMinArgmax) {
  Tensor t = tensor({{1.0, 7.0, 3.0}, {9.0, 2.0, 9.0}});
  EXPECT_EQ(t.max().item<float>(), 9.f);
  EXPECT_EQ(t.min().item<float>(), 1.f);
  EXPECT_EQ(t.max(1).to_vector<float>(), (std::vector<float>{7, 9}));
  EXPECT_EQ(t.min(0).to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(t.argmax(1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0}));  // first max
  EXPECT_EQ(t.argmax(0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(t.argmax(1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(argmin(t, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1}));
  EXPECT_THROW(zeros({0}).max(), Error);
}

TEST(Reduce, SoftmaxAndLogSoftmax) {
  Tensor x = tensor({{1.0, 2.0, 3.0}, {1000.0, 1000.0, 1000.0}});
  Tensor s = softmax(x, 1);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_TRUE(allclose(s[0], tensor({std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z}), 1e-6));
  EXPECT_TRUE(allclose(s[1], full({3}, 1.0 / 3.0), 1e-6));  // stable for large inputs
  Tensor ls = log_softmax(x, -1);
  EXPECT_TRUE(allclose(ls[0], tensor({1 - std::log(z), 2 - std::log(z), 3 - std::log(z)}), 1e-5));
  EXPECT_TRUE(allclose(softmax(x, 0).sum(0), ones({3}), 1e-6));
}

TEST(ReduceGrad, FiniteDifferences) {
  const Tensor a = random_f64({3, 4, 2}, 11);
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<const char*, Fn>> cases = {
      {"sum all", [](auto& x) { return x[0].sum(); }},
      {"sum axis", [](auto& x) { return x[0].sum(1); }},
      {"sum axes keepdim", [](auto& x) { return x[0].sum({0, 2}, true); }},
      {"mean", [](auto& x) { return x[0].mean({-1, -2}); }},
      {"max axis", [](auto& x) { return x[0].max(1); }},
      {"min all", [](auto& x) { return x[0].min(); }},
      {"softmax", [](auto& x) { return softmax(x[0], 1); }},
      {"log_softmax", [](auto& x) { return log_softmax(x[0], -1); }},
      {"log_softmax axis 0", [](auto& x) { return log_softmax(x[0], 0); }},
      {"sum_to", [](auto& x) { return sum_to(x[0], {4, 1}); }},
  };
  for (const auto& [name, f] : cases) EXPECT_TRUE(gradcheck(f, {a})) << name;
}

TEST(ReduceGrad, MaxSharesTiesEvenly) {
  // as PyTorch's full reduction max(): tied maxima share the gradient
  Tensor x = tensor({1.0, 3.0, 3.0}).requires_grad_();
  x.max().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 0.5, 0.5}));
}
