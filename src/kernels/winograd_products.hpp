#pragma once
// The Winograd products (winograd.cpp's M[p] = u[p] V[p], dV[p] = u[p]^T dM[p] and
// du[p] = dM[p] V[p]^T), straight on the V / M layout: one source for every vector width.
//
// As gemm_micro.hpp does for the sgemm tile, each per-ISA file includes this header inside its
// `#pragma GCC target` region and instantiates it with its vectors (GCC/Clang vector extensions)
// and its fused multiply-add (`Fma::madd(acc, a, b)`: acc = a * b + acc, one rounding, the scalar
// a broadcast to every lane):
//  - winograd_products_avx2.cpp: 32-byte vectors, 4 rows a block (12 ymm accumulators), and the
//    AVX-512 geometry (64-byte vectors, 8 rows) compiled for AVX2 as pairs of ymm registers, so
//    its logic is tested on CPUs without AVX-512;
//  - winograd_products_avx512.cpp: 64-byte vectors, 8 rows a block (24 zmm accumulators).
// Every element is one chain of fused multiply-adds from zero over k (or t) in order, whatever the
// blocking, so every geometry gives the same bits.
//
// The including file includes <algorithm>, <cstdint>, <cstring>, vectors.hpp and
// winograd_layout.hpp before its target pragma, so that nothing with external linkage is compiled
// for its instruction set, and its Fma (fma_avx2.hpp, fma_avx512.hpp) inside it.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/vectors.hpp"
#include "kernels/winograd_layout.hpp"

namespace ember::kernels::wino {
// Internal linkage: each per-ISA file gets its own copy (no AVX-512 instance merged into AVX2).
namespace {

template <class V>
constexpr int64_t kLanes = sizeof(V) / sizeof(float);

// acc[i][j] = sum_k a[i * ars + k * aks] * b[k * ldb + L * j + lane] for i < RB, j < VB, k < K:
// RB rows by VB vectors in registers, each lane one chain of fused multiply-adds from zero, k in
// order.
template <class V, class Fma, int RB, int VB>
[[gnu::always_inline]] inline void chains(int64_t K, const float* a, int64_t ars, int64_t aks,
                                          const float* b, int64_t ldb, V (&acc)[RB][VB]) {
  constexpr int64_t L = kLanes<V>;
#pragma GCC unroll 8
  for (int i = 0; i < RB; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < VB; ++j) acc[i][j] = V{};
  for (int64_t k = 0; k < K; ++k) {
    V bv[VB];
#pragma GCC unroll 8
    for (int j = 0; j < VB; ++j) std::memcpy(&bv[j], b + k * ldb + L * j, sizeof(V));
#pragma GCC unroll 8
    for (int i = 0; i < RB; ++i) {
      const float av = a[i * ars + k * aks];
#pragma GCC unroll 8
      for (int j = 0; j < VB; ++j) Fma::madd(acc[i][j], av, bv[j]);
    }
  }
}

// c[r, t] = sum_k a[r * ars + k * aks] * b[k * ldb + t] for r < RB, t < VB * L (L floats a
// vector).
template <class V, class Fma, int RB, int VB>
[[gnu::always_inline]] inline void block_nn(int64_t K, const float* a, int64_t ars, int64_t aks,
                                            const float* b, int64_t ldb, float* c, int64_t ldc) {
  constexpr int64_t L = kLanes<V>;
  V acc[RB][VB];
  chains<V, Fma, RB, VB>(K, a, ars, aks, b, ldb, acc);
#pragma GCC unroll 8
  for (int i = 0; i < RB; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < VB; ++j) std::memcpy(c + i * ldc + L * j, &acc[i][j], sizeof(V));
}

// RB rows of c over all ld columns (ld a multiple of 8): blocks of 3 vectors, then 2 or 1, then
// (64-byte vectors) a last 8 columns in a 32-byte one.
template <class V, class Fma, int RB>
[[gnu::always_inline]] inline void rows_nn(int64_t ld, int64_t K, const float* a, int64_t ars,
                                           int64_t aks, const float* b, float* c) {
  constexpr int64_t L = kLanes<V>;
  int64_t t = 0;
  for (; t + 3 * L <= ld; t += 3 * L) block_nn<V, Fma, RB, 3>(K, a, ars, aks, b + t, ld, c + t, ld);
  if (t + 2 * L <= ld) {
    block_nn<V, Fma, RB, 2>(K, a, ars, aks, b + t, ld, c + t, ld);
    t += 2 * L;
  } else if (t + L <= ld) {
    block_nn<V, Fma, RB, 1>(K, a, ars, aks, b + t, ld, c + t, ld);
    t += L;
  }
  if constexpr (L > 8) {
    if (t < ld) block_nn<Floats8, Fma, RB, 1>(K, a, ars, aks, b + t, ld, c + t, ld);
  }
}

// c [R][ld] = a b, a read as a[r * ars + k * aks] (r < R, k < K), b [K][ld]: RB rows at a time,
// then 4, then 1.
template <class V, class Fma, int RB>
void products_nn(int64_t R, int64_t ld, int64_t K, const float* a, int64_t ars, int64_t aks,
                 const float* b, float* c) {
  int64_t r = 0;
  for (; r + RB <= R; r += RB) rows_nn<V, Fma, RB>(ld, K, a + r * ars, ars, aks, b, c + r * ld);
  if constexpr (RB > 4) {
    for (; r + 4 <= R; r += 4) rows_nn<V, Fma, 4>(ld, K, a + r * ars, ars, aks, b, c + r * ld);
  }
  for (; r < R; ++r) rows_nn<V, Fma, 1>(ld, K, a + r * ars, ars, aks, b, c + r * ld);
}

// c[r, j] (+)= sum_t m[r * ld + t] * vt[t * ldv + j] for r < RB and j < w (w <= VB * L, vt's rows
// readable to VB * L floats), t < ld in order.
template <class V, class Fma, int RB, int VB>
[[gnu::always_inline]] inline void block_nt(int64_t ld, const float* m, const float* vt,
                                            int64_t ldv, float* c, int64_t ldc, int64_t w,
                                            bool accumulate) {
  constexpr int64_t L = kLanes<V>;
  V acc[RB][VB];
  chains<V, Fma, RB, VB>(ld, m, ld, 1, vt, ldv, acc);
  if (w == L * VB) {  // whole vectors: added and stored as such (the same adds)
#pragma GCC unroll 8
    for (int i = 0; i < RB; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < VB; ++j) {
        float* cij = c + i * ldc + L * j;
        if (accumulate) {
          V old;
          std::memcpy(&old, cij, sizeof(V));
          acc[i][j] = old + acc[i][j];
        }
        std::memcpy(cij, &acc[i][j], sizeof(V));
      }
    return;
  }
#pragma GCC unroll 8
  for (int i = 0; i < RB; ++i) {
    float sums[L * VB];
    std::memcpy(sums, acc[i], sizeof(sums));
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < w; ++j) ci[j] = accumulate ? ci[j] + sums[j] : sums[j];
  }
}

// RB rows of du over its C columns: a block of W columns (W a multiple of 8) wherever its reads
// stay within round8(C), i.e. j + W - 8 < C: 2 vectors, then 1, then (64-byte vectors) 8 columns.
template <class V, class Fma, int RB>
[[gnu::always_inline]] inline void rows_nt(int64_t C, int64_t ld, const float* m, const float* vt,
                                           int64_t ldv, float* c, bool accumulate) {
  constexpr int64_t L = kLanes<V>;
  int64_t j = 0;
  for (; j + 2 * L - 8 < C; j += 2 * L)
    block_nt<V, Fma, RB, 2>(ld, m, vt + j, ldv, c + j, C, std::min(2 * L, C - j), accumulate);
  if (j + L - 8 < C) {
    block_nt<V, Fma, RB, 1>(ld, m, vt + j, ldv, c + j, C, std::min(L, C - j), accumulate);
    j += L;
  }
  if constexpr (L > 8) {
    if (j < C) block_nt<Floats8, Fma, RB, 1>(ld, m, vt + j, ldv, c + j, C, C - j, accumulate);
  }
}

// du [O][C] (+)= m [O][ld] times v^T, given vt = v transposed ([ld][ldv], ldv = round8(C)): RB
// rows at a time, then 4, then 1; each sum over t < ld in order, one chain.
template <class V, class Fma, int RB>
void products_nt(int64_t O, int64_t C, int64_t ld, const float* m, const float* vt, int64_t ldv,
                 float* du, bool accumulate) {
  int64_t o = 0;
  for (; o + RB <= O; o += RB)
    rows_nt<V, Fma, RB>(C, ld, m + o * ld, vt, ldv, du + o * C, accumulate);
  if constexpr (RB > 4) {
    for (; o + 4 <= O; o += 4)
      rows_nt<V, Fma, 4>(C, ld, m + o * ld, vt, ldv, du + o * C, accumulate);
  }
  for (; o < O; ++o) rows_nt<V, Fma, 1>(C, ld, m + o * ld, vt, ldv, du + o * C, accumulate);
}

template <class V, class Fma, int RB>
Products product_kernels() {
  return {products_nn<V, Fma, RB>, products_nt<V, Fma, RB>};
}

}  // namespace
}  // namespace ember::kernels::wino
