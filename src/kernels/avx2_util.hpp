#pragma once
// Small AVX2 helpers shared by the vector kernels (pool.cpp, winograd.cpp, conv_direct.cpp).
#include <immintrin.h>

#include <cstdint>

namespace ember::kernels {

// The first n of the 8 int32 lanes set (all ones), the rest clear: none for n <= 0, all for
// n >= 8. The mask of _mm256_maskload_ps / _mm256_maskstore_ps for a partial last vector.
__attribute__((target("avx2"))) inline __m256i first_lanes(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int lanes = static_cast<int>(n < 0 ? 0 : n > 8 ? 8 : n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), lane);
}

}  // namespace ember::kernels
