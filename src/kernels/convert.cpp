#include "kernels/convert.hpp"

#include <immintrin.h>

#include "kernels/gemm.hpp"

namespace ember::kernels {

void u8_to_unit_float_reference(const std::uint8_t* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}

namespace {
// vdivps is correctly rounded, so each lane equals the scalar division.
__attribute__((target("avx2"))) void u8_to_unit_float_avx2(const std::uint8_t* src, float* dst,
                                                           std::int64_t n) {
  const __m256 d = _mm256_set1_ps(255.0f);
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)));
    _mm256_storeu_ps(dst + i, _mm256_div_ps(lo, d));
    _mm256_storeu_ps(dst + i + 8, _mm256_div_ps(hi, d));
  }
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}
}  // namespace

void u8_to_unit_float(const std::uint8_t* src, float* dst, std::int64_t n) {
  if (active_isa() != Isa::generic) u8_to_unit_float_avx2(src, dst, n);
  else u8_to_unit_float_reference(src, dst, n);
}

}  // namespace ember::kernels
