#pragma once
// The layers of the chapter: Linear, the activations, Flatten, Identity, and Sequential to chain
// them. Each forward states its shapes.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "ember/core/random.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

// y = x @ weight.T + bias (the fused ember::linear op).
// PyTorch's default initialisation: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)), the bound that
// kaiming_uniform with a = sqrt(5) gives for the weight.
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen, bool bias = true,
         DType dtype = DType::f32);
  // x: [..., in] -> [..., out]
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as the fused ember::linear_relu (what Sequential runs for a Linear followed
  // by a ReLU): the same values and gradients. x: [..., in] -> [..., out]
  Tensor forward_relu(const Tensor& x);
  std::string repr() const override;
  std::string type_name() const override { return "Linear"; }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias

 private:
  std::int64_t in_features_, out_features_;
};

// max(x, 0), element by element. x: [...] -> [...]
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

// 1 / (1 + exp(-x)). x: [...] -> [...]
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sigmoid"; }
};

// tanh(x). x: [...] -> [...]
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Tanh"; }
};

// Merges axes start_dim..end_dim into one. x: [B, 1, 28, 28] -> [B, 784] with the defaults.
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string repr() const override;
  std::string type_name() const override { return "Flatten"; }

 private:
  std::int64_t start_dim_, end_dim_;
};

// Returns its input. x: [...] -> [...]
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

// Runs its children in order, each on the previous one's output. Children are named "0", "1", ...
// Some runs of children run as one fused op, with the same values and gradients as the children
// one by one: Conv2d [ReLU] MaxPool2d(2) (conv2d_max_pool2x2), Linear ReLU (linear_relu) and
// BatchNorm2d ReLU (batch_norm_relu); only the library classes themselves are matched.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  std::size_t size() const { return children().size(); }
  std::shared_ptr<Module> operator[](std::size_t i) const;
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
};

// ---- factories (std::make_shared spelled shorter) ----
std::shared_ptr<Linear> make_linear(std::int64_t in_features, std::int64_t out_features,
                                    Generator& gen, bool bias = true, DType dtype = DType::f32);
std::shared_ptr<ReLU> make_relu();
std::shared_ptr<Sigmoid> make_sigmoid();
std::shared_ptr<Tanh> make_tanh();
std::shared_ptr<Flatten> make_flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1);
std::shared_ptr<Identity> make_identity();
std::shared_ptr<Sequential> make_sequential(std::initializer_list<std::shared_ptr<Module>> modules);

}  // namespace ember::nn
