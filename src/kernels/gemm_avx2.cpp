// AVX2+FMA micro-kernels for sgemm (6x16 floats) and dgemm (6x8 doubles). Each keeps its 6 x 2
// accumulator vectors in 12 of the 16 ymm registers; one k step loads two vectors of the packed B
// panel, broadcasts six values of A and issues twelve FMAs. Only these functions carry the
// avx2/fma target, so the library still runs on CPUs without AVX2 (gemm.cpp checks first).
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>

#define EMBER_AVX2 __attribute__((target("avx2,fma")))

namespace ember::kernels {
namespace {

constexpr int64_t kMr = 6;
constexpr int64_t kNrFloat = 16;
constexpr int64_t kNrDouble = 8;

// a: rows of A, a(r,k) at a[r*rs_a + k*cs_a]; b: packed [kc, 16]; c: [6, 16] with stride ldc.
EMBER_AVX2 void sgemm_micro_6x16(int64_t kc, int64_t mr, const float* a, int64_t rs_a, int64_t cs_a,
                                 const float* b, float* c, int64_t ldc, bool accumulate) {
  const float* ar[kMr];
  for (int64_t r = 0; r < kMr; ++r) ar[r] = a + std::min(r, mr - 1) * rs_a;  // junk rows reread
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int64_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  int64_t ka = 0;
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k, ka += cs_a) {
    const __m256 b0 = _mm256_load_ps(b + k * kNrFloat);
    const __m256 b1 = _mm256_load_ps(b + k * kNrFloat + 8);
#pragma GCC unroll 6
    for (int64_t r = 0; r < kMr; ++r) {
      const __m256 av = _mm256_broadcast_ss(ar[r] + ka);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int64_t r = 0; r < kMr; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      acc[r][0] = _mm256_add_ps(_mm256_loadu_ps(cr), acc[r][0]);
      acc[r][1] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), acc[r][1]);
    }
    _mm256_storeu_ps(cr, acc[r][0]);
    _mm256_storeu_ps(cr + 8, acc[r][1]);
  }
}

// Same with doubles: b packed [kc, 8]; c: [6, 8].
EMBER_AVX2 void dgemm_micro_6x8(int64_t kc, int64_t mr, const double* a, int64_t rs_a, int64_t cs_a,
                                const double* b, double* c, int64_t ldc, bool accumulate) {
  const double* ar[kMr];
  for (int64_t r = 0; r < kMr; ++r) ar[r] = a + std::min(r, mr - 1) * rs_a;
  __m256d acc[kMr][2];
#pragma GCC unroll 6
  for (int64_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_pd();
  int64_t ka = 0;
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k, ka += cs_a) {
    const __m256d b0 = _mm256_load_pd(b + k * kNrDouble);
    const __m256d b1 = _mm256_load_pd(b + k * kNrDouble + 4);
#pragma GCC unroll 6
    for (int64_t r = 0; r < kMr; ++r) {
      const __m256d av = _mm256_broadcast_sd(ar[r] + ka);
      acc[r][0] = _mm256_fmadd_pd(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int64_t r = 0; r < kMr; ++r) {
    double* cr = c + r * ldc;
    if (accumulate) {
      acc[r][0] = _mm256_add_pd(_mm256_loadu_pd(cr), acc[r][0]);
      acc[r][1] = _mm256_add_pd(_mm256_loadu_pd(cr + 4), acc[r][1]);
    }
    _mm256_storeu_pd(cr, acc[r][0]);
    _mm256_storeu_pd(cr + 4, acc[r][1]);
  }
}

}  // namespace

// Blocks: a kc x nr panel of B (16 KiB) stays in L1, an mc x kc block of A (~144 KiB) in L2.
const GemmKernel<float>& avx2_sgemm_kernel() {
  static const GemmKernel<float> kernel{kMr, kNrFloat, 256, 144, 2048, sgemm_micro_6x16};
  return kernel;
}

const GemmKernel<double>& avx2_dgemm_kernel() {
  static const GemmKernel<double> kernel{kMr, kNrDouble, 256, 72, 1024, dgemm_micro_6x8};
  return kernel;
}

}  // namespace ember::kernels

#endif  // x86
