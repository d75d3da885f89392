// SGD with momentum and weight decay: the update loop on raw pointers.
#include <cstring>

#include "ember/core/graph.hpp"
#include "ember/optim/optim.hpp"
#include "optim/state_util.hpp"

namespace ember::optim {

namespace {

// p, g, buf: n values. buf is null without momentum; `first` means buf holds nothing yet.
//   d = g + wd * p;  buf = first ? d : momentum * buf + d;  p -= lr * (buf or d)
template <class T>
void sgd_update(T* p, const T* g, T* buf, std::int64_t n, T lr, T momentum, T wd, bool first) {
  if (!buf) {
    if (wd == T(0)) {
      for (std::int64_t i = 0; i < n; ++i) p[i] -= lr * g[i];
    } else {
      for (std::int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    }
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = g[i] + wd * p[i];
    const T b = first ? d : momentum * buf[i] + d;
    buf[i] = b;
    p[i] -= lr * b;
  }
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay)
    : Optimizer(std::move(params), lr), momentum_(momentum), weight_decay_(weight_decay) {
  if (momentum < 0) throw Error("SGD: momentum must be >= 0, got " + std::to_string(momentum));
  if (weight_decay < 0) {
    throw Error("SGD: weight_decay must be >= 0, got " + std::to_string(weight_decay));
  }
  buf_.resize(this->params().size());
}

void SGD::step() {
  NoGradGuard no_grad;
  const auto& ps = params();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    Tensor p = ps[i];
    const Tensor g = grad_of(p);
    if (!g.defined()) continue;
    bool first = false;
    if (momentum_ != 0 && !buf_[i].defined()) {
      buf_[i] = empty(p.shape(), p.dtype());
      first = true;
    }
    dispatch_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        T* pd = p.data_ptr<T>();
        const T* gd = g.data_ptr<T>();
        T* bd = momentum_ != 0 ? buf_[i].data_ptr<T>() : nullptr;
        detail::for_elements(p.numel(), [&](std::int64_t lo, std::int64_t hi) {
          sgd_update<T>(pd + lo, gd + lo, bd ? bd + lo : nullptr, hi - lo, static_cast<T>(lr()),
                        static_cast<T>(momentum_), static_cast<T>(weight_decay_), first);
        });
      }
    });
  }
}

std::vector<std::pair<std::string, Tensor>> SGD::state_dict() const {
  auto out = Optimizer::state_dict();
  detail::save_buffers(buf_, "momentum_buffer", out);
  return out;
}

void SGD::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  auto bufs = detail::load_buffers(state, "momentum_buffer", params());
  Optimizer::load_state_dict(state);
  buf_ = std::move(bufs);
}

}  // namespace ember::optim
