// The Optimizer base: parameter checks, zero_grad, learning rate and the state's "lr" entry.
#include <cmath>
#include <map>

#include "ember/ops/elementwise.hpp"
#include "ember/optim/optim.hpp"
#include "optim/state_util.hpp"

namespace ember::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
  set_lr(lr);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined()) throw Error("optimizer: parameter " + std::to_string(i) + " is undefined");
    if (!is_floating(p.dtype()) || !p.is_contiguous()) {
      throw Error("optimizer: parameter " + std::to_string(i) + " (" +
                  std::string(dtype_name(p.dtype())) + " " + shape_str(p.shape()) +
                  ") must be a contiguous f32 or f64 tensor");
    }
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr)) {
    throw Error("optimizer: learning rate must be a finite number >= 0, got " + std::to_string(lr));
  }
  lr_ = lr;
}

Tensor Optimizer::grad_of(const Tensor& p) {
  Tensor g = p.grad();
  if (!g.defined()) return g;
  if (g.shape() != p.shape()) {
    throw Error("optimizer: gradient " + shape_str(g.shape()) + " does not match parameter " +
                shape_str(p.shape()));
  }
  if (g.dtype() != p.dtype()) g = g.to(p.dtype());
  return g.contiguous();
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state_dict() const {
  return {{"lr", scalar(lr_, DType::f64)}};
}

void Optimizer::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  for (const auto& [name, t] : state) {
    if (name == "lr") set_lr(t.item<double>());
  }
}

namespace detail {

std::vector<Tensor> load_buffers(const std::vector<std::pair<std::string, Tensor>>& state,
                                 const std::string& suffix, const std::vector<Tensor>& params) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  std::vector<Tensor> out(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto it = by_name.find(std::to_string(i) + "." + suffix);
    if (it == by_name.end()) continue;
    if (it->second.shape() != params[i].shape()) {
      throw Error("optimizer: load_state_dict: " + it->first + " is " +
                  shape_str(it->second.shape()) + ", its parameter " +
                  shape_str(params[i].shape()));
    }
    out[i] = it->second.to(params[i].dtype()).clone();
  }
  return out;
}

void save_buffers(const std::vector<Tensor>& bufs, const std::string& suffix,
                  std::vector<std::pair<std::string, Tensor>>& out) {
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    if (bufs[i].defined()) out.emplace_back(std::to_string(i) + "." + suffix, bufs[i].clone());
  }
}

}  // namespace detail

}  // namespace ember::optim
