// Zero skipping for sgemm/dgemm: the steps k of a panel where it holds a nonzero, and whether a
// panel is all finite (gemm.hpp). Plain loops for any layout and type, and AVX2 versions for the
// float layouts the driver meets: lines contiguous in k (a row-major A read in place) and up to
// 32 contiguous values per step (a packed or in-place B panel, a packed A panel).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"

namespace ember::kernels {
namespace {

template <class T>
int64_t nonzero_steps_plain(const T* p, int64_t rs, int64_t cs, int64_t h, int64_t kc,
                            int32_t* kidx) {
  int64_t n = 0;
  for (int64_t k = 0; k < kc; ++k) {
    bool any = false;
    for (int64_t l = 0; l < h; ++l) any = any || p[l * rs + k * cs] != T(0);
    kidx[n] = static_cast<int32_t>(k);
    n += any ? 1 : 0;
  }
  return n;
}

// Steps [k0, kc) of one row into the lists from n on, one by one; returns the new count.
int64_t row_nonzeros_plain(const float* p, int64_t k0, int64_t kc, int32_t* kidx, float* vals,
                           int64_t n) {
  for (int64_t k = k0; k < kc; ++k) {
    kidx[n] = static_cast<int32_t>(k);
    vals[n] = p[k];
    n += p[k] != 0.0f ? 1 : 0;
  }
  return n;
}

template <class T>
bool all_finite_plain(const T* p, int64_t rs, int64_t cs, int64_t h, int64_t kc) {
  bool finite = true;
  for (int64_t l = 0; l < h; ++l)
    for (int64_t k = 0; k < kc; ++k) finite = finite && std::isfinite(p[l * rs + k * cs]);
  return finite;
}

#if defined(__x86_64__) || defined(__i386__)

// kidx[n...] = k0 + the set bits of the 8-bit mask m, in order, given m's compaction_lanes (8
// lanes stored, the count kept).
__attribute__((target("avx2"))) inline int64_t emit_lanes(__m256i lanes, uint32_t m, int64_t k0,
                                                          int32_t* kidx, int64_t n) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(kidx + n),
                      _mm256_add_epi32(lanes, _mm256_set1_epi32(static_cast<int>(k0))));
  return n + __builtin_popcount(m);
}

// The same from m alone.
__attribute__((target("avx2"))) inline int64_t emit_steps(uint32_t m, int64_t k0, int32_t* kidx,
                                                          int64_t n) {
  return emit_lanes(compaction_lanes(m), m, k0, kidx, n);
}

// Lines contiguous in k (cs == 1): 8 steps at a time, the lines' nonzero masks or-ed.
__attribute__((target("avx2"))) int64_t nonzero_steps_rows_avx2(const float* p, int64_t rs,
                                                                int64_t h, int64_t kc,
                                                                int32_t* kidx) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t n = 0, k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 any = zero;
    for (int64_t l = 0; l < h; ++l)
      any = _mm256_or_ps(any, _mm256_cmp_ps(_mm256_loadu_ps(p + l * rs + k), zero, _CMP_NEQ_UQ));
    n = emit_steps(static_cast<uint32_t>(_mm256_movemask_ps(any)), k, kidx, n);
  }
  const int64_t tail = nonzero_steps_plain(p + k, rs, 1, h, kc - k, kidx + n);
  for (int64_t t = n; t < n + tail; ++t) kidx[t] += static_cast<int32_t>(k);
  return n + tail;
}

// One row's nonzeros, 8 steps at a time: the steps as emit_steps, the values moved to the front
// by the same lane permutation (8 lanes of each stored, the count kept).
__attribute__((target("avx2"))) int64_t row_nonzeros_avx2(const float* p, int64_t kc, int32_t* kidx,
                                                          float* vals) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t n = 0, k = 0;
  for (; k + 8 <= kc; k += 8) {
    // 32 values whose bits are all 0 (+0.0: an image's empty border) skipped at once; anything
    // else (a -0.0 too) goes through the test below
    if (k % 32 == 0 && k + 32 <= kc) {
      const __m256i bits = _mm256_or_si256(
          _mm256_or_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k + 8))),
          _mm256_or_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k + 16)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k + 24))));
      if (_mm256_testz_si256(bits, bits)) {
        k += 24;  // and 8 more by the loop
        continue;
      }
    }
    const __m256 v = _mm256_loadu_ps(p + k);
    const auto m = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ)));
    const __m256i lanes = compaction_lanes(m);
    _mm256_storeu_ps(vals + n, _mm256_permutevar8x32_ps(v, lanes));  // before n moves on
    n = emit_lanes(lanes, m, k, kidx, n);
  }
  return row_nonzeros_plain(p, k, kc, kidx, vals, n);
}

// The same, 16 steps at a time, for AVX-512F: the nonzero lanes' values and steps moved to the
// front by vcompressps / vpcompressd in registers (16 lanes of each stored, the count kept; a
// store stays within the lists' room since n <= k).
__attribute__((target("avx512f"))) int64_t row_nonzeros_avx512(const float* p, int64_t kc,
                                                               int32_t* kidx, float* vals) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t n = 0, k = 0;
  for (; k + 16 <= kc; k += 16) {
    const __m512 v = _mm512_loadu_ps(p + k);
    const __mmask16 m = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
    if (m == 0) continue;
    _mm512_storeu_ps(vals + n, _mm512_maskz_compress_ps(m, v));
    const __m512i steps = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(k)));
    _mm512_storeu_si512(kidx + n, _mm512_maskz_compress_epi32(m, steps));
    n += __builtin_popcount(m);
  }
  return row_nonzeros_plain(p, k, kc, kidx, vals, n);
}

// Steps ahead whose values nonzero_steps_cols_avx2 asks the cache for.
constexpr int64_t kScanAhead = 16;

// h <= 32 contiguous values per step (rs == 1): each step's nonzero test, over whole vectors and
// a last one masked to its lanes, one bit of an 8-step mask. A B panel read in place (a weight
// gradient g^T x with few rows reads the batch x where it lies) has its steps a row of B apart,
// one or two cache lines each that the hardware prefetcher does not foresee; this scan is their
// first touch, so it prefetches the step kScanAhead on (both ends of its h values), and the tile
// kernels then find the panel in L1. (256 x 30)^T x on real MNIST, medians of 300 calls in three
// alternating runs, 2 threads: 453-491 -> 248-286 us with x pushed out of L2 (8 steps ahead did as
// well, 32 a little worse), 93-131 -> 111-123 us with x in L2; a batch of 1024 (x 3.2 MB), 1
// thread 794-868 -> 519-767 us, 2 threads 438-476 -> 399-414 us. simple_net's batch of 256, read
// just before by the forward, shows no change through this machine's noise.
__attribute__((target("avx2"))) int64_t nonzero_steps_cols_avx2(const float* p, int64_t cs,
                                                                int64_t h, int64_t kc,
                                                                int32_t* kidx) {
  const __m256 zero = _mm256_setzero_ps();
  const int64_t whole = h / 8;
  const __m256i last = first_lanes(h % 8);
  int64_t n = 0, k = 0;
  for (; k < kc; k += 8) {
    const int64_t steps = std::min<int64_t>(8, kc - k);
    uint32_t m = 0;
    for (int64_t s = 0; s < steps; ++s) {
      const float* q = p + (k + s) * cs;
      if (k + s + kScanAhead < kc) {
        _mm_prefetch(reinterpret_cast<const char*>(q + kScanAhead * cs), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(q + kScanAhead * cs + h - 1), _MM_HINT_T0);
      }
      __m256 any = _mm256_cmp_ps(_mm256_maskload_ps(q + 8 * whole, last), zero, _CMP_NEQ_UQ);
      for (int64_t j = 0; j < whole; ++j)
        any = _mm256_or_ps(any, _mm256_cmp_ps(_mm256_loadu_ps(q + 8 * j), zero, _CMP_NEQ_UQ));
      m |= static_cast<uint32_t>(_mm256_movemask_ps(any) != 0) << s;
    }
    n = emit_steps(m, k, kidx, n);
  }
  return n;
}

// x - x is +0 for a finite x and NaN otherwise; or-ing the bits keeps any NaN's. Each run of
// contiguous values (a line when cs == 1, a step's h values when rs == 1) 8 at a time, the rest
// one by one.
__attribute__((target("avx2"))) bool all_finite_avx2(const float* p, int64_t rs, int64_t cs,
                                                     int64_t h, int64_t kc) {
  __m256 bad = _mm256_setzero_ps();
  float tail = 0.0f;
  const bool lines = cs == 1;
  const int64_t runs = lines ? h : kc, len = lines ? kc : h, step = lines ? rs : cs;
  for (int64_t r = 0; r < runs; ++r) {
    const float* q = p + r * step;
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {
      const __m256 x = _mm256_loadu_ps(q + i);
      bad = _mm256_or_ps(bad, _mm256_sub_ps(x, x));
    }
    for (; i < len; ++i) tail += q[i] - q[i];
  }
  return _mm256_testz_si256(_mm256_castps_si256(bad), _mm256_castps_si256(bad)) != 0 &&
         tail == 0.0f;
}

bool use_avx2(Isa isa) { return isa != Isa::generic; }

#endif

}  // namespace

template <class T>
int64_t nonzero_steps(const T* p, int64_t rs, int64_t cs, int64_t h, int64_t kc, int32_t* kidx) {
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (std::is_same_v<T, float>) {
    if (use_avx2(active_isa())) {
      if (cs == 1) return nonzero_steps_rows_avx2(p, rs, h, kc, kidx);
      if (rs == 1 && h <= 32) return nonzero_steps_cols_avx2(p, cs, h, kc, kidx);
    }
  }
#endif
  return nonzero_steps_plain(p, rs, cs, h, kc, kidx);
}

template <class T>
bool all_finite(const T* p, int64_t rs, int64_t cs, int64_t h, int64_t kc) {
  if (rs == 1 && cs == h) {  // a packed panel: one contiguous run
    cs = 1, rs = 0, kc *= h, h = 1;
  }
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (std::is_same_v<T, float>) {
    if (use_avx2(active_isa()) && (cs == 1 || rs == 1)) return all_finite_avx2(p, rs, cs, h, kc);
  }
#endif
  return all_finite_plain(p, rs, cs, h, kc);
}

int64_t row_nonzeros(const float* p, int64_t kc, int32_t* kidx, float* vals) {
#if defined(__x86_64__) || defined(__i386__)
  if (active_isa() == Isa::avx512) return row_nonzeros_avx512(p, kc, kidx, vals);
  if (use_avx2(active_isa())) return row_nonzeros_avx2(p, kc, kidx, vals);
#endif
  return row_nonzeros_plain(p, 0, kc, kidx, vals, 0);
}

template int64_t nonzero_steps<float>(const float*, int64_t, int64_t, int64_t, int64_t, int32_t*);
template int64_t nonzero_steps<double>(const double*, int64_t, int64_t, int64_t, int64_t, int32_t*);
template bool all_finite<float>(const float*, int64_t, int64_t, int64_t, int64_t);
template bool all_finite<double>(const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace ember::kernels
