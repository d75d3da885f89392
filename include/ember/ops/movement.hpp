#pragma once
// Shape and indexing ops. Views (reshape, slice, select, transpose, squeeze, unsqueeze, expand,
// permute) are methods of Tensor; these are the free-function forms and the ops that copy.
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember {

Tensor reshape(const Tensor& t, const Shape& shape);
Tensor flatten(const Tensor& t, std::int64_t start_axis = 0, std::int64_t end_axis = -1);
Tensor transpose(const Tensor& t, std::int64_t a, std::int64_t b);
Tensor permute(const Tensor& t, const Shape& order);
Tensor squeeze(const Tensor& t);
Tensor squeeze(const Tensor& t, std::int64_t axis);
Tensor unsqueeze(const Tensor& t, std::int64_t axis);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor slice(const Tensor& t, std::int64_t axis, std::int64_t start, std::int64_t end,
             std::int64_t step = 1);
Tensor select(const Tensor& t, std::int64_t axis, std::int64_t index);
Tensor contiguous(const Tensor& t);

// Joins tensors of one shape along a new axis.
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
// Joins tensors along an existing axis (the other sizes must agree).
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
// Picks the entries of t along `axis` at `index` (a 1-D integer tensor).
Tensor index_select(const Tensor& t, std::int64_t axis, const Tensor& index);
// labels: [N] integers in [0, num_classes) -> [N, num_classes] of `dtype`.
Tensor one_hot(const Tensor& labels, std::int64_t num_classes, DType dtype = DType::f32);

}  // namespace ember
