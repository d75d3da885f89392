// Linear, the activations, Flatten and Sequential.
#include "ember/nn/layers.hpp"

#include <cmath>
#include <typeinfo>

#include "ember/nn/conv.hpp"
#include "ember/nn/init.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/ops/linalg.hpp"

namespace ember::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen, bool has_bias,
               DType dtype)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features <= 0 || out_features <= 0) {
    throw Error("Linear: in_features and out_features must be positive, got " +
                std::to_string(in_features) + " and " + std::to_string(out_features));
  }
  if (!is_floating(dtype)) throw Error("Linear: dtype must be f32 or f64");
  // PyTorch's reset_parameters(): kaiming_uniform(a = sqrt(5)) for the weight, whose bound is
  // 1/sqrt(in); the same bound for the bias.
  Tensor w = empty({out_features, in_features}, dtype);
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  weight = register_parameter("weight", w);
  if (has_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    Tensor b = empty({out_features}, dtype);
    init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }
Tensor Linear::forward_relu(const Tensor& x) { return linear_relu(x, weight, bias); }

std::string Linear::repr() const {
  return "Linear(in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) +
         ", bias=" + (bias.defined() ? "true" : "false") + ")";
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim_, end_dim_); }

std::string Flatten::repr() const {
  return "Flatten(start_dim=" + std::to_string(start_dim_) +
         ", end_dim=" + std::to_string(end_dim_) + ")";
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(size()), std::move(m));
}

std::shared_ptr<Module> Sequential::operator[](std::size_t i) const {
  if (i >= size()) {
    throw Error("Sequential: index " + std::to_string(i) + " out of range for " +
                std::to_string(size()) + " modules");
  }
  return children()[i].second;
}

// A Conv2d followed by a 2x2 MaxPool2d, with or without a ReLU between them, runs as the fused
// conv2d_max_pool2x2, which never stores the convolution's full output: the same values and
// input and weight gradients as running the children one by one (the bias gradient within
// rounding). A Linear followed by a ReLU runs as the fused linear_relu, and a BatchNorm2d
// followed by a ReLU as batch_norm_relu: the same values and gradients. Only the library classes
// themselves are matched, never a subclass with a forward of its own.
namespace {
template <class M>
M* exactly(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& kids,
           std::size_t i) {
  if (i >= kids.size() || typeid(*kids[i].second) != typeid(M)) return nullptr;
  return static_cast<M*>(kids[i].second.get());
}

// Where child i is an M followed by a ReLU: h = M's fused forward_relu(h), and true.
template <class M>
bool with_relu(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& kids,
               std::size_t i, Tensor& h) {
  auto* m = exactly<M>(kids, i);
  if (m == nullptr || exactly<ReLU>(kids, i + 1) == nullptr) return false;
  h = m->forward_relu(h);
  return true;
}
}  // namespace

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& kids = children();
  for (std::size_t i = 0; i < kids.size(); ++i) {
    if (auto* conv = exactly<Conv2d>(kids, i)) {
      auto* relu_mod = exactly<ReLU>(kids, i + 1);
      auto* pool = exactly<MaxPool2d>(kids, relu_mod != nullptr ? i + 2 : i + 1);
      if (pool != nullptr && pool->is_2x2()) {
        h = conv->forward_max_pool2x2(h, relu_mod != nullptr);
        i += relu_mod != nullptr ? 2 : 1;
        continue;
      }
    }
    if (with_relu<Linear>(kids, i, h) || with_relu<BatchNorm2d>(kids, i, h)) {
      ++i;  // the ReLU ran inside
      continue;
    }
    h = kids[i].second->forward(h);
  }
  return h;
}

std::shared_ptr<Linear> make_linear(std::int64_t in_features, std::int64_t out_features,
                                    Generator& gen, bool bias, DType dtype) {
  return std::make_shared<Linear>(in_features, out_features, gen, bias, dtype);
}
std::shared_ptr<ReLU> make_relu() { return std::make_shared<ReLU>(); }
std::shared_ptr<Sigmoid> make_sigmoid() { return std::make_shared<Sigmoid>(); }
std::shared_ptr<Tanh> make_tanh() { return std::make_shared<Tanh>(); }
std::shared_ptr<Flatten> make_flatten(std::int64_t start_dim, std::int64_t end_dim) {
  return std::make_shared<Flatten>(start_dim, end_dim);
}
std::shared_ptr<Identity> make_identity() { return std::make_shared<Identity>(); }
std::shared_ptr<Sequential> make_sequential(
    std::initializer_list<std::shared_ptr<Module>> modules) {
  return std::make_shared<Sequential>(modules);
}

}  // namespace ember::nn
