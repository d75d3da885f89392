// Optimizers: single steps worked out by hand, and the chapter's BasicOptim against SGD.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/nn/nn.hpp"
#include "ember/optim/optim.hpp"
#include "io/test_files.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::expect_error;

namespace {

Tensor param(std::initializer_list<double> v, DType dt = DType::f64) {
  return tensor(v, dt).requires_grad_();
}

// The chapter's own optimizer: p -= p.grad * lr for each parameter.
class BasicOptim {
 public:
  BasicOptim(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {}
  void step() {
    NoGradGuard no_grad;
    for (Tensor& p : params_) p.sub_(p.grad() * lr_);
  }
  void zero_grad() {
    for (Tensor& p : params_) p.zero_grad();
  }

 private:
  std::vector<Tensor> params_;
  double lr_;
};

}  // namespace

TEST(SGD, OneStepByHand) {
  Tensor p = param({1.0, 2.0, 3.0});
  p.set_grad(tensor({0.5, -1.0, 2.0}, DType::f64));
  optim::SGD opt({p}, 0.1);
  opt.step();
  // p - lr * g = [1 - 0.05, 2 + 0.1, 3 - 0.2]
  EXPECT_TRUE(allclose(p, tensor({0.95, 2.1, 2.8}, DType::f64), 1e-15, 0));
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
  opt.step();  // no gradient: skipped
  EXPECT_TRUE(allclose(p, tensor({0.95, 2.1, 2.8}, DType::f64), 1e-15, 0));
}

TEST(SGD, MomentumTwoStepsByHand) {
  Tensor p = param({1.0, -1.0});
  optim::SGD opt({p}, 0.1, 0.9);
  // step 1: buf = g1 = [1, 2]; p = [1 - 0.1, -1 - 0.2] = [0.9, -1.2]
  p.set_grad(tensor({1.0, 2.0}, DType::f64));
  opt.step();
  EXPECT_TRUE(allclose(p, tensor({0.9, -1.2}, DType::f64), 1e-15, 1e-15));
  // step 2: buf = 0.9 [1, 2] + [0.5, -1] = [1.4, 0.8]; p = [0.9 - 0.14, -1.2 - 0.08]
  p.set_grad(tensor({0.5, -1.0}, DType::f64));
  opt.step();
  EXPECT_TRUE(allclose(p, tensor({0.76, -1.28}, DType::f64), 1e-15, 1e-14));
}

TEST(SGD, WeightDecay) {
  // g + wd p with zero gradients: [0.1, -0.2]; p - 0.5 * that = [0.95, -1.9]
  Tensor p = param({1.0, -2.0});
  p.set_grad(zeros({2}, DType::f64));
  optim::SGD opt({p}, 0.5, 0.0, 0.1);
  opt.step();
  EXPECT_TRUE(allclose(p, tensor({0.95, -1.9}, DType::f64), 1e-15, 1e-15));
}

TEST(SGD, SameAsTheChaptersBasicOptim) {
  Generator g1(3), g2(3), gd(4);
  auto a =
      nn::make_sequential({nn::make_linear(5, 4, g1), nn::make_relu(), nn::make_linear(4, 1, g1)});
  auto b =
      nn::make_sequential({nn::make_linear(5, 4, g2), nn::make_relu(), nn::make_linear(4, 1, g2)});
  const Tensor x = randn({16, 5}, gd);
  const Tensor y = rand({16, 1}, gd);
  BasicOptim basic(a->parameters(), 0.3);
  optim::SGD sgd(b->parameters(), 0.3);
  for (int step = 0; step < 5; ++step) {
    nn::mse_loss((*a)(x), y).backward();
    basic.step();
    basic.zero_grad();
    nn::mse_loss((*b)(x), y).backward();
    sgd.step();
    sgd.zero_grad();
  }
  for (std::size_t i = 0; i < 4; ++i) {
    // bit for bit: both compute p - lr * g in f32
    EXPECT_EQ(a->parameters()[i].to_vector<float>(), b->parameters()[i].to_vector<float>());
  }
  // and they did move
  Generator g3(3);
  nn::Linear fresh(5, 4, g3);
  EXPECT_FALSE(allclose(a->parameters()[0], fresh.weight, 1e-3, 0));
}

TEST(Adam, FirstStepMovesByLrTimesSign) {
  // m = 0.1 g, v = 0.001 g^2; bias-corrected m / sqrt(v) = g / |g|: each parameter moves by
  // lr * sign(g) (less a hair for eps)
  Tensor p = param({1.0, 2.0, -3.0});
  p.set_grad(tensor({0.5, -4.0, 1e-2}, DType::f64));
  optim::Adam opt({p}, 0.01);
  opt.step();
  EXPECT_TRUE(allclose(p, tensor({0.99, 2.01, -3.01}, DType::f64), 1e-7, 0));
  // second step with the same gradient: m / sqrt(v) is still g / |g| after bias correction
  p.set_grad(tensor({0.5, -4.0, 1e-2}, DType::f64));
  opt.step();
  EXPECT_TRUE(allclose(p, tensor({0.98, 2.02, -3.02}, DType::f64), 1e-6, 0));
}

TEST(Adam, SecondStepByHand) {
  // g1 = 1, g2 = -1, lr 0.1, betas 0.9, 0.999, eps 0:
  // m = 0.9 * 0.1 - 0.1 = -0.01; v = 0.999 * 0.001 + 0.001 = 0.001999
  // m^ = -0.01 / 0.19; v^ = 0.001999 / 0.001999 = 1 -> p2 = p1 + 0.1 * 0.01 / 0.19
  Tensor p = param({0.0});
  optim::Adam opt({p}, 0.1, 0.9, 0.999, 0.0);
  p.set_grad(tensor({1.0}, DType::f64));
  opt.step();
  EXPECT_NEAR(p.item<double>(), -0.1, 1e-12);
  p.set_grad(tensor({-1.0}, DType::f64));
  opt.step();
  EXPECT_NEAR(p.item<double>(), -0.1 + 0.1 * 0.01 / 0.19, 1e-12);
}

TEST(Adam, L2WeightDecayAndAdamWDecoupled) {
  // Adam's weight decay is added to the gradient: with g = 0 the gradient is wd * p, so the
  // first step moves each parameter by lr against its sign
  Tensor p = param({2.0, -4.0});
  p.set_grad(zeros({2}, DType::f64));
  optim::Adam adam({p}, 0.01, 0.9, 0.999, 1e-8, 0.1);
  adam.step();
  EXPECT_TRUE(allclose(p, tensor({1.99, -3.99}, DType::f64), 1e-7, 0));
  // AdamW shrinks p by 1 - lr * wd; with g = 0 the moments stay 0 and nothing else moves
  Tensor q = param({2.0, -4.0});
  q.set_grad(zeros({2}, DType::f64));
  optim::AdamW adamw({q}, 0.01, 0.9, 0.999, 1e-8, 0.1);
  adamw.step();
  EXPECT_TRUE(allclose(q, tensor({2.0 * 0.999, -4.0 * 0.999}, DType::f64), 1e-15, 1e-15));
  // the default weight decay of AdamW is 1e-2
  Tensor r = param({1.0});
  r.set_grad(zeros({1}, DType::f64));
  optim::AdamW def({r}, 0.1);
  def.step();
  EXPECT_NEAR(r.item<double>(), 1.0 - 0.1 * 1e-2, 1e-15);
}

TEST(Optimizer, F32ParamsAndSkippedOnes) {
  Tensor a = param({1.0, 1.0}, DType::f32), b = param({5.0}, DType::f32);
  a.set_grad(tensor({1.0f, -1.0f}));
  optim::Adam opt({a, b}, 0.5);
  opt.step();
  EXPECT_TRUE(allclose(a, tensor({0.5f, 1.5f}), 1e-6, 0));
  EXPECT_EQ(b.item<float>(), 5.0f);  // no gradient: untouched
  EXPECT_DOUBLE_EQ(opt.lr(), 0.5);
  opt.set_lr(0.25);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.25);
  expect_error([&] { opt.set_lr(-1); }, {"learning rate"});
  expect_error([] { optim::SGD({ones({2}, DType::i64)}, 0.1); }, {"parameter 0", "f32 or f64"});
  expect_error([] { optim::SGD({ones({2, 2}).t()}, 0.1); }, {"contiguous"});
}

TEST(Optimizer, StateDictRestoresMomentumAndAdamMoments) {
  for (int kind = 0; kind < 2; ++kind) {
    Tensor p = param({1.0, 2.0});
    std::unique_ptr<optim::Optimizer> opt;
    if (kind == 0)
      opt = std::make_unique<optim::SGD>(std::vector<Tensor>{p}, 0.1, 0.9);
    else
      opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, 0.1);
    p.set_grad(tensor({1.0, -1.0}, DType::f64));
    opt->step();
    const auto state = opt->state_dict();
    const Tensor saved = p.detach().clone();
    // two more steps, then go back and redo them: the same result
    p.set_grad(tensor({0.5, 0.5}, DType::f64));
    opt->step();
    const Tensor after = p.detach().clone();
    opt->set_lr(7.0);
    opt->load_state_dict(state);
    EXPECT_DOUBLE_EQ(opt->lr(), 0.1);
    {
      NoGradGuard no_grad;
      p.copy_(saved);
    }
    p.set_grad(tensor({0.5, 0.5}, DType::f64));
    opt->step();
    EXPECT_TRUE(allclose(p, after, 0, 0)) << "kind " << kind;
  }
}
