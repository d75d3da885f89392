#pragma once
// The row-sparse path's kernel body (SparseRowKernel in gemm.hpp), one source for every vector
// width as gemm_micro.hpp is: gemm_avx2.cpp instantiates it for AVX2 (32-column blocks in four
// ymm accumulators, and the AVX-512 geometry as pairs of ymm registers, for tests) and
// gemm_avx512.cpp for AVX-512 (64-column blocks in four zmm accumulators). Include it inside the
// file's `#pragma GCC target` region, after fma_avx2.hpp or fma_avx512.hpp.
//
// One row of C's block: per nonzero of the row's A, one broadcast and NV loads and FMAs into NV
// independent accumulators (at four, as many as the FMA latency needs to issue one a cycle). On an
// AVX-512 CPU a nonzero's four zmm FMAs do twice the columns of the AVX2 kernel's four ymm ones.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/vectors.hpp"

namespace ember::kernels {
namespace {  // each target file its own copy

// c[0:w] (w <= NV * lanes) of one row of C, as SparseRowKernel (gemm.hpp), from a block packed
// kStride columns wide (kStride >= NV * lanes: a narrow block's columns in the first vectors of
// wider packed rows).
template <class V, class Fma, int64_t NV, int64_t kStride>
void sparse_row_columns(int64_t n, const int32_t* kidx, const float* vals, const float* bp,
                        int64_t kc, bool accumulate, const float* bias, bool relu, float* c,
                        int64_t w) {
  constexpr int64_t kLanes = sizeof(V) / sizeof(float), kWidth = NV * kLanes;
  alignas(64) float edge[kWidth];  // C's w < kWidth columns (and the bias's), padded
  const bool whole = w == kWidth;
  const auto load = [&](const float* src, V v[NV]) {
    const float* from = src;
    if (!whole) {
      std::memcpy(edge, src, sizeof(float) * static_cast<size_t>(w));
      std::fill(edge + w, edge + kWidth, 0.0f);
      from = edge;
    }
#pragma GCC unroll 8
    for (int64_t j = 0; j < NV; ++j) std::memcpy(&v[j], from + j * kLanes, sizeof(V));
  };
  V total[NV];
  if (accumulate) {
    load(c, total);
  } else {
#pragma GCC unroll 8
    for (int64_t j = 0; j < NV; ++j) total[j] = V{};
  }
  // each kc slice from zero, added to the total in order (the tiled path's sums)
  for (int64_t t = 0; t < n;) {
    const int64_t end = (kidx[t] / kc + 1) * kc;
    V acc[NV];
#pragma GCC unroll 8
    for (int64_t j = 0; j < NV; ++j) acc[j] = V{};
    for (; t < n && kidx[t] < end; ++t) {
      const float* b = bp + int64_t{kidx[t]} * kStride;
      const float a = vals[t];
#pragma GCC unroll 8
      for (int64_t j = 0; j < NV; ++j) {
        V bv;
        std::memcpy(&bv, b + j * kLanes, sizeof(V));
        Fma::madd(acc[j], a, bv);
      }
    }
#pragma GCC unroll 8
    for (int64_t j = 0; j < NV; ++j) total[j] += acc[j];
  }
  if (bias != nullptr) {
    V b[NV];
    load(bias, b);
#pragma GCC unroll 8
    for (int64_t j = 0; j < NV; ++j) total[j] += b[j];
  }
  if (relu)
#pragma GCC unroll 8
    for (int64_t j = 0; j < NV; ++j) total[j] = total[j] > 0.0f ? total[j] : V{};  // NaN: 0
  float* out = whole ? c : edge;
#pragma GCC unroll 8
  for (int64_t j = 0; j < NV; ++j) std::memcpy(out + j * kLanes, &total[j], sizeof(V));
  if (!whole) std::memcpy(c, edge, sizeof(float) * static_cast<size_t>(w));
}

// The kernel for blocks of NV vectors; a last block of at most half of them runs on half as many
// accumulators (a 30-column product in a 64-column block would otherwise do twice the FMAs).
template <class V, class Fma, int64_t NV>
void sparse_row(int64_t n, const int32_t* kidx, const float* vals, const float* bp, int64_t kc,
                bool accumulate, const float* bias, bool relu, float* c, int64_t w) {
  constexpr int64_t kStride = NV * int64_t{sizeof(V) / sizeof(float)};
  if constexpr (NV % 2 == 0) {
    if (2 * w <= kStride) {
      sparse_row_columns<V, Fma, NV / 2, kStride>(n, kidx, vals, bp, kc, accumulate, bias, relu, c,
                                                  w);
      return;
    }
  }
  sparse_row_columns<V, Fma, NV, kStride>(n, kidx, vals, bp, kc, accumulate, bias, relu, c, w);
}

}  // namespace
}  // namespace ember::kernels
