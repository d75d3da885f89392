// Losses against values worked out by hand, the fused ops against their composites, and
// finite-difference gradient checks in f64.
#include <gtest/gtest.h>

#include <cmath>

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
}

TEST(MnistLoss, ChapterExampleOnProbabilities) {
  // The chapter applies where() straight to [0.9, 0.4, 0.2], which are already probabilities:
  // (1 - 0.9) + 0.4 + (1 - 0.2) = 1.3, / 3 = 0.4333; with 0.8 for 0.2: 0.1 + 0.4 + 0.2 = 0.7,
  // / 3 = 0.2333. Tested here through mnist_loss_from_probs (the where() half) ...
  const Tensor targets = tensor({1, 0, 1});
  EXPECT_NEAR(nn::mnist_loss_from_probs(tensor({0.9f, 0.4f, 0.2f}), targets).item<double>(),
              1.3 / 3, 1e-6);
  EXPECT_NEAR(nn::mnist_loss_from_probs(tensor({0.9f, 0.4f, 0.8f}), targets).item<double>(),
              0.7 / 3, 1e-6);
  // ... and through mnist_loss itself, fed logit(p) = log(p / (1 - p)) so its sigmoid gives p back
  auto logit = [](double p) { return static_cast<float>(std::log(p / (1 - p))); };
  EXPECT_NEAR(nn::mnist_loss(tensor({logit(0.9), logit(0.4), logit(0.2)}), targets).item<double>(),
              1.3 / 3, 1e-6);
  EXPECT_NEAR(nn::mnist_loss(tensor({logit(0.9), logit(0.4), logit(0.8)}), targets).item<double>(),
              0.7 / 3, 1e-6);
}

TEST(MnistLoss, ShapesMustMatchAndGradient) {
  expect_error([] { nn::mnist_loss(zeros({4, 1}), zeros({4})); }, {"[4, 1]", "[4]"});
  const Tensor t = tensor({{1.0}, {0.0}, {1.0}}, DType::f64);
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return nn::mnist_loss(in[0], t); },
                        {random_f64({3, 1}, 5, -2, 2)}));
}

TEST(Losses, MseAndL1ByHand) {
  const Tensor pred = tensor({1.0f, 2.0f, 3.0f});
  const Tensor target = tensor({2.0f, 2.0f, 5.0f});
  EXPECT_NEAR(nn::mse_loss(pred, target).item<double>(), (1.0 + 0.0 + 4.0) / 3, 1e-6);
  EXPECT_NEAR(nn::l1_loss(pred, target).item<double>(), (1.0 + 0.0 + 2.0) / 3, 1e-6);
  expect_error([] { nn::mse_loss(zeros({3}), zeros({3, 1})); }, {"mse_loss", "[3]", "[3, 1]"});
  expect_error([] { nn::l1_loss(zeros({2}), zeros({3})); }, {"l1_loss"});
  const Tensor t = random_f64({2, 3}, 9);
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return nn::mse_loss(in[0], t); },
                        {random_f64({2, 3}, 4)}));
  // |x - t| away from its kink: predictions kept 0.5 above the targets' range
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return nn::l1_loss(in[0], t); },
                        {random_f64({2, 3}, 4, 1.5, 3.0)}));
}

TEST(BinaryCrossEntropy, AgainstNaiveFormula) {
  const std::vector<double> x = {-3.0, -0.5, 0.0, 0.7, 2.5, 4.0};
  const std::vector<double> t = {0.0, 1.0, 1.0, 0.0, 1.0, 0.3};
  double naive = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double p = 1.0 / (1.0 + std::exp(-x[i]));
    naive += -(t[i] * std::log(p) + (1 - t[i]) * std::log(1 - p));
  }
  naive /= static_cast<double>(x.size());
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor xs = from_vector(x, {6}).to(dt), ts = from_vector(t, {6}).to(dt);
    EXPECT_NEAR(nn::binary_cross_entropy_with_logits(xs, ts).item<double>(), naive, 1e-6);
    EXPECT_NEAR(nn::binary_cross_entropy_with_logits_reference(xs, ts).item<double>(), naive, 1e-6);
  }
}

TEST(BinaryCrossEntropy, StableForLargeLogits) {
  // the naive formula gives log(0) here; the loss is the logit's size
  const Tensor x = tensor({100.0f, -100.0f});
  const Tensor t = tensor({0.0f, 1.0f});
  EXPECT_NEAR(nn::binary_cross_entropy_with_logits(x, t).item<double>(), 100.0, 1e-4);
  // integer targets are accepted
  EXPECT_NEAR(nn::binary_cross_entropy_with_logits(x, tensor({0, 1})).item<double>(), 100.0, 1e-4);
}

TEST(BinaryCrossEntropy, GradientsFusedAndReference) {
  const Tensor t = tensor({{1.0, 0.0}, {0.25, 1.0}}, DType::f64);
  const Fn fused = [&](const std::vector<Tensor>& in) {
    return nn::binary_cross_entropy_with_logits(in[0], t);
  };
  const Fn ref = [&](const std::vector<Tensor>& in) {
    return nn::binary_cross_entropy_with_logits_reference(in[0], t);
  };
  const Tensor x = random_f64({2, 2}, 3, -3, 3);
  EXPECT_TRUE(gradcheck(fused, {x}));
  EXPECT_TRUE(gradcheck(ref, {x}));
  // gradient with respect to the targets too
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return nn::binary_cross_entropy_with_logits(in[0], in[1]);
      },
      {x, random_f64({2, 2}, 8, 0, 1)}));
  // exactly at x = 0 the fused gradient is sigmoid(0) - t = 0.5 - t (per element, / N)
  Tensor z = zeros({2}, DType::f64).requires_grad_();
  nn::binary_cross_entropy_with_logits(z, tensor({1.0, 0.0}, DType::f64)).backward();
  EXPECT_TRUE(allclose(z.grad(), tensor({-0.25, 0.25}, DType::f64)));
}

TEST(CrossEntropy, TwoByThreeByHand) {
  // row 0: logits [1, 2, 3], label 2: -log(e^3 / (e^1 + e^2 + e^3))
  // row 1: logits [1, 0, -1], label 0: -log(e^1 / (e^1 + e^0 + e^-1))
  const double r0 = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  const double r1 = -std::log(std::exp(1.0) / (std::exp(1.0) + std::exp(0.0) + std::exp(-1.0)));
  const Tensor logits = tensor({{1.0f, 2.0f, 3.0f}, {1.0f, 0.0f, -1.0f}});
  const Tensor labels = tensor({2, 0});
  EXPECT_NEAR(nn::cross_entropy(logits, labels).item<double>(), (r0 + r1) / 2, 1e-6);
  EXPECT_NEAR(nn::cross_entropy_reference(logits, labels).item<double>(), (r0 + r1) / 2, 1e-6);
  // the gradient by hand: (softmax - one_hot) / B
  Tensor x = logits.to(DType::f64).requires_grad_();
  nn::cross_entropy(x, labels).backward();
  const double s0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const double s1 = std::exp(1.0) + std::exp(0.0) + std::exp(-1.0);
  const Tensor expected =
      tensor({{std::exp(1.0) / s0 / 2, std::exp(2.0) / s0 / 2, (std::exp(3.0) / s0 - 1) / 2},
              {(std::exp(1.0) / s1 - 1) / 2, std::exp(0.0) / s1 / 2, std::exp(-1.0) / s1 / 2}},
             DType::f64);
  EXPECT_TRUE(allclose(x.grad(), expected, 1e-12, 1e-10));
}

TEST(CrossEntropy, FusedAgreesWithComposite) {
  Generator gen(4);
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor logits = randn({16, 10}, gen, dt) * 3.0;
    const Tensor labels = randint(0, 10, {16}, gen);
    Tensor a = logits.clone().requires_grad_(), b = logits.clone().requires_grad_();
    const Tensor la = nn::cross_entropy(a, labels), lb = nn::cross_entropy_reference(b, labels);
    EXPECT_TRUE(allclose(la, lb, 1e-5, 1e-5));
    la.backward();
    lb.backward();
    EXPECT_TRUE(allclose(a.grad(), b.grad(), 1e-6, 1e-5));
  }
  const Tensor labels = tensor({3, 0, 2, 3});
  EXPECT_TRUE(
      gradcheck([&](const std::vector<Tensor>& in) { return nn::cross_entropy(in[0], labels); },
                {random_f64({4, 4}, 2, -3, 3)}));
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& in) { return nn::cross_entropy_reference(in[0], labels); },
      {random_f64({4, 4}, 2, -3, 3)}));
}

TEST(CrossEntropy, StableAndChecked) {
  // huge logits: the max is subtracted first, so no overflow
  const Tensor logits = tensor({{1000.0f, 0.0f}, {0.0f, -1000.0f}});
  EXPECT_NEAR(nn::cross_entropy(logits, tensor({0, 1})).item<double>(), 500.0, 1e-3);
  expect_error([&] { nn::cross_entropy(logits, tensor({0, 2})); }, {"label 2", "2 classes"});
  expect_error([&] { nn::cross_entropy(logits, tensor({-1, 0})); }, {"label -1"});
  expect_error([&] { nn::cross_entropy_reference(logits, tensor({0, 5})); }, {"label 5"});
  expect_error([&] { nn::cross_entropy(logits, tensor({0.0f, 1.0f})); }, {"integers"});
  expect_error([&] { nn::cross_entropy(logits, tensor({0, 1, 1})); }, {"[3]"});
  expect_error([&] { nn::cross_entropy(zeros({2}), tensor({0, 1})); }, {"[B, C]"});
}

TEST(Metrics, BatchAccuracyAndAccuracy) {
  // sigmoid > 0.5 means logit > 0: predictions [1, 0, 1, 0] against [1, 1, 0, 0]: 2 of 4 right
  const Tensor logits = tensor({{2.0f}, {-1.0f}, {0.5f}, {-3.0f}});
  const Tensor targets = tensor({{1.0f}, {1.0f}, {0.0f}, {0.0f}});
  const Tensor acc = nn::batch_accuracy(logits, targets);
  EXPECT_EQ(acc.dtype(), DType::f32);
  EXPECT_EQ(acc.rank(), 0);
  EXPECT_NEAR(acc.item<double>(), 0.5, 1e-7);
  EXPECT_NEAR(nn::batch_accuracy(logits.reshape({4}), tensor({1, 0, 1, 0})).item<double>(), 1.0,
              1e-7);
  expect_error([&] { nn::batch_accuracy(logits, zeros({3, 1})); }, {"batch_accuracy"});
  // argmax [1, 0, 2] against [1, 0, 1]: 2 of 3
  const Tensor scores = tensor({{1.0f, 2.0f, 0.0f}, {3.0f, 1.0f, 0.0f}, {0.0f, 0.0f, 5.0f}});
  EXPECT_NEAR(nn::accuracy(scores, tensor({1, 0, 1})).item<double>(), 2.0 / 3, 1e-6);
  expect_error([&] { nn::accuracy(scores, tensor({1, 0})); }, {"accuracy"});
}
