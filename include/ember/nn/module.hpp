#pragma once
// nn::Module: the base of every layer and model, as PyTorch's torch.nn.Module. A module owns
// parameters (tensors that require gradients and that an optimizer updates), buffers (state that
// is saved but not trained, such as BatchNorm's running statistics) and child modules, each under
// a name. Names nest with dots, so the parameters of
//
//   auto model =
//   std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
//       nn::make_linear(784, 30, gen), nn::make_relu(), nn::make_linear(30, 1, gen)});
//
// are "0.weight", "0.bias", "2.weight", "2.bias": the names PyTorch's state_dict() gives the same
// torch.nn.Sequential, so weights saved by one load in the other.
//
// Modules are held by std::shared_ptr. Copying a module's parameter list copies tensor handles:
// an optimizer holding them updates the module's own weights.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/tensor.hpp"

namespace ember::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation. x: the layer's input -> its output.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Every parameter of this module and its children, depth first, in registration order.
  std::vector<Tensor> parameters() const;
  // The same with dotted names ("0.weight", "2.bias").
  NamedTensors named_parameters() const;
  // Buffers (saved state that is not trained), with dotted names ("1.running_mean").
  NamedTensors named_buffers() const;
  // Parameters and buffers in PyTorch's order: per module, its parameters, then its buffers, then
  // its children's. The tensors share data with the module (no copy).
  NamedTensors state_dict() const;

  // Copies values into this module's parameters and buffers (converting the dtype if needed).
  // A name the module lacks, a tensor of the module with no value given (both only when strict),
  // or a shape that differs (always) throws Error naming the tensor and both shapes. Nothing is
  // changed when it throws.
  void load_state_dict(const NamedTensors& state, bool strict = true);
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // Training mode (the default) or evaluation mode, for this module and all its children.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Drops the gradient of every parameter (as PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  // One line for a layer ("Linear(in_features=784, out_features=30, bias=true)"); a container
  // lists its children, one per line, indented, as PyTorch prints a model.
  virtual std::string repr() const;
  // The module's kind ("Linear", "Sequential"), used by the default repr().
  virtual std::string type_name() const { return "Module"; }

  // Writes state_dict() as a safetensors file (a temporary file then renamed onto `path`).
  void save(const std::string& path) const;
  // Reads a safetensors file into this module (load_state_dict, strict). Errors name the file
  // and the tensor.
  void load(const std::string& path);

  // The direct children, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }

 protected:
  // Adds a parameter: `t` is made to require gradients and is returned (the same tensor, so a
  // layer may keep it as a member: weight = register_parameter("weight", ...)).
  Tensor register_parameter(const std::string& name, Tensor t);
  // Adds a buffer (saved in state_dict, not trained).
  Tensor register_buffer(const std::string& name, Tensor t);
  // Adds a child module and returns it.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    if (!m) throw Error("register_module: module \"" + name + "\" is null");
    check_new_name(name, "register_module");
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;

  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace ember::nn
