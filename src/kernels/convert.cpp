#include "kernels/convert.hpp"

#include <immintrin.h>

#include "kernels/gemm.hpp"

namespace ember::kernels {

void u8_to_unit_float_reference(const std::uint8_t* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}

namespace {
// The reference's division, eight lanes at a time, without a divide: q = x * (1/255), then one
// correction step on the remainder, r = fma(-q, 255, x) and q + r / 255 as fma(r, 1/255, q). For
// every byte value this equals x / 255.0f to the bit (all 256 are checked by
// Convert.U8ToUnitFloatIsExactDivision in tests/kernels/test_gemv.cpp; the plain product
// x * (1/255) misses 126 of them). On AMD EPYC, 50,176 values in cache: 0.116-0.160 ns per value
// with vdivps, 0.088-0.090 now.
__attribute__((target("avx2,fma"))) void u8_to_unit_float_avx2(const std::uint8_t* src, float* dst,
                                                               std::int64_t n) {
  const __m256 nd = _mm256_set1_ps(-255.0f);
  const __m256 r = _mm256_set1_ps(1.0f / 255.0f);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i));
    const __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    const __m256 q = _mm256_mul_ps(x, r);
    _mm256_storeu_ps(dst + i, _mm256_fmadd_ps(_mm256_fmadd_ps(nd, q, x), r, q));
  }
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}
}  // namespace

void u8_to_unit_float(const std::uint8_t* src, float* dst, std::int64_t n) {
  if (active_isa() != Isa::generic)
    u8_to_unit_float_avx2(src, dst, n);
  else
    u8_to_unit_float_reference(src, dst, n);
}

}  // namespace ember::kernels
