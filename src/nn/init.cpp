// Parameter initialisation in place, as torch.nn.init.
#include "ember/nn/init.hpp"

#include <cmath>

#include "ember/core/graph.hpp"

namespace ember::nn::init {

namespace {
void require_weight(const Tensor& w, const char* what) {
  if (w.rank() < 2) {
    throw Error(std::string(what) + ": needs a weight of at least 2 axes, got " +
                shape_str(w.shape()));
  }
}
std::int64_t receptive_field(const Tensor& w) {
  std::int64_t r = 1;
  for (std::int64_t i = 2; i < w.rank(); ++i) r *= w.size(i);
  return r;
}
}  // namespace

std::int64_t fan_in(const Tensor& weight) {
  require_weight(weight, "fan_in");
  return weight.size(1) * receptive_field(weight);
}

std::int64_t fan_out(const Tensor& weight) {
  require_weight(weight, "fan_out");
  return weight.size(0) * receptive_field(weight);
}

Tensor& uniform_(Tensor& t, double low, double high, Generator& gen) {
  NoGradGuard no_grad;
  t.copy_(uniform(t.shape(), low, high, gen, t.dtype()));
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  NoGradGuard no_grad;
  Tensor r = randn(t.shape(), gen, DType::f64);
  r.mul_(std);
  r.add_(scalar(mean, DType::f64));
  t.copy_(r);
  return t;
}

Tensor& zeros_(Tensor& t) {
  NoGradGuard no_grad;
  t.zero_();
  return t;
}

Tensor& ones_(Tensor& t) {
  NoGradGuard no_grad;
  t.fill_(1.0);
  return t;
}

Tensor& kaiming_uniform_(Tensor& t, double a, Generator& gen) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in(t)));
  return uniform_(t, -bound, bound, gen);
}

Tensor& xavier_uniform_(Tensor& t, Generator& gen) {
  const double bound = std::sqrt(6.0 / static_cast<double>(fan_in(t) + fan_out(t)));
  return uniform_(t, -bound, bound, gen);
}

}  // namespace ember::nn::init
