#include "kernels/vmath.hpp"

#include <immintrin.h>

#include <cmath>

#include "kernels/gemm.hpp"

namespace ember::kernels {

void exp_f32_reference(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void sigmoid_f32_reference(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

namespace {

// e^x for 8 lanes. x is clamped to [-87.3, 88.7] (beyond, e^x under/overflows float anyway:
// the clamp gives 0-ish and +inf-ish limits, then the exact limits are patched in).
__attribute__((target("avx2,fma"), always_inline)) inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.72283935546875f);  // ln(FLT_MAX), rounded down
  const __m256 lo = _mm256_set1_ps(-87.3365478515625f);
  const __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  // k = round(x / ln2); r = x - k ln2 in two steps (ln2 split into a high and a low part)
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  // e^r on [-ln2/2, ln2/2]: Taylor coefficients 1/n! to degree 6 (error below 1 ulp there)
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // scale by 2^k through the exponent bits, in two halves so k = 128 (x near ln FLT_MAX) and
  // k = -126 both stay representable: 2^k = 2^(k/2) * 2^(k - k/2)
  const __m256i ki = _mm256_cvtps_epi32(k);
  const __m256i k1 = _mm256_srai_epi32(ki, 1);
  const __m256i k2 = _mm256_sub_epi32(ki, k1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over);
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), under);
  return _mm256_blendv_ps(y, x, nan);
}

// y = f(x) over n floats, 8 at a time; a partial last vector goes through a zero-padded copy.
template <__m256 (*F)(__m256)>
__attribute__((target("avx2,fma"))) void map8(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, F(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float in[8] = {0}, out[8];
    for (std::int64_t j = i; j < n; ++j) in[j - i] = x[j];
    _mm256_storeu_ps(out, F(_mm256_loadu_ps(in)));
    for (std::int64_t j = i; j < n; ++j) y[j] = out[j - i];
  }
}

__attribute__((target("avx2,fma"), always_inline)) inline __m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

}  // namespace

void exp_f32(const float* x, float* y, std::int64_t n) {
  if (active_isa() != Isa::generic)
    map8<exp8>(x, y, n);
  else
    exp_f32_reference(x, y, n);
}

void sigmoid_f32(const float* x, float* y, std::int64_t n) {
  if (active_isa() != Isa::generic)
    map8<sigmoid8>(x, y, n);
  else
    sigmoid_f32_reference(x, y, n);
}

}  // namespace ember::kernels
