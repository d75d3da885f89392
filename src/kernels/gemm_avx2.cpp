// AVX2+FMA micro-kernels: the 6x16 sgemm and 6x8 dgemm tiles the AVX2 path runs, and the AVX-512
// geometry (12x32 floats, 12x16 doubles) compiled for AVX2 so tests can check it here. The body is
// micro_tile (gemm_micro.hpp). Only this file's functions carry the avx2/fma target, so the
// library still runs on CPUs without AVX2 (gemm.cpp checks first).
//
// The 6x16 tile keeps its 6 x 2 accumulator vectors in 12 of the 16 ymm registers; one k step loads
// two vectors of the packed B panel, broadcasts six values of A and issues twelve FMAs.
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/avx2_util.hpp"
#include "kernels/vectors.hpp"

// Everything defined from here on, micro_tile included, is compiled for AVX2+FMA.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include "kernels/fma_avx2.hpp"
#include "kernels/gemm_micro.hpp"
#include "kernels/gemm_sparse_row.hpp"

namespace ember::kernels {

// d[k * nr + j] = B[j * ldb + k] for k < kc, j < w, and 0 for w <= j < nr (nr a multiple of 8):
// each run of 8 columns as 8x8 blocks moved by 8 row loads, an in-register transpose and 8
// stores, the k tail past a multiple of 8 one by one; the last w % 8 columns one by one.
void pack_b_transposed_avx2(const float* B, int64_t ldb, int64_t kc, int64_t w, int64_t nr,
                            float* d) {
  const int64_t k8 = kc / 8 * 8, w8 = w / 8 * 8;
  for (int64_t j = 0; j < w8; j += 8) {
    const float* src = B + j * ldb;
    for (int64_t k = 0; k < k8; k += 8) {
      __m256 r[8], c[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ldb + k);
      transpose8x8(r, c);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + (k + i) * nr + j, c[i]);
    }
    for (int64_t k = k8; k < kc; ++k)
      for (int64_t i = 0; i < 8; ++i) d[k * nr + j + i] = src[i * ldb + k];
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t j = w8; j < nr; ++j) d[k * nr + j] = j < w ? B[j * ldb + k] : 0.0f;
}

// d[k * 6 + r] = A[r * lda + k] for k < kc, r < 6: 8 columns at a time through transpose8x8
// (rows 6 and 7 repeat row 5). Each column's 8-float store runs 2 floats into the next column's
// slots, which the next store rewrites; blocks stop while a column is left for the scalar tail,
// so nothing is written past d[kc * 6].
void pack_a_rows6_avx2(const float* A, int64_t lda, int64_t kc, float* d) {
  int64_t k = 0;
  for (; k + 8 < kc; k += 8) {
    __m256 r[8], c[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(A + (i < 6 ? i : 5) * lda + k);
    transpose8x8(r, c);
    for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + (k + i) * 6, c[i]);
  }
  for (; k < kc; ++k)
    for (int64_t i = 0; i < 6; ++i) d[k * 6 + i] = A[i * lda + k];
}

}  // namespace ember::kernels

#pragma GCC pop_options

namespace ember::kernels {

// Blocks: a kc x nr panel of B (16 KiB) stays in L1, an mc x kc block of A (~144 KiB) in L2.
// The row-sparse path's kernel: 32-column blocks (64 in the AVX-512 geometry).
const GemmKernels& avx2_kernels() {
  static const GemmKernels kernels = [] {
    GemmKernels k = tile_kernels<Floats8, Doubles4, Fma, 6>();
    k.f.sparse_row = sparse_row<Floats8, Fma, 4>, k.f.sparse_width = 32;
    return k;
  }();
  return kernels;
}

const GemmKernels& avx2_wide_kernels() {
  static const GemmKernels kernels = [] {
    GemmKernels k = tile_kernels<Floats16, Doubles8, Fma, 12>();
    k.f.sparse_row = sparse_row<Floats16, Fma, 4>, k.f.sparse_width = 64;
    return k;
  }();
  return kernels;
}

}  // namespace ember::kernels

#endif  // x86
