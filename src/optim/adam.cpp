// Adam and AdamW: the update loop on raw pointers, bias-corrected as torch.optim.Adam.
#include <cmath>
#include <map>

#include "ember/core/graph.hpp"
#include "ember/optim/optim.hpp"
#include "optim/state_util.hpp"

namespace ember::optim {

namespace {

// p, g, m, v: n values; step: this parameter's step number (1 on its first update).
//   decoupled: p *= 1 - lr * wd, and g unchanged; else g += wd * p (L2)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
template <class T>
void adam_update(T* p, const T* g, T* m, T* v, std::int64_t n, double lr, double b1, double b2,
                 double eps, double wd, bool decoupled, std::int64_t step) {
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(step));
  const T step_size = static_cast<T>(lr / bc1);
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2));
  const T tb1 = static_cast<T>(b1), tb2 = static_cast<T>(b2);
  const T ob1 = static_cast<T>(1.0 - b1), ob2 = static_cast<T>(1.0 - b2);
  const T teps = static_cast<T>(eps);
  const T l2 = decoupled ? T(0) : static_cast<T>(wd);
  const T shrink = decoupled ? static_cast<T>(1.0 - lr * wd) : T(1);
  for (std::int64_t i = 0; i < n; ++i) {
    const T pi = p[i] * shrink;
    const T gi = g[i] + l2 * p[i];
    const T mi = tb1 * m[i] + ob1 * gi;
    const T vi = tb2 * v[i] + ob2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + teps);
  }
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps,
           double weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, false) {}

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps,
           double weight_decay, bool decoupled)
    : Optimizer(std::move(params), lr),
      beta1_(0.9),
      beta2_(0.999),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_(decoupled) {
  set_betas(beta1, beta2);
  if (!(eps >= 0)) throw Error("Adam: eps must be >= 0, got " + std::to_string(eps));
  if (!(weight_decay >= 0)) {
    throw Error("Adam: weight_decay must be >= 0, got " + std::to_string(weight_decay));
  }
  m_.resize(this->params().size());
  v_.resize(this->params().size());
  steps_.assign(this->params().size(), 0);
}

void Adam::set_betas(double beta1, double beta2) {
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    throw Error("Adam: betas must be in [0, 1), got " + std::to_string(beta1) + " and " +
                std::to_string(beta2));
  }
  beta1_ = beta1;
  beta2_ = beta2;
}

void Adam::step() {
  NoGradGuard no_grad;
  const auto& ps = params();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    Tensor p = ps[i];
    const Tensor g = grad_of(p);
    if (!g.defined()) continue;
    if (!m_[i].defined()) {
      m_[i] = zeros(p.shape(), p.dtype());
      v_[i] = zeros(p.shape(), p.dtype());
    }
    const std::int64_t step = ++steps_[i];
    dispatch_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        T* pd = p.data_ptr<T>();
        const T* gd = g.data_ptr<T>();
        T* md = m_[i].data_ptr<T>();
        T* vd = v_[i].data_ptr<T>();
        detail::for_elements(p.numel(), [&](std::int64_t lo, std::int64_t hi) {
          adam_update<T>(pd + lo, gd + lo, md + lo, vd + lo, hi - lo, lr(), beta1_, beta2_, eps_,
                         weight_decay_, decoupled_, step);
        });
      }
    });
  }
}

std::vector<std::pair<std::string, Tensor>> Adam::state_dict() const {
  auto out = Optimizer::state_dict();
  detail::save_buffers(m_, "exp_avg", out);
  detail::save_buffers(v_, "exp_avg_sq", out);
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i] > 0) out.emplace_back(std::to_string(i) + ".step", scalar(steps_[i], DType::i64));
  }
  return out;
}

void Adam::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  auto m = detail::load_buffers(state, "exp_avg", params());
  auto v = detail::load_buffers(state, "exp_avg_sq", params());
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  std::vector<std::int64_t> steps(params().size(), 0);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    auto it = by_name.find(std::to_string(i) + ".step");
    if (it != by_name.end()) steps[i] = it->second.item<std::int64_t>();
    if ((steps[i] > 0) != (m[i].defined() && v[i].defined())) {
      throw Error("Adam: load_state_dict: parameter " + std::to_string(i) +
                  " has an incomplete state (step, exp_avg and exp_avg_sq go together)");
    }
  }
  Optimizer::load_state_dict(state);
  m_ = std::move(m);
  v_ = std::move(v);
  steps_ = std::move(steps);
}

AdamW::AdamW(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps,
             double weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, true) {}

}  // namespace ember::optim
