// The row-sparse path's packing (gemm.hpp): op(B) into column blocks of K rows, the width of the
// path's kernel (sparse_row, gemm_sparse_row.hpp, instantiated per ISA in gemm_avx2.cpp and
// gemm_avx512.cpp). A is an MNIST batch, say, 19% nonzero: gemm.cpp lists each row's nonzeros once
// (row_nonzeros) and the kernel sums each row of a block over them only, where the tiled kernels'
// zero skipping must take every step where any of a panel's 6 rows holds a nonzero (44% of
// MNIST's pixels).
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

// Everything defined from here on is compiled for AVX2.
#pragma GCC push_options
#pragma GCC target("avx2")

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

}  // namespace ember::kernels

#pragma GCC pop_options

#endif
