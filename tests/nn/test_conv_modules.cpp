// Conv2d, pooling layers, BatchNorm2d, Dropout and ResBlock: PyTorch's names, shapes and default
// initialisation, train/eval behaviour, and a small CNN whose loss falls.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ember/nn/conv.hpp"
#include "ember/nn/layers.hpp"
#include "ember/ops/conv.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;

namespace {
std::vector<std::string> names(const nn::NamedTensors& t) {
  std::vector<std::string> out;
  for (const auto& [n, v] : t) out.push_back(n);
  return out;
}
}  // namespace

TEST(Conv2dModule, NamesShapesAndInit) {
  Generator gen(1);
  nn::Conv2d conv(6, 8, {3, 5}, gen, {1, 1}, {1, 2}, {1, 1}, 2);
  EXPECT_EQ(names(conv.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(conv.weight.shape(), (Shape{8, 3, 3, 5}));
  EXPECT_EQ(conv.bias.shape(), (Shape{8}));
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 6/2 * 3 * 5 = 45
  const double bound = 1.0 / std::sqrt(45.0);
  double wmax = 0, bmax = 0;
  for (double v : conv.weight.to_vector<double>()) wmax = std::max(wmax, std::abs(v));
  for (double v : conv.bias.to_vector<double>()) bmax = std::max(bmax, std::abs(v));
  EXPECT_LE(wmax, bound);
  EXPECT_GT(wmax, 0.8 * bound);  // 360 draws fill the range
  EXPECT_LE(bmax, bound);
  Tensor x = ember::testing::random_f64({2, 6, 7, 9}, 3).to(f32);
  EXPECT_TRUE(
      allclose(conv(x), conv2d(x, conv.weight, conv.bias, {1, 1}, {1, 2}, {1, 1}, 2), 0, 0));
  EXPECT_EQ(conv(x).shape(), (Shape{2, 8, 7, 9}));
  EXPECT_EQ(conv.repr(),
            "Conv2d(6, 8, kernel_size=(3, 5), stride=(1, 1), padding=(1, 2), groups=2)");
  nn::Conv2d nobias(1, 2, {3, 3}, gen, {1, 1}, {0, 0}, {1, 1}, 1, false);
  EXPECT_EQ(names(nobias.named_parameters()), (std::vector<std::string>{"weight"}));
  EXPECT_THROW(nn::Conv2d(3, 4, {3, 3}, gen, {1, 1}, {0, 0}, {1, 1}, 2), Error);
}

TEST(BatchNorm2dModule, BuffersTrainAndEval) {
  nn::BatchNorm2d bn(3);
  EXPECT_EQ(names(bn.state_dict()),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                      "num_batches_tracked"}));
  EXPECT_EQ(names(bn.named_buffers()),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), i64);
  Tensor x = ember::testing::random_f64({4, 3, 5, 5}, 4, 1.0, 3.0).to(f32);
  Tensor y = bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 1);
  // training output: zero mean per channel; running mean moved a tenth of the way to ~2
  EXPECT_NEAR(y.mean().item<double>(), 0.0, 1e-5);
  for (double m : bn.running_mean.to_vector<double>()) EXPECT_NEAR(m, 0.2, 0.02);
  bn.eval();
  Tensor e = bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 1);  // eval does not count
  EXPECT_TRUE(
      allclose(e, batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, false), 0, 0));
  EXPECT_THROW(bn(zeros({4, 2, 5, 5})), Error);
}

TEST(DropoutModule, EvalIsIdentityAndSeeded) {
  Generator g1(5), g2(5);
  nn::Dropout a(0.5, g1), b(0.5, g2);
  Tensor x = ones({64});
  EXPECT_EQ(a(x).to_vector<float>(), b(x).to_vector<float>());
  a.eval();
  EXPECT_EQ(a(x).impl_ptr(), x.impl_ptr());
}

TEST(ResBlockModule, NamesShapesAndTraining) {
  Generator gen(2);
  nn::ResBlock same(4, 4, gen);
  EXPECT_EQ(names(same.named_parameters()),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                      "bn2.weight", "bn2.bias"}));
  nn::ResBlock down(4, 8, gen, 2);
  const auto n = names(down.state_dict());
  EXPECT_NE(std::find(n.begin(), n.end(), "downsample.0.weight"), n.end());
  EXPECT_NE(std::find(n.begin(), n.end(), "downsample.1.running_var"), n.end());
  Tensor x = ember::testing::random_f64({2, 4, 7, 7}, 5).to(f32);
  EXPECT_EQ(same(x).shape(), (Shape{2, 4, 7, 7}));
  EXPECT_EQ(down(x).shape(), (Shape{2, 8, 4, 4}));
}

TEST(CnnModules, SmallCnnLossFalls) {
  // a few SGD steps of conv-relu-pool-conv-relu-pool-linear on a fixed random batch
  Generator gen(3);
  nn::Sequential model{
      nn::make_conv2d(1, 4, {3, 3}, gen, {1, 1}, {1, 1}),
      nn::make_relu(),
      nn::make_max_pool2d({2, 2}),
      std::make_shared<nn::Conv2d>(4, 8, nn::Pair{3, 3}, gen, nn::Pair{1, 1}, nn::Pair{1, 1}),
      nn::make_batch_norm2d(8),
      nn::make_relu(),
      std::make_shared<nn::AdaptiveAvgPool2d>(nn::Pair{2, 2}),
      nn::make_flatten(),
      nn::make_linear(32, 1, gen)};
  Tensor x = randn({16, 1, 8, 8}, gen), target = randn({16, 1}, gen);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss = ((model(x) - target).pow(2)).mean();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    model.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : model.parameters()) p.sub_(p.grad(), 0.05);
  }
  EXPECT_LT(last, 0.7 * first);
}

TEST(Sequential, ReluThenMaxPoolKeepsTheWrittenOrder) {
  // A ReLU followed by a MaxPool2d must give max_pool(relu(x)), values and gradients, bit for bit:
  // the reference is the explicit ops in the written order. Running the pool first would be the
  // same but for a NaN (the pool lets it win, ReLU makes it 0), so the input holds one, and an
  // infinity; and small integers (many ties, zeros and all-negative windows) or Gaussian values.
  struct Case {
    nn::Pair kernel, stride, padding;
  };
  for (const Case& c :
       {Case{{2, 2}, {0, 0}, {0, 0}}, Case{{3, 3}, {1, 1}, {1, 1}}, Case{{3, 2}, {2, 1}, {1, 0}}}) {
    for (const bool integers : {true, false}) {
      Generator gen(11);
      Tensor x0 = randn({3, 2, 7, 6}, gen);
      if (integers) x0 = floor(x0 * 1.5 + 0.5);
      x0[0][0][1][1].fill_(std::nan(""));  // beside larger values in its window
      x0[1][1][2][3].fill_(std::numeric_limits<double>::infinity());
      Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
      nn::Sequential model{nn::make_relu(),
                           std::make_shared<nn::MaxPool2d>(c.kernel, c.stride, c.padding)};
      const Tensor y1 = model(x1);
      const Tensor y2 = max_pool2d(relu(x2), c.kernel, c.stride, c.padding);
      ASSERT_EQ(y1.shape(), y2.shape());
      EXPECT_EQ(y1.to_vector<float>(), y2.to_vector<float>());
      const Tensor w = randn(y1.shape(), gen);
      (y1 * w).sum().backward();
      (y2 * w).sum().backward();
      EXPECT_EQ(x1.grad().to_vector<float>(), x2.grad().to_vector<float>())
          << "kernel " << c.kernel[0] << "x" << c.kernel[1]
          << (integers ? " integers" : " gaussian");
    }
  }
}
