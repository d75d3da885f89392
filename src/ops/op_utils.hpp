#pragma once
// Helpers shared by the ops: broadcast strides, saved tensors, dtype checks.
#include <array>
#include <cstdint>
#include <string>

#include "ember/core/graph.hpp"
#include "ember/core/tensor.hpp"

namespace ember::ops_detail {

// Strides (in elements) that read `t` as if it had `out_shape` (0 on broadcast axes).
inline Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape st(out_shape.size(), 0);
  const std::size_t lead = out_shape.size() - t.shape().size();
  for (std::size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

// A view of `t` with `shape` and `strides` sharing its storage (no autograd).
inline Tensor make_view(const Tensor& t, const Shape& shape, const Shape& strides,
                        std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.impl().storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  return Tensor(impl);
}

inline void require_floating(const Tensor& t, const char* op) {
  if (!is_floating(t.dtype())) {
    throw Error(std::string(op) + ": expects a floating tensor (f32 or f64), got " +
                dtype_name(t.dtype()) + " of shape " + shape_str(t.shape()));
  }
}

// Floating version of t (integers become f32), for ops that only make sense on reals.
inline Tensor as_floating(const Tensor& t) { return is_floating(t.dtype()) ? t : t.to(DType::f32); }

// "(a, b)" for error messages about kernel sizes, strides and paddings.
inline std::string pair_str(std::array<std::int64_t, 2> a) {
  return "(" + std::to_string(a[0]) + ", " + std::to_string(a[1]) + ")";
}

// Calls fn(float{}) or fn(double{}) for a floating dtype.
template <class Fn>
void dispatch_real(DType dt, Fn&& fn) {
  if (dt == DType::f64) {
    fn(double{});
  } else {
    fn(float{});
  }
}

// The 2x2 max pool's backward (pool.cpp): dx [planes, H, W] (any leading shape, contiguous, the
// dtype of g) from the pooled gradient g [planes, H/2, W/2] (contiguous) and the forward's winner
// codes, planes split among threads.
void max_pool2d_2x2_backward_planes(const Tensor& g, const Tensor& code, int64_t planes, int64_t H,
                                    int64_t W, Tensor& dx);

// ReLU's backward (elementwise.cpp): where(out > 0, g, 0), out the ReLU's output. One pass split
// among threads where it can (g of out's dtype and shape, contiguous, not itself recorded), else
// the composite. relu's node and the fused ops whose output ends in a ReLU share it.
Tensor relu_backward(const Tensor& g, const Tensor& out);

}  // namespace ember::ops_detail
