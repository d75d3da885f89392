#pragma once
// Loops over N operands that share one shape, each with its own element strides (0 where an
// operand is broadcast). Adjacent axes that every operand walks contiguously are merged first, so
// most loops become one flat run. Raw pointers and sizes only: no Tensor, no autograd.
#include <array>
#include <cstdint>
#include <vector>

namespace ember::kernels {

template <int N>
struct StridedLayout {
  std::vector<std::int64_t> shape;                   // merged shape, outermost first
  std::array<std::vector<std::int64_t>, N> strides;  // per operand, per merged axis
};

// Merges axes where, for every operand, stride[d] == stride[d+1] * shape[d+1]; drops size-1 axes.
template <int N>
StridedLayout<N> coalesce(const std::vector<std::int64_t>& shape,
                          const std::array<const std::int64_t*, N>& strides) {
  StridedLayout<N> out;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!out.shape.empty()) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k) {
        if (out.strides[k].back() != strides[k][d] * shape[d]) mergeable = false;
      }
      if (mergeable) {
        out.shape.back() *= shape[d];
        for (int k = 0; k < N; ++k) out.strides[k].back() = strides[k][d];
        continue;
      }
    }
    out.shape.push_back(shape[d]);
    for (int k = 0; k < N; ++k) out.strides[k].push_back(strides[k][d]);
  }
  if (out.shape.empty()) {  // a scalar, or all sizes 1
    out.shape.push_back(1);
    for (int k = 0; k < N; ++k) out.strides[k].push_back(0);
  }
  return out;
}

// Calls fn(offsets, n, inner_strides) for every run along the innermost merged axis, where
// offsets[k] is operand k's element offset at the run's start.
template <int N, class Fn>
void strided_for_each(const StridedLayout<N>& layout, Fn&& fn) {
  const int rank = static_cast<int>(layout.shape.size());
  const std::int64_t inner = layout.shape[rank - 1];
  std::array<std::int64_t, N> inner_strides;
  for (int k = 0; k < N; ++k) inner_strides[k] = layout.strides[k][rank - 1];
  std::int64_t outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= layout.shape[d];
  std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
  std::array<std::int64_t, N> offsets{};
  for (std::int64_t o = 0; o < outer; ++o) {
    fn(offsets, inner, inner_strides);
    // advance the outer index (odometer), updating offsets incrementally
    for (int d = rank - 2; d >= 0; --d) {
      if (++index[d] < layout.shape[d]) {
        for (int k = 0; k < N; ++k) offsets[k] += layout.strides[k][d];
        break;
      }
      index[d] = 0;
      for (int k = 0; k < N; ++k) offsets[k] -= layout.strides[k][d] * (layout.shape[d] - 1);
    }
  }
}

}  // namespace ember::kernels
