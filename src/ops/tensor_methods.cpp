// Tensor's op methods: thin forwards to the free functions in ember/ops.
#include "ember/core/tensor.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/ops/linalg.hpp"
#include "ember/ops/reduce.hpp"

namespace ember {

Tensor Tensor::sum(const Axes& axes, bool keepdim) const { return ember::sum(*this, axes, keepdim); }
Tensor Tensor::mean(const Axes& axes, bool keepdim) const { return ember::mean(*this, axes, keepdim); }
Tensor Tensor::max(const Axes& axes, bool keepdim) const { return ember::max(*this, axes, keepdim); }
Tensor Tensor::min(const Axes& axes, bool keepdim) const { return ember::min(*this, axes, keepdim); }
Tensor Tensor::argmax(std::int64_t axis, bool keepdim) const { return ember::argmax(*this, axis, keepdim); }
Tensor Tensor::softmax(std::int64_t axis) const { return ember::softmax(*this, axis); }
Tensor Tensor::log_softmax(std::int64_t axis) const { return ember::log_softmax(*this, axis); }
Tensor Tensor::matmul(const Tensor& other) const { return ember::matmul(*this, other); }
Tensor Tensor::pow(double e) const { return ember::pow(*this, e); }
Tensor Tensor::abs() const { return ember::abs(*this); }
Tensor Tensor::exp() const { return ember::exp(*this); }
Tensor Tensor::log() const { return ember::log(*this); }
Tensor Tensor::sqrt() const { return ember::sqrt(*this); }
Tensor Tensor::sigmoid() const { return ember::sigmoid(*this); }
Tensor Tensor::relu() const { return ember::relu(*this); }
Tensor Tensor::tanh() const { return ember::tanh(*this); }
Tensor Tensor::floor() const { return ember::floor(*this); }
Tensor Tensor::clamp(double lo, double hi) const { return ember::clamp(*this, lo, hi); }

}  // namespace ember
