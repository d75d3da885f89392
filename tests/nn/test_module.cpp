// nn::Module and the layers: names as PyTorch gives them, initialisation bounds, Linear's forward
// against loops, zero_grad, train/eval, state_dict loading and its errors, repr.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/nn/nn.hpp"
#include "io/test_files.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::expect_error;

namespace {

std::vector<std::string> names_of(const nn::NamedTensors& list) {
  std::vector<std::string> out;
  for (const auto& [n, t] : list) out.push_back(n);
  return out;
}

std::shared_ptr<nn::Sequential> simple_net(Generator& gen) {
  return nn::make_sequential(
      {nn::make_linear(784, 30, gen), nn::make_relu(), nn::make_linear(30, 1, gen)});
}

// A module with a parameter and a buffer, as BatchNorm will have.
class Scale : public nn::Module {
 public:
  explicit Scale(std::int64_t n) {
    weight = register_parameter("weight", ones({n}));
    running_mean = register_buffer("running_mean", zeros({n}));
  }
  Tensor forward(const Tensor& x) override { return x * weight; }
  std::string type_name() const override { return "Scale"; }
  Tensor weight, running_mean;
  using Module::register_buffer;
  using Module::register_parameter;
};

}  // namespace

// Sequential runs a Linear followed by a ReLU as the fused linear_relu: the same outputs and
// parameter gradients, to the bit, as running the children one by one.
TEST(Module, SequentialFusesLinearReluWithSameResults) {
  Generator gen(5);
  auto net = simple_net(gen);
  const Tensor x = rand({64, 784}, gen), t = rand({64, 1}, gen);
  const Tensor fused = net->forward(x);
  ((fused - t) * (fused - t)).mean().backward();
  std::vector<Tensor> fused_grads;
  for (const Tensor& p : net->parameters()) fused_grads.push_back(p.grad().clone());
  net->zero_grad();
  Tensor h = x;
  for (std::size_t i = 0; i < net->size(); ++i) h = (*(*net)[i])(h);
  ((h - t) * (h - t)).mean().backward();
  EXPECT_TRUE(allclose(fused, h, 0.0, 0.0));
  const auto params = net->parameters();
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(allclose(fused_grads[i], params[i].grad(), 0.0, 0.0)) << "parameter " << i;
}

// Likewise a BatchNorm2d followed by a ReLU (batch_norm_relu), inside a conv stem as the app's
// resnet has it, in training (batch statistics, running ones updated) and in eval.
TEST(Module, SequentialFusesBatchNormReluWithSameResults) {
  for (const bool training : {true, false}) {
    Generator gen(6);
    auto net = nn::make_sequential({nn::make_conv2d(1, 4, {3, 3}, gen, {1, 1}, {1, 1}),
                                    nn::make_batch_norm2d(4), nn::make_relu(),
                                    nn::make_max_pool2d({2, 2}), nn::make_flatten()});
    net->train(training);
    const Tensor x = rand({8, 1, 10, 10}, gen), t = rand({8, 100}, gen);
    auto* bn = dynamic_cast<nn::BatchNorm2d*>((*net)[1].get());
    ASSERT_NE(bn, nullptr);
    const Tensor mean0 = bn->running_mean.clone(), var0 = bn->running_var.clone();
    const Tensor fused = net->forward(x);
    ((fused - t) * (fused - t)).mean().backward();
    std::vector<Tensor> fused_grads;
    for (const Tensor& p : net->parameters()) fused_grads.push_back(p.grad().clone());
    const Tensor mean1 = bn->running_mean.clone(), var1 = bn->running_var.clone();
    net->zero_grad();
    bn->running_mean.copy_(mean0);
    bn->running_var.copy_(var0);
    Tensor h = x;
    for (std::size_t i = 0; i < net->size(); ++i) h = (*(*net)[i])(h);
    ((h - t) * (h - t)).mean().backward();
    EXPECT_TRUE(allclose(fused, h, 0.0, 0.0)) << training;
    EXPECT_TRUE(allclose(mean1, bn->running_mean, 0.0, 0.0)) << training;
    EXPECT_TRUE(allclose(var1, bn->running_var, 0.0, 0.0)) << training;
    const auto params = net->parameters();
    for (std::size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(allclose(fused_grads[i], params[i].grad(), 0.0, 0.0))
          << "parameter " << i << ", training " << training;
  }
}

TEST(Module, SequentialNamesMatchPyTorch) {
  Generator gen(0);
  auto net = simple_net(gen);
  EXPECT_EQ(names_of(net->named_parameters()),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  const auto params = net->parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].shape(), (Shape{30, 784}));
  EXPECT_EQ(params[1].shape(), (Shape{30}));
  EXPECT_EQ(params[2].shape(), (Shape{1, 30}));
  EXPECT_EQ(params[3].shape(), (Shape{1}));
  for (const Tensor& p : params) EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(net->size(), 3u);
  EXPECT_TRUE(net->named_buffers().empty());
}

TEST(Module, BuffersAndStateDictOrder) {
  Generator gen(0);
  auto net = nn::make_sequential({nn::make_linear(3, 2, gen), std::make_shared<Scale>(2)});
  EXPECT_EQ(names_of(net->named_buffers()), (std::vector<std::string>{"1.running_mean"}));
  // PyTorch's order: each module's parameters, then its buffers, then its children
  EXPECT_EQ(names_of(net->state_dict()),
            (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.running_mean"}));
  EXPECT_EQ(net->parameters().size(), 3u);
  EXPECT_FALSE(net->state_dict()[3].second.requires_grad());
}

TEST(Module, DuplicateOrDottedNamesThrow) {
  Scale s(2);
  expect_error([&] { s.register_parameter("weight", ones({2})); }, {"weight", "already used"});
  expect_error([&] { s.register_buffer("a.b", ones({2})); }, {"a.b"});
  expect_error([&] { s.register_parameter("ints", ones({2}, DType::i64)); }, {"ints", "f32"});
}

TEST(Linear, InitialisationBounds) {
  Generator gen(7);
  nn::Linear lin(100, 50, gen);
  const double bound = 1.0 / std::sqrt(100.0);  // PyTorch: U(-1/sqrt(in), 1/sqrt(in))
  double wmax = 0, wsum = 0;
  for (double v : lin.weight.to_vector<double>()) {
    EXPECT_LE(std::abs(v), bound);
    wmax = std::max(wmax, std::abs(v));
    wsum += v;
  }
  for (double v : lin.bias.to_vector<double>()) EXPECT_LE(std::abs(v), bound);
  // 5000 uniform draws fill the range (max close to the bound) around 0
  EXPECT_GT(wmax, 0.98 * bound);
  EXPECT_LT(std::abs(wsum / 5000.0), 0.01);
  EXPECT_EQ(lin.weight.shape(), (Shape{50, 100}));
  EXPECT_EQ(lin.bias.shape(), (Shape{50}));
  EXPECT_EQ(lin.weight.dtype(), DType::f32);
  // the same seed gives the same weights
  Generator gen2(7);
  nn::Linear again(100, 50, gen2);
  EXPECT_TRUE(allclose(again.weight, lin.weight, 0, 0));
  nn::Linear no_bias(4, 2, gen, false);
  EXPECT_FALSE(no_bias.bias.defined());
  EXPECT_EQ(no_bias.parameters().size(), 1u);
}

TEST(Linear, ForwardIsXTimesWTransposedPlusB) {
  Generator gen(1);
  nn::Linear lin(3, 2, gen);
  const Tensor x = tensor({{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f, 0.0f}});
  const auto w = lin.weight.to_vector<double>();  // [2, 3]
  const auto b = lin.bias.to_vector<double>();
  std::vector<double> expected;
  const auto xv = x.to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int o = 0; o < 2; ++o) {
      double acc = b[static_cast<std::size_t>(o)];
      for (int k = 0; k < 3; ++k)
        acc += xv[static_cast<std::size_t>(i * 3 + k)] * w[static_cast<std::size_t>(o * 3 + k)];
      expected.push_back(acc);
    }
  EXPECT_TRUE(allclose(lin(x), from_vector(expected, {2, 2}).to(DType::f32), 1e-6, 1e-6));
}

TEST(Linear, GradientsInF64) {
  Generator gen(3);
  auto lin = nn::make_linear(4, 3, gen, true, DType::f64);
  const Tensor x = ember::testing::random_f64({5, 4}, 11);
  EXPECT_TRUE(ember::testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
      {x, lin->weight.detach(), lin->bias.detach()}));
}

TEST(Module, ZeroGradDropsGradients) {
  Generator gen(0);
  auto net = simple_net(gen);
  Tensor x = ones({2, 784});
  (*net)(x).sum().backward();
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
  net->zero_grad();
  for (const Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, TrainEvalPropagates) {
  Generator gen(0);
  auto inner = nn::make_sequential({nn::make_linear(2, 2, gen)});
  auto net = nn::make_sequential({inner, nn::make_relu()});
  EXPECT_TRUE(net->is_training());
  net->eval();
  EXPECT_FALSE(net->is_training());
  EXPECT_FALSE(inner->is_training());
  EXPECT_FALSE((*inner)[0]->is_training());
  EXPECT_FALSE((*net)[1]->is_training());
  net->train();
  EXPECT_TRUE((*inner)[0]->is_training());
}

TEST(Module, LoadStateDictCopiesValues) {
  Generator g1(1), g2(2);
  auto a = simple_net(g1);
  auto b = simple_net(g2);
  auto lin = std::dynamic_pointer_cast<nn::Linear>((*b)[0]);
  ASSERT_TRUE(lin);
  b->load_state_dict(a->state_dict());
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(allclose(b->parameters()[i], a->parameters()[i], 0, 0));
  }
  // the layer's members still are its parameters (values copied in, not handles replaced)
  EXPECT_TRUE(allclose(lin->weight, a->parameters()[0], 0, 0));
  EXPECT_EQ(lin->weight.impl_ptr(), b->parameters()[0].impl_ptr());
  // a map works too, and f64 values are converted
  std::map<std::string, Tensor> m;
  for (const auto& [n, t] : a->state_dict()) m[n] = zeros(t.shape(), DType::f64);
  b->load_state_dict(m);
  EXPECT_EQ(lin->weight.dtype(), DType::f32);
  EXPECT_EQ(lin->weight.sum().item<double>(), 0.0);
}

TEST(Module, LoadStateDictErrors) {
  Generator gen(1);
  auto net = simple_net(gen);
  const Tensor before = net->parameters()[0].clone();
  auto state = net->state_dict();
  // shape mismatch: names the tensor and both shapes
  auto bad_shape = state;
  bad_shape[0].second = zeros({30, 784});  // fits
  bad_shape[2].second = zeros({1, 29});    // does not
  expect_error([&] { net->load_state_dict(bad_shape); }, {"2.weight", "[1, 30]", "[1, 29]"});
  // every tensor is checked before any is copied: 0.weight did not become zeros
  EXPECT_TRUE(allclose(net->parameters()[0], before, 0, 0));
  // missing
  auto missing = state;
  missing.pop_back();
  expect_error([&] { net->load_state_dict(missing); }, {"missing", "2.bias"});
  // unexpected
  auto extra = state;
  extra.emplace_back("3.weight", zeros({1, 1}));
  expect_error([&] { net->load_state_dict(extra); }, {"unexpected", "3.weight"});
  // not strict: missing and unexpected are allowed, shapes still checked
  EXPECT_NO_THROW(net->load_state_dict(missing, false));
  EXPECT_NO_THROW(net->load_state_dict(extra, false));
  expect_error([&] { net->load_state_dict(bad_shape, false); }, {"2.weight"});
  // twice the same name
  auto twice = state;
  twice.push_back(state[0]);
  expect_error([&] { net->load_state_dict(twice); }, {"0.weight", "twice"});
}

TEST(Module, Repr) {
  Generator gen(0);
  auto net = nn::make_sequential(
      {nn::make_flatten(), nn::make_linear(784, 30, gen), nn::make_relu(),
       nn::make_sequential({nn::make_linear(30, 1, gen, false), nn::make_sigmoid()})});
  EXPECT_EQ(net->repr(),
            "Sequential(\n"
            "  (0): Flatten(start_dim=1, end_dim=-1)\n"
            "  (1): Linear(in_features=784, out_features=30, bias=true)\n"
            "  (2): ReLU()\n"
            "  (3): Sequential(\n"
            "    (0): Linear(in_features=30, out_features=1, bias=false)\n"
            "    (1): Sigmoid()\n"
            "  )\n"
            ")");
}

TEST(Layers, ActivationsAndFlatten) {
  const Tensor x = tensor({{-1.0f, 0.0f}, {2.0f, -3.0f}});
  EXPECT_EQ(nn::ReLU()(x).to_vector<float>(), (std::vector<float>{0, 0, 2, 0}));
  EXPECT_NEAR(nn::Sigmoid()(x).to_vector<double>()[0], 1.0 / (1.0 + std::exp(1.0)), 1e-7);
  EXPECT_NEAR(nn::Tanh()(x).to_vector<double>()[2], std::tanh(2.0), 1e-6);
  EXPECT_EQ(nn::Identity()(x).to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(nn::Flatten()(zeros({4, 1, 28, 28})).shape(), (Shape{4, 784}));
  Generator gen(0);
  auto net = simple_net(gen);
  EXPECT_EQ((*net)(zeros({5, 784})).shape(), (Shape{5, 1}));
  expect_error([&] { (*net)[3]; }, {"index 3"});
}
