// The AVX2 kernels of sgemm's row-sparse path (gemm.hpp): C = A op(B) where A, read in rows, is
// mostly zeros (a batch of MNIST images is 19% nonzero). gemm.cpp lists each row's nonzeros once
// (row_nonzeros) and packs op(B) into 32-column blocks of K rows; here each row of a block is
// summed over its row's nonzeros only: per nonzero one broadcast, four loads and four FMAs. The
// tiled kernels' zero skipping must instead take every step where any of a panel's 6 rows holds a
// nonzero (44% of MNIST's pixels).
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx2_util.hpp"

// Everything defined from here on is compiled for AVX2+FMA (lambdas included).
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace ember::kernels {

void pack_b32_avx2(bool trans_b, const float* B, int64_t ldb, int64_t K, int64_t j0, int64_t w,
                   float* d) {
  if (trans_b) {
    pack_b_transposed_avx2(B + j0 * ldb, ldb, K, w, 32, d);
    return;
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* src = B + k * ldb + j0;
    float* dst = d + k * 32;
    if (w == 32) {
      for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(dst + j, _mm256_loadu_ps(src + j));
      continue;
    }
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(w));
    std::fill(dst + w, dst + 32, 0.0f);
  }
}

void sparse_row_avx2(int64_t n, const int32_t* kidx, const float* vals, const float* bp, int64_t kc,
                     bool accumulate, const float* bias, bool relu, float* c, int64_t w) {
  alignas(32) float edge[32];  // C's w < 32 columns (and the bias's), padded to the block
  const bool whole = w == 32;
  const auto load32 = [&](const float* src, __m256 v[4]) {
    const float* from = src;
    if (!whole) {
      std::memcpy(edge, src, sizeof(float) * static_cast<size_t>(w));
      std::fill(edge + w, edge + 32, 0.0f);
      from = edge;
    }
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(from + 8 * j);
  };
  __m256 total[4];
  if (accumulate) {
    load32(c, total);
  } else {
    for (__m256& v : total) v = _mm256_setzero_ps();
  }
  // each kc slice from zero, added to the total in order (the tiled path's sums)
  for (int64_t t = 0; t < n;) {
    const int64_t end = (kidx[t] / kc + 1) * kc;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; t < n && kidx[t] < end; ++t) {
      const float* b = bp + static_cast<int64_t>(kidx[t]) * 32;
      const __m256 v = _mm256_set1_ps(vals[t]);
      a0 = _mm256_fmadd_ps(v, _mm256_load_ps(b), a0);
      a1 = _mm256_fmadd_ps(v, _mm256_load_ps(b + 8), a1);
      a2 = _mm256_fmadd_ps(v, _mm256_load_ps(b + 16), a2);
      a3 = _mm256_fmadd_ps(v, _mm256_load_ps(b + 24), a3);
    }
    total[0] = _mm256_add_ps(total[0], a0);
    total[1] = _mm256_add_ps(total[1], a1);
    total[2] = _mm256_add_ps(total[2], a2);
    total[3] = _mm256_add_ps(total[3], a3);
  }
  if (bias != nullptr) {
    __m256 b[4];
    load32(bias, b);
    for (int j = 0; j < 4; ++j) total[j] = _mm256_add_ps(total[j], b[j]);
  }
  if (relu)
    for (__m256& v : total) v = where_positive(v, v);
  float* out = whole ? c : edge;
  for (int j = 0; j < 4; ++j) _mm256_storeu_ps(out + 8 * j, total[j]);
  if (!whole) std::memcpy(c, edge, sizeof(float) * static_cast<size_t>(w));
}

}  // namespace ember::kernels

#pragma GCC pop_options

#endif
