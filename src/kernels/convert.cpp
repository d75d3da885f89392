#include "kernels/convert.hpp"

#include <immintrin.h>

#include "kernels/gemm.hpp"

namespace ember::kernels {

void u8_to_unit_float_reference(const std::uint8_t* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}

namespace {
// x / 255.0f equals float(double(x) * (1.0 / 255.0)) for every x in 0..255 (checked by the test
// against the division): the double product carries enough bits that rounding it once to float
// gives the correctly rounded quotient, and a multiply is much cheaper than vdivps.
__attribute__((target("avx2"))) void u8_to_unit_float_avx2(const std::uint8_t* src, float* dst,
                                                           std::int64_t n) {
  const __m256d r = _mm256_set1_pd(1.0 / 255.0);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i));
    const __m256i ints = _mm256_cvtepu8_epi32(bytes);
    const __m256d lo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(ints));
    const __m256d hi = _mm256_cvtepi32_pd(_mm256_extracti128_si256(ints, 1));
    const __m128 flo = _mm256_cvtpd_ps(_mm256_mul_pd(lo, r));
    const __m128 fhi = _mm256_cvtpd_ps(_mm256_mul_pd(hi, r));
    _mm256_storeu_ps(dst + i, _mm256_set_m128(fhi, flo));
  }
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}
}  // namespace

void u8_to_unit_float(const std::uint8_t* src, float* dst, std::int64_t n) {
  if (active_isa() != Isa::generic) u8_to_unit_float_avx2(src, dst, n);
  else u8_to_unit_float_reference(src, dst, n);
}

}  // namespace ember::kernels
