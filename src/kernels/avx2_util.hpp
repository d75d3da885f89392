#pragma once
// Small AVX2 helpers shared by the vector kernels (pool.cpp, winograd.cpp, conv_direct.cpp,
// gemm_avx2.cpp, conv_pooled_grad.cpp).
#include <immintrin.h>

#include <array>
#include <cstdint>

namespace ember::kernels {

// For each 8-bit mask m, the positions of its set bits in increasing order, 4 bits each from the
// low end: the lane permutation that moves the chosen lanes of 8 to the front.
constexpr std::array<std::uint32_t, 256> compaction_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t m = 0; m < 256; ++m) {
    std::uint32_t v = 0, n = 0;
    for (std::uint32_t b = 0; b < 8; ++b)
      if ((m >> b & 1u) != 0) v |= b << (4 * n++);
    t[m] = v;
  }
  return t;
}
inline constexpr std::array<std::uint32_t, 256> kCompaction = compaction_table();

// The lane permutation that moves the set lanes of the 8-bit mask m to the front, in order
// (gemm_zeros.cpp's nonzero lists, conv_pooled_grad.cpp's window lists).
__attribute__((target("avx2"))) inline __m256i compaction_lanes(std::uint32_t m) {
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  return _mm256_and_si256(
      _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(kCompaction[m])), shifts),
      _mm256_set1_epi32(15));
}

// A prefetch of the floats [p, p + count) in `parts` shares: its 64-byte lines split into
// `parts` runs, share(part) asking for one. A loop over parts spreads the prefetch of the next
// unit of work (an image) over the current one's steps; a burst of all its lines at once would
// stall on the outstanding misses. count 0: nothing. kWrite: asked for to be written (each line
// fetched for ownership, so that the stores that come later need not wait for it). The division
// is done once, here: the shares are asked for inside kernels' loops. (parts < 1: one share.)
template <bool kWrite = false>
class PrefetchShares {
 public:
  PrefetchShares(const float* p, int64_t count, int64_t parts)
      : p_(p), lines_((count + 15) / 16), per_(parts > 1 ? (lines_ + parts - 1) / parts : lines_) {}
  void share(int64_t part) const {
    for (int64_t k = part * per_; k < lines_ && k < (part + 1) * per_; ++k)
      __builtin_prefetch(p_ + 16 * k, kWrite ? 1 : 0);
  }

 private:
  const float* p_;
  int64_t lines_, per_;
};

// Lanes l with 0 <= first + l < W set: the columns of a row that lie inside the image (the
// masked loads of winograd_input.cpp and conv_direct.cpp).
__attribute__((target("avx2"))) inline __m256i columns_inside(int64_t first, int64_t W) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto clamp = [](int64_t v) { return static_cast<int>(v < -1 ? -1 : v > 8 ? 8 : v); };
  return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(clamp(W - first)), lane),
                          _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(clamp(-first - 1))));
}

// The first n of the 8 int32 lanes set (all ones), the rest clear: none for n <= 0, all for
// n >= 8. The mask of _mm256_maskload_ps / _mm256_maskstore_ps for a partial last vector.
__attribute__((target("avx2"))) inline __m256i first_lanes(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int lanes = static_cast<int>(n < 0 ? 0 : n > 8 ? 8 : n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), lane);
}

// dst[0, n) = src[0, n) (not overlapping), for rows of a few vectors: whole 8-float vectors,
// the last one ending at n (over part of the one before), inline. A memcpy call costs more than
// the copy of a 14- or 28-float image row. n < 8 falls back to memcpy.
__attribute__((target("avx2"))) inline void copy_row(float* dst, const float* src, int64_t n) {
  if (n < 8) {
    __builtin_memcpy(dst, src, static_cast<unsigned long>(n) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i + 8 < n; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
  _mm256_storeu_ps(dst + n - 8, _mm256_loadu_ps(src + n - 8));
}

// dst[0, n) = 0, the same way.
__attribute__((target("avx2"))) inline void zero_row(float* dst, int64_t n) {
  if (n < 8) {
    __builtin_memset(dst, 0, static_cast<unsigned long>(n) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i + 8 < n; i += 8) _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
  _mm256_storeu_ps(dst + n - 8, _mm256_setzero_ps());
}

// The first `count` (<= 8) floats of v at dst: one whole store when count is 8, else pieces of
// 4, 2 and 1 (a masked store is slow on AMD CPUs).
__attribute__((target("avx2"))) inline void store_first8(float* dst, __m256 v, int64_t count) {
  if (count >= 8) {
    _mm256_storeu_ps(dst, v);
    return;
  }
  __m128 q = _mm256_castps256_ps128(v);
  if (count & 4) {
    _mm_storeu_ps(dst, q);
    dst += 4;
    q = _mm256_extractf128_ps(v, 1);
  }
  if (count & 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst), q);
    dst += 2;
    q = _mm_movehl_ps(q, q);
  }
  if (count & 1) _mm_store_ss(dst, q);
}

// The first `count` (< 4) floats at src, the rest 0.
__attribute__((target("avx2"))) inline __m128 load_first3(const float* src, int64_t count) {
  const __m128 two = (count & 2) != 0
                         ? _mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(src))
                         : _mm_setzero_ps();
  if ((count & 1) == 0) return two;
  const __m128 one = _mm_load_ss(src + (count & 2));
  return (count & 2) != 0 ? _mm_movelh_ps(two, one) : one;
}

// The first `count` (<= 8) floats at src, the rest 0: whole, or pieces of 4, 2 and 1.
__attribute__((target("avx2"))) inline __m256 load_first8(const float* src, int64_t count) {
  if (count >= 8) return _mm256_loadu_ps(src);
  if (count & 4) return _mm256_set_m128(load_first3(src + 4, count & 3), _mm_loadu_ps(src));
  return _mm256_zextps128_ps256(load_first3(src, count));
}

// ReLU's rule lane by lane: v where of > 0, else 0 (a NaN in `of` gives 0). where_positive(v, v)
// is relu(v) as ember::relu computes it; where_positive(g, out) is its backward.
__attribute__((target("avx2"))) inline __m256 where_positive(__m256 v, __m256 of) {
  return _mm256_and_ps(v, _mm256_cmp_ps(of, _mm256_setzero_ps(), _CMP_GT_OQ));
}

// a = [a0..a7], b = [b0..b7] -> even = [a0 a2 a4 a6 b0 b2 b4 b6], odd = [a1 a3 .. b7]
__attribute__((target("avx2"))) inline void deinterleave(__m256 a, __m256 b, __m256& even,
                                                         __m256& odd) {
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  a = _mm256_permutevar8x32_ps(a, idx);
  b = _mm256_permutevar8x32_ps(b, idx);
  even = _mm256_permute2f128_ps(a, b, 0x20);
  odd = _mm256_permute2f128_ps(a, b, 0x31);
}

// The inverse: even, odd -> lo = [e0 o0 e1 o1 .. e3 o3], hi = [e4 o4 .. e7 o7]
__attribute__((target("avx2"))) inline void interleave(__m256 even, __m256 odd, __m256& lo,
                                                       __m256& hi) {
  const __m256 l = _mm256_unpacklo_ps(even, odd), h = _mm256_unpackhi_ps(even, odd);
  lo = _mm256_permute2f128_ps(l, h, 0x20);
  hi = _mm256_permute2f128_ps(l, h, 0x31);
}

// The 8x8 block r[i][k] (row i, column k) -> c[k][i], in registers.
__attribute__((target("avx2"))) inline void transpose8x8(const __m256 r[8], __m256 c[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // four rows per 128-bit half
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {  // column i from the low halves, column i + 4 from the high
    c[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    c[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

}  // namespace ember::kernels
