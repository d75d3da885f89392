#pragma once
// The 2x2 max-pool decision on 8 windows at a time (AVX2), lane by lane: window a b / c d, with
// each of a, b, c, d a vector holding that element of 8 windows. Shared by the pooling kernels
// (pool.cpp, whose lanes come from shuffled rows) and the convolutions' fused pooling
// (winograd_output.cpp, whose lanes are 8 output tiles, each tile one window; conv_direct.cpp). The
// rule is takes_max's in pool.cpp: b, c, d in turn replace the maximum when larger, or NaN.
// Also the backward's unpooling, and the lists of windows with a gradient that the pooled weight
// gradients run over.
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx2_util.hpp"

namespace ember::kernels {

// Lanes where v replaces the current maximum m.
__attribute__((target("avx2,fma"))) inline __m256 takes_max8(__m256 v, __m256 m) {
  return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

// The code of each window (int32 lanes) from the lanes where b, c, d in turn took the maximum.
__attribute__((target("avx2,fma"))) inline __m256i pool_code(__m256 kb, __m256 kc, __m256 kd) {
  const __m256i k = _mm256_and_si256(_mm256_castps_si256(kb), _mm256_set1_epi32(1));
  return _mm256_blendv_epi8(_mm256_blendv_epi8(k, _mm256_set1_epi32(2), _mm256_castps_si256(kc)),
                            _mm256_set1_epi32(3), _mm256_castps_si256(kd));
}

// The maximum of each window, and in `code` (int32 lanes) which element won: 0 a, 1 b, 2 c, 3 d.
__attribute__((target("avx2,fma"))) inline __m256 pool4_avx2(__m256 a, __m256 b, __m256 c, __m256 d,
                                                             __m256i& code) {
  const __m256 kb = takes_max8(b, a);
  __m256 m = _mm256_blendv_ps(a, b, kb);
  const __m256 kc = takes_max8(c, m);
  m = _mm256_blendv_ps(m, c, kc);
  const __m256 kd = takes_max8(d, m);
  m = _mm256_blendv_ps(m, d, kd);
  code = pool_code(kb, kc, kd);
  return m;
}

// The same after ReLU, as relu() then max_pool2d() compute it: each element v > 0 ? v : 0 (a NaN
// gives 0; max_ps returns its second operand when either is NaN), then the pool, whose elements
// can no longer be NaN, so b, c, d replace the maximum only when larger.
__attribute__((target("avx2,fma"))) inline __m256 relu_pool4_avx2(__m256 a, __m256 b, __m256 c,
                                                                  __m256 d, __m256i& code) {
  const __m256 zero = _mm256_setzero_ps();
  a = _mm256_max_ps(a, zero), b = _mm256_max_ps(b, zero);
  c = _mm256_max_ps(c, zero), d = _mm256_max_ps(d, zero);
  const __m256 kb = _mm256_cmp_ps(b, a, _CMP_GT_OQ);
  __m256 m = _mm256_max_ps(a, b);
  const __m256 kc = _mm256_cmp_ps(c, m, _CMP_GT_OQ);
  m = _mm256_max_ps(m, c);
  const __m256 kd = _mm256_cmp_ps(d, m, _CMP_GT_OQ);
  m = _mm256_max_ps(m, d);
  code = pool_code(kb, kc, kd);
  return m;
}

// The backward: each window's gradient g to the element its code names, 0 to the others.
__attribute__((target("avx2,fma"))) inline void unpool4_avx2(__m256 g, __m256i code, __m256& a,
                                                             __m256& b, __m256& c, __m256& d) {
  a = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(code, _mm256_setzero_si256())), g);
  b = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(code, _mm256_set1_epi32(1))), g);
  c = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(code, _mm256_set1_epi32(2))), g);
  d = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(code, _mm256_set1_epi32(3))), g);
}

// 8 codes (int32 lanes, each 0..3) as bytes: the first n (<= 8) stored at dst.
__attribute__((target("avx2,fma"))) inline void store_codes(__m256i code, int n,
                                                            std::uint8_t* dst) {
  const __m128i words =
      _mm_packus_epi32(_mm256_castsi256_si128(code), _mm256_extracti128_si256(code, 1));
  auto bytes = static_cast<unsigned long long>(_mm_cvtsi128_si64(_mm_packus_epi16(words, words)));
  // fixed-size copies (a memcpy of a variable count is a library call)
  if (n >= 8) {
    __builtin_memcpy(dst, &bytes, 8);
    return;
  }
  if (n & 4) {
    __builtin_memcpy(dst, &bytes, 4);
    dst += 4;
    bytes >>= 32;
  }
  if (n & 2) {
    __builtin_memcpy(dst, &bytes, 2);
    dst += 2;
    bytes >>= 16;
  }
  if (n & 1) *dst = static_cast<std::uint8_t>(bytes);
}

// The inverse: n (<= 8) bytes at src as int32 lanes (the rest 0).
__attribute__((target("avx2,fma"))) inline __m256i load_codes(const std::uint8_t* src, int n) {
  unsigned long long bytes = 0;
  if (n >= 8) {
    __builtin_memcpy(&bytes, src, 8);
  } else {  // fixed-size copies, as in store_codes
    int at = 0;
    if (n & 4) {
      unsigned b4 = 0;
      __builtin_memcpy(&b4, src, 4);
      bytes = b4;
      at = 4;
    }
    if (n & 2) {
      unsigned short b2 = 0;
      __builtin_memcpy(&b2, src + at, 2);
      bytes |= static_cast<unsigned long long>(b2) << (8 * at);
      at += 2;
    }
    if (n & 1) bytes |= static_cast<unsigned long long>(src[at]) << (8 * at);
  }
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(bytes)));
}

// The gradient of `count` (1..8) pooling windows from the pooled gradient g and their codes,
// each to the element its code names (unpool4_avx2), counted only where relu > 0 when relu is not
// null (ReLU's backward, where(out > 0, g, 0)); lanes past count are 0. whole: the data goes on
// past the group (8 floats of g and relu and 8 codes readable), so each is one load, the lanes
// past count cleared (they unpool a zero); else they are read in pieces. Returns the windows'
// gradients themselves (after ReLU's mask), each the one nonzero of its a, b, c, d.
__attribute__((target("avx2,fma"))) inline __m256 unpool_group_avx2(
    const float* g, const float* relu, const std::uint8_t* code, int64_t count, bool whole,
    __m256& a, __m256& b, __m256& c, __m256& d) {
  __m256 gp = whole ? _mm256_and_ps(_mm256_loadu_ps(g), _mm256_castsi256_ps(first_lanes(count)))
                    : load_first8(g, count);
  if (relu != nullptr)
    gp = where_positive(gp, whole ? _mm256_loadu_ps(relu) : load_first8(relu, count));
  unpool4_avx2(gp, load_codes(code, whole ? 8 : static_cast<int>(count)), a, b, c, d);
  return gp;
}

// The windows of a pooled plane (`plane` of them) whose gradient is not 0, listed for the pooled
// weight gradients (conv_pooled_grad.cpp, conv_direct.cpp) 8 windows at a time: gp the pooled
// gradient, relu null or the pooled output after its ReLU (the gradient counts only where
// relu > 0), code the windows' codes. Each window listed (in order; a NaN is kept) gets its
// gradient in g and in at base[t] plus the offset its code names (table's lanes 0..3; base is
// read a whole vector at a time past the plane). g and at need room for the plane rounded up to
// 8. Returns the count; sum's lanes: the gradients, lane l the windows t = l mod 8 in order.
__attribute__((target("avx2,fma"))) inline int64_t list_windows_avx2(
    const float* gp, const std::uint8_t* code, const float* relu, int64_t plane,
    const std::int32_t* base, __m256i table, float* g, std::int32_t* at, __m256& sum) {
  int64_t n = 0;
  for (int64_t t = 0; t < plane; t += 8) {
    const int64_t count = plane - t < 8 ? plane - t : 8;
    __m256 v = load_first8(gp + t, count);
    if (relu != nullptr) v = where_positive(v, load_first8(relu + t, count));
    const __m256i k = load_codes(code + t, static_cast<int>(count));  // 0..3
    const __m256i to =
        _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + t)),
                         _mm256_permutevar8x32_epi32(table, k));
    sum = _mm256_add_ps(sum, v);
    // the nonzero ones (and NaNs) moved to the front, stored at n (8 lanes; n <= t)
    const auto m = static_cast<std::uint32_t>(
        _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ)));
    const __m256i lanes = compaction_lanes(m);
    _mm256_storeu_ps(g + n, _mm256_permutevar8x32_ps(v, lanes));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(at + n), _mm256_permutevar8x32_epi32(to, lanes));
    n += __builtin_popcount(m);
  }
  return n;
}

}  // namespace ember::kernels
