// The AVX2 kernels of sgemm's row-sparse path (gemm.hpp): C = A op(B) where A, read in rows, is
// mostly zeros (a batch of MNIST images is 19% nonzero). gemm.cpp lists each row's nonzeros once
// (row_nonzeros) and packs op(B) into column blocks of K rows (pack_b_block_avx2, here); each row
// of a block is then summed over its row's nonzeros only (sparse_row, gemm_sparse_row.hpp): per
// nonzero one broadcast, four loads and four FMAs. The tiled kernels' zero skipping must instead
// take every step where any of a panel's 6 rows holds a nonzero (44% of MNIST's pixels). Also
// here: the AVX-512 kernel's 64-column geometry compiled for AVX2, for tests.
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx2_util.hpp"
#include "kernels/vectors.hpp"

// Everything defined from here on is compiled for AVX2+FMA (lambdas included).
#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include "kernels/fma_avx2.hpp"
#include "kernels/gemm_sparse_row.hpp"

namespace ember::kernels {

void pack_b_block_avx2(bool trans_b, const float* B, int64_t ldb, int64_t K, int64_t j0, int64_t w,
                       int64_t width, float* d) {
  if (trans_b) {
    pack_b_transposed_avx2(B + j0 * ldb, ldb, K, w, width, d);
    return;
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* src = B + k * ldb + j0;
    float* dst = d + k * width;
    if (w == width) {
      for (int64_t j = 0; j < width; j += 8) _mm256_storeu_ps(dst + j, _mm256_loadu_ps(src + j));
      continue;
    }
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(w));
    std::fill(dst + w, dst + width, 0.0f);
  }
}

void sparse_row_avx2(int64_t n, const int32_t* kidx, const float* vals, const float* bp, int64_t kc,
                     bool accumulate, const float* bias, bool relu, float* c, int64_t w) {
  sparse_row<Floats8, Fma, 4>(n, kidx, vals, bp, kc, accumulate, bias, relu, c, w);
}

void sparse_row_avx2_wide(int64_t n, const int32_t* kidx, const float* vals, const float* bp,
                          int64_t kc, bool accumulate, const float* bias, bool relu, float* c,
                          int64_t w) {
  sparse_row<Floats16, Fma, 4>(n, kidx, vals, bp, kc, accumulate, bias, relu, c, w);
}

}  // namespace ember::kernels

#pragma GCC pop_options

#endif
