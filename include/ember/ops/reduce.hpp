#pragma once
// Reductions over any list of axes (negative axes count from the end; no axes = all), with
// keepdim. sum of an integer tensor is i64; mean of an integer tensor is f32.
#include "ember/core/tensor.hpp"

namespace ember {

Tensor sum(const Tensor& t, const Axes& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& t, const Axes& axes = {}, bool keepdim = false);
// The gradient of max/min is shared equally among tied maxima (as PyTorch's full reduction).
Tensor max(const Tensor& t, const Axes& axes = {}, bool keepdim = false);
Tensor min(const Tensor& t, const Axes& axes = {}, bool keepdim = false);
// Index (i64) of the first maximum along `axis`.
Tensor argmax(const Tensor& t, std::int64_t axis = -1, bool keepdim = false);
Tensor argmin(const Tensor& t, std::int64_t axis = -1, bool keepdim = false);
// t: [..., C, ...] -> same shape; computed stably (max subtracted).
Tensor softmax(const Tensor& t, std::int64_t axis);
Tensor log_softmax(const Tensor& t, std::int64_t axis);
// Sums t down to `shape` (the shape it was broadcast from): the gradient of broadcasting.
Tensor sum_to(const Tensor& t, const Shape& shape);

}  // namespace ember
