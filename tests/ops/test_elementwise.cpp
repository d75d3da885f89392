// Element-wise ops: values, broadcasting (a table of shapes that work and shapes that throw),
// type promotion, and finite-difference gradient checks in f64 for every differentiable op.
#include <gtest/gtest.h>

#include <cmath>

#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::gradcheck;
using ember::testing::random_f64;

TEST(Elementwise, Arithmetic) {
  Tensor a = tensor({1.0, 2.0, 3.0});
  Tensor b = tensor({4.0, 5.0, 6.0});
  EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ((a - b).to_vector<float>(), (std::vector<float>{-3, -3, -3}));
  EXPECT_EQ((a * b).to_vector<float>(), (std::vector<float>{4, 10, 18}));
  EXPECT_EQ((b / a).to_vector<float>(), (std::vector<float>{4, 2.5, 2}));
  EXPECT_EQ((-a).to_vector<float>(), (std::vector<float>{-1, -2, -3}));
  EXPECT_EQ((1 - a).to_vector<float>(), (std::vector<float>{0, -1, -2}));
  EXPECT_EQ((a * 2).to_vector<float>(), (std::vector<float>{2, 4, 6}));
  EXPECT_EQ((6.0 / a).to_vector<float>(), (std::vector<float>{6, 3, 2}));
}

TEST(Elementwise, UnaryValues) {
  Tensor x = tensor({-2.0, -0.5, 0.0, 0.5, 2.0});
  EXPECT_EQ(relu(x).to_vector<float>(), (std::vector<float>{0, 0, 0, 0.5, 2}));
  EXPECT_EQ(abs(x).to_vector<float>(), (std::vector<float>{2, 0.5, 0, 0.5, 2}));
  EXPECT_EQ(floor(x).to_vector<float>(), (std::vector<float>{-2, -1, 0, 0, 2}));
  EXPECT_EQ(clamp(x, -1, 1).to_vector<float>(), (std::vector<float>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_FLOAT_EQ(sigmoid(x).to_vector<float>()[2], 0.5f);
  EXPECT_FLOAT_EQ(sigmoid(x).to_vector<float>()[4], static_cast<float>(1 / (1 + std::exp(-2.0))));
  EXPECT_FLOAT_EQ(exp(x).to_vector<float>()[4], static_cast<float>(std::exp(2.0)));
  EXPECT_FLOAT_EQ(tanh(x).to_vector<float>()[0], static_cast<float>(std::tanh(-2.0)));
  EXPECT_FLOAT_EQ(sqrt(tensor({4.0})).item<float>(), 2.f);
  EXPECT_FLOAT_EQ(log(tensor({1.0})).item<float>(), 0.f);
  EXPECT_EQ(pow(tensor({3.0}), 2).item<float>(), 9.f);
  EXPECT_EQ(pow(tensor({2.0}), tensor({3.0})).item<float>(), 8.f);
}

TEST(Elementwise, ComparisonsGiveU8AndWhereSelects) {
  Tensor x = tensor({1, 5, 3});
  Tensor c = x > 2;
  EXPECT_EQ(c.dtype(), u8);
  EXPECT_EQ(c.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 1}));
  EXPECT_EQ((x == 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 1}));
  EXPECT_EQ((x != 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 1, 0}));
  EXPECT_EQ((x <= 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ((x >= 5).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ((x < 2).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 0}));
  Tensor w = where(c, x, tensor({10, 20, 30}));
  EXPECT_EQ(w.to_vector<std::int64_t>(), (std::vector<std::int64_t>{10, 5, 3}));
  // the chapter's mnist_loss pattern: where(target == 1, 1 - p, p)
  Tensor p = tensor({0.9, 0.4, 0.2});
  Tensor t = tensor({1, 0, 1});
  EXPECT_TRUE(allclose(where(t == 1, 1 - p, p), tensor({0.1, 0.4, 0.8}), 1e-6));
}

TEST(Elementwise, TypePromotion) {
  Tensor i = tensor({1, 2});
  Tensor f = tensor({0.5, 0.5});
  EXPECT_EQ((i + f).dtype(), f32);
  EXPECT_EQ((i + i).dtype(), i64);
  EXPECT_EQ((i / i).dtype(), f32);  // division always gives floats
  EXPECT_EQ((i / i).to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_EQ((i * 2.5).dtype(), f32);  // a float number beside integers gives f32
  EXPECT_EQ((i * 2).dtype(), i64);
  EXPECT_EQ((f * 2.0).dtype(), f32);  // a C++ double does not widen f32
  EXPECT_EQ((f + f.to(f64)).dtype(), f64);
  Tensor b = ones({2}, u8);
  EXPECT_EQ((b + i).dtype(), i64);
  EXPECT_EQ(b.mean().dtype(), f32);
  EXPECT_EQ(i.mean().dtype(), f32);
  EXPECT_EQ(exp(i).dtype(), f32);
}

struct BroadcastCase {
  Shape a, b, out;
};

TEST(Elementwise, BroadcastingTable) {
  const std::vector<BroadcastCase> ok = {
      {{}, {}, {}},
      {{3}, {}, {3}},
      {{}, {2, 3}, {2, 3}},
      {{2, 3}, {3}, {2, 3}},
      {{2, 3}, {1, 3}, {2, 3}},
      {{2, 1}, {1, 3}, {2, 3}},
      {{4, 1, 5}, {3, 1}, {4, 3, 5}},
      {{1010, 28, 28}, {28, 28}, {1010, 28, 28}},  // the chapter's mnist_distance
      {{1}, {5}, {5}},
      {{0, 3}, {3}, {0, 3}},
      {{2, 0}, {2, 1}, {2, 0}},
  };
  for (const auto& c : ok) {
    Tensor out = zeros(c.a) + ones(c.b);
    EXPECT_EQ(out.shape(), c.out) << shape_str(c.a) << " + " << shape_str(c.b);
    EXPECT_EQ(out.sum().item<double>(), static_cast<double>(shape_numel(c.out)));
  }
  const std::vector<std::pair<Shape, Shape>> bad = {
      {{3}, {4}}, {{2, 3}, {3, 2}}, {{2, 3}, {2}}, {{4, 3, 5}, {2, 5}}, {{0}, {2}}};
  for (const auto& [a, b] : bad) {
    try {
      (void)(zeros(a) + zeros(b));
      ADD_FAILURE() << shape_str(a) << " + " << shape_str(b) << " should throw";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("add"), std::string::npos) << msg;
      EXPECT_NE(msg.find(shape_str(a)), std::string::npos) << msg;
      EXPECT_NE(msg.find(shape_str(b)), std::string::npos) << msg;
    }
  }
}

TEST(Elementwise, BroadcastValuesOnStridedViews) {
  Tensor m = arange(6).reshape({2, 3}).t();  // [3, 2], not contiguous
  Tensor r = m + tensor({100, 200});
  EXPECT_EQ(r.to_vector<std::int64_t>(), (std::vector<std::int64_t>{100, 203, 101, 204, 102, 205}));
  Tensor col = tensor({{1}, {2}, {3}});
  EXPECT_EQ((m * col).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 3, 2, 8, 6, 15}));
}

TEST(ElementwiseGrad, KnownValues) {
  // d(x^2)/dx at 3 is 6
  Tensor x = tensor(3.0).requires_grad_();
  Tensor y = x.pow(2);
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 6.f);
  // d(sum(x^2))/dx at [3, 4, 10] is [6, 8, 20]
  Tensor v = tensor({3.0, 4.0, 10.0}).requires_grad_();
  (v.pow(2)).sum().backward();
  EXPECT_EQ(v.grad().to_vector<float>(), (std::vector<float>{6, 8, 20}));
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

TEST(ElementwiseGrad, FiniteDifferences) {
  const Tensor a = random_f64({3, 4}, 1);
  const Tensor b = random_f64({3, 4}, 2);
  const Tensor pos = random_f64({3, 4}, 3, 0.5, 2.0);
  const std::vector<std::pair<const char*, Fn>> unary = {
      {"neg", [](auto& x) { return -x[0]; }},
      {"exp", [](auto& x) { return exp(x[0]); }},
      {"sigmoid", [](auto& x) { return sigmoid(x[0]); }},
      {"tanh", [](auto& x) { return tanh(x[0]); }},
      {"relu", [](auto& x) { return relu(x[0]); }},
      {"abs", [](auto& x) { return abs(x[0]); }},
      {"pow3", [](auto& x) { return pow(x[0], 3.0); }},
      {"pow2", [](auto& x) { return pow(x[0], 2.0); }},
      {"clamp", [](auto& x) { return clamp(x[0], -0.5, 0.5); }},
      {"floor", [](auto& x) { return floor(x[0]); }},
      {"scalar ops", [](auto& x) { return 2.0 * x[0] - 1.0 + x[0] / 4.0; }},
  };
  for (const auto& [name, f] : unary) EXPECT_TRUE(gradcheck(f, {a})) << name;
  const std::vector<std::pair<const char*, Fn>> positive = {
      {"log", [](auto& x) { return log(x[0]); }},
      {"sqrt", [](auto& x) { return sqrt(x[0]); }},
      {"pow0.5", [](auto& x) { return pow(x[0], 0.5); }},
  };
  for (const auto& [name, f] : positive) EXPECT_TRUE(gradcheck(f, {pos})) << name;
  const std::vector<std::pair<const char*, Fn>> binary = {
      {"add", [](auto& x) { return x[0] + x[1]; }},
      {"sub", [](auto& x) { return x[0] - x[1]; }},
      {"mul", [](auto& x) { return x[0] * x[1]; }},
      {"maximum", [](auto& x) { return maximum(x[0], x[1]); }},
      {"minimum", [](auto& x) { return minimum(x[0], x[1]); }},
      {"where", [](auto& x) { return where(x[0] > x[1], x[0] * 2.0, x[1]); }},
  };
  for (const auto& [name, f] : binary) EXPECT_TRUE(gradcheck(f, {a, b})) << name;
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0] / x[1]; }, {a, pos})) << "div";
  EXPECT_TRUE(gradcheck([](auto& x) { return pow(x[0], x[1]); }, {pos, b})) << "pow tensor";
}

TEST(ElementwiseGrad, ThroughBroadcasting) {
  const Tensor a = random_f64({4, 1, 3}, 4);
  const Tensor b = random_f64({5, 1}, 5);
  const Tensor c = random_f64({3}, 6, 0.5, 1.5);
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0] + x[1]; }, {a, b}));
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0] * x[1] - x[2]; }, {a, b, c}));
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0] / x[1]; }, {a, c}));
  EXPECT_TRUE(gradcheck([](auto& x) { return where(x[1] > 0, x[0], x[2]); }, {a, b, c}));
  // the summed-back gradient has the input's shape
  Tensor w = ones({3}).requires_grad_();
  (ones({4, 3}) * w).sum().backward();
  EXPECT_EQ(w.grad().shape(), (Shape{3}));
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{4, 4, 4}));
}

TEST(ElementwiseGrad, KinksFollowPyTorch) {
  // PyTorch: relu'(0) = 0, |x|'(0) = 0, maximum splits ties evenly, where routes to one side
  Tensor x = tensor({0.0}).requires_grad_();
  relu(x).sum().backward();
  EXPECT_EQ(x.grad().item<float>(), 0.f);
  x.zero_grad();
  abs(x).sum().backward();
  EXPECT_EQ(x.grad().item<float>(), 0.f);
  Tensor a = tensor({1.0}).requires_grad_(), b = tensor({1.0}).requires_grad_();
  maximum(a, b).sum().backward();
  EXPECT_EQ(a.grad().item<float>(), 0.5f);
  EXPECT_EQ(b.grad().item<float>(), 0.5f);
}
