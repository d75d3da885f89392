// Pooling kernels; see pool.hpp.
#include "kernels/pool.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool_avx2.hpp"

namespace ember::kernels {
namespace {

// Whether v replaces the current maximum m (PyTorch's rule: larger, or NaN).
template <class T>
bool takes_max(T v, T m) {
  return v > m || v != v;
}

// The flat index in [H, W] of window (oh, ow)'s maximum.
template <class T>
int64_t window_argmax(const T* x, const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  const int64_t hs = std::max<int64_t>(h0, 0), ws = std::max<int64_t>(w0, 0);
  const int64_t he = std::min(h0 + g.kh, g.H), we = std::min(w0 + g.kw, g.W);
  int64_t best = hs * g.W + ws;
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t h = hs; h < he; ++h)
    for (int64_t w = ws; w < we; ++w) {
      const T v = x[h * g.W + w];
      if (takes_max(v, m)) {
        m = v;
        best = h * g.W + w;
      }
    }
  return best;
}

// The index (0..3, row-major) of the maximum of a 2x2 window a b / c d, by the same rule.
template <class T>
int argmax4(T a, T b, T c, T d) {
  int k = 0;
  T m = a;
  if (takes_max(b, m)) m = b, k = 1;
  if (takes_max(c, m)) m = c, k = 2;
  if (takes_max(d, m)) k = 3;
  return k;
}

}  // namespace

template <class T>
void max_pool2d_plane(const T* x, const PoolGeometry& g, T* y) {
  for (int64_t oh = 0; oh < g.Ho; ++oh)
    for (int64_t ow = 0; ow < g.Wo; ++ow) y[oh * g.Wo + ow] = x[window_argmax(x, g, oh, ow)];
}

template <class T>
void max_pool2d_backward_plane(const T* x, const T* dy, const PoolGeometry& g, T* dx) {
  std::fill(dx, dx + g.H * g.W, T(0));
  for (int64_t oh = 0; oh < g.Ho; ++oh)
    for (int64_t ow = 0; ow < g.Wo; ++ow) dx[window_argmax(x, g, oh, ow)] += dy[oh * g.Wo + ow];
}

namespace {

// The 2x2 kernels on 8 outputs at a time (AVX2), float only. A row pair's 16 inputs split into
// even and odd columns with one shuffle each; the lanes come out permuted ([0 1 4 5 | 2 3 6 7]
// of the outputs), which the backward's unpack undoes for free and the forward fixes with one
// cross-lane permute. The comparisons are those of takes_max, in the same order.

// Loads 16 consecutive floats of which the first n (<= 16) exist, the rest as 0.
struct Pair16 {
  __m256 lo, hi;
};
__attribute__((target("avx2,fma"))) inline Pair16 load16(const float* p, int64_t n) {
  if (n == 16) return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
  return {_mm256_maskload_ps(p, first_lanes(n)), _mm256_maskload_ps(p + 8, first_lanes(n - 8))};
}
__attribute__((target("avx2,fma"))) inline void store16(float* p, int64_t n, __m256 lo, __m256 hi) {
  if (n == 16) {
    _mm256_storeu_ps(p, lo);
    _mm256_storeu_ps(p + 8, hi);
    return;
  }
  _mm256_maskstore_ps(p, first_lanes(n), lo);
  _mm256_maskstore_ps(p + 8, first_lanes(n - 8), hi);
}

// All Ho x Wo outputs, 8 at a time along each row (the last group of a row masked). When `code`
// is not null it also gets, per output, which of the window's a b / c d won (0..3).
__attribute__((target("avx2,fma"))) void max_pool2d_2x2_avx2(const float* x, int64_t W, int64_t Ho,
                                                             int64_t Wo, float* y,
                                                             std::uint8_t* code) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const float* r1 = r0 + W;
    float* out = y + oh * Wo;
    for (int64_t ow = 0; ow < Wo; ow += 8) {
      const int64_t n = std::min<int64_t>(8, Wo - ow);
      const Pair16 ra = load16(r0 + 2 * ow, 2 * n), rb = load16(r1 + 2 * ow, 2 * n);
      const __m256 a0 = ra.lo, a1 = ra.hi, b0 = rb.lo, b1 = rb.hi;
      const __m256 a = _mm256_shuffle_ps(a0, a1, 0x88);
      const __m256 b = _mm256_shuffle_ps(a0, a1, 0xDD);
      const __m256 c = _mm256_shuffle_ps(b0, b1, 0x88);
      const __m256 d = _mm256_shuffle_ps(b0, b1, 0xDD);
      __m256i k;
      const __m256 m = pool4_avx2(a, b, c, d, k);
      const __m256 fixed = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8));
      if (n == 8) {
        _mm256_storeu_ps(out + ow, fixed);
      } else {
        _mm256_maskstore_ps(out + ow, first_lanes(n), fixed);
      }
      if (code != nullptr)
        store_codes(_mm256_permute4x64_epi64(k, 0xD8), static_cast<int>(n), code + oh * Wo + ow);
    }
  }
}

// dx of the 2x2 pooling from the winners' codes, 8 outputs at a time; rows of x past 2*Ho and a
// last odd column are the caller's.
__attribute__((target("avx2,fma"))) void max_pool2d_2x2_backward_avx2(const std::uint8_t* code,
                                                                      const float* dy, int64_t W,
                                                                      int64_t Ho, int64_t Wo,
                                                                      float* dx) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    float* d0 = dx + 2 * oh * W;
    float* d1 = d0 + W;
    const float* gy = dy + oh * Wo;
    const std::uint8_t* cr = code + oh * Wo;
    for (int64_t ow = 0; ow < Wo; ow += 8) {
      const int64_t n = std::min<int64_t>(8, Wo - ow);
      // codes and gradients in the lane order of the forward's shuffles, [0 1 4 5 | 2 3 6 7]
      const __m256i k = _mm256_permute4x64_epi64(load_codes(cr + ow, static_cast<int>(n)), 0xD8);
      const __m256 gn =
          n == 8 ? _mm256_loadu_ps(gy + ow) : _mm256_maskload_ps(gy + ow, first_lanes(n));
      const __m256 g = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(gn), 0xD8));
      __m256 ga, gb, gc, gd;
      unpool4_avx2(g, k, ga, gb, gc, gd);
      store16(d0 + 2 * ow, 2 * n, _mm256_unpacklo_ps(ga, gb), _mm256_unpackhi_ps(ga, gb));
      store16(d1 + 2 * ow, 2 * n, _mm256_unpacklo_ps(gc, gd), _mm256_unpackhi_ps(gc, gd));
    }
    if (W % 2 != 0) d0[W - 1] = d1[W - 1] = 0.0f;
  }
}

// Columns [ow0, Wo) of the 2x2 kernels, in plain C++ (the generic path and the AVX2 path's tail).
template <class T>
void max_pool2d_2x2_cols(const T* x, int64_t W, int64_t Ho, int64_t Wo, int64_t ow0, T* y,
                         std::uint8_t* code) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    for (int64_t ow = ow0; ow < Wo; ++ow) {
      const T v[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
      const int k = argmax4(v[0], v[1], v[2], v[3]);
      y[oh * Wo + ow] = v[k];
      if (code != nullptr) code[oh * Wo + ow] = static_cast<std::uint8_t>(k);
    }
  }
}

template <class T>
void max_pool2d_2x2_backward_cols(const std::uint8_t* code, const T* dy, int64_t W, int64_t Ho,
                                  int64_t Wo, int64_t ow0, T* dx) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    T* d0 = dx + 2 * oh * W;
    T* d1 = d0 + W;
    const T* g = dy + oh * Wo;
    const std::uint8_t* cr = code + oh * Wo;
    for (int64_t ow = ow0; ow < Wo; ++ow) {
      const int k = cr[ow];
      d0[2 * ow] = k == 0 ? g[ow] : T(0);
      d0[2 * ow + 1] = k == 1 ? g[ow] : T(0);
      d1[2 * ow] = k == 2 ? g[ow] : T(0);
      d1[2 * ow + 1] = k == 3 ? g[ow] : T(0);
    }
    if (W % 2 != 0) d0[W - 1] = d1[W - 1] = T(0);
  }
}

}  // namespace

template <class T>
void max_pool2d_2x2_plane(const T* x, int64_t H, int64_t W, T* y, std::uint8_t* code) {
  const int64_t Ho = H / 2, Wo = W / 2;
  int64_t done = 0;
  if constexpr (std::is_same_v<T, float>) {
    if (active_isa() != Isa::generic) {
      done = Wo;
      max_pool2d_2x2_avx2(x, W, Ho, Wo, y, code);
    }
  }
  if (done < Wo) max_pool2d_2x2_cols(x, W, Ho, Wo, done, y, code);
}

template <class T>
void max_pool2d_2x2_backward_plane(const std::uint8_t* code, const T* dy, int64_t H, int64_t W,
                                   T* dx) {
  const int64_t Ho = H / 2, Wo = W / 2;
  // rows and a column left over by an odd size get no gradient
  if (H % 2 != 0) std::fill(dx + (H - 1) * W, dx + H * W, T(0));
  int64_t done = 0;
  if constexpr (std::is_same_v<T, float>) {
    if (active_isa() != Isa::generic) {
      max_pool2d_2x2_backward_avx2(code, dy, W, Ho, Wo, dx);
      done = Wo;
    }
  }
  if (done < Wo) max_pool2d_2x2_backward_cols(code, dy, W, Ho, Wo, done, dx);
}

template <class T>
void avg_pool2d_plane(const T* x, const PoolGeometry& g, T* y) {
  for (int64_t oh = 0; oh < g.Ho; ++oh)
    for (int64_t ow = 0; ow < g.Wo; ++ow) {
      const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
      const int64_t he = std::min(h0 + g.kh, g.H + g.ph), we = std::min(w0 + g.kw, g.W + g.pw);
      const int64_t count = (he - h0) * (we - w0);
      T acc = T(0);
      for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(he, g.H); ++h)
        for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(we, g.W); ++w)
          acc += x[h * g.W + w];
      y[oh * g.Wo + ow] = acc / static_cast<T>(count);
    }
}

template <class T>
void avg_pool2d_backward_plane(const T* dy, const PoolGeometry& g, T* dx) {
  std::fill(dx, dx + g.H * g.W, T(0));
  for (int64_t oh = 0; oh < g.Ho; ++oh)
    for (int64_t ow = 0; ow < g.Wo; ++ow) {
      const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
      const int64_t he = std::min(h0 + g.kh, g.H + g.ph), we = std::min(w0 + g.kw, g.W + g.pw);
      const T share = dy[oh * g.Wo + ow] / static_cast<T>((he - h0) * (we - w0));
      for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(he, g.H); ++h)
        for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(we, g.W); ++w)
          dx[h * g.W + w] += share;
    }
}

namespace {
int64_t start_index(int64_t i, int64_t in, int64_t out) { return i * in / out; }
int64_t end_index(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }
}  // namespace

template <class T>
void adaptive_avg_pool2d_plane(const T* x, int64_t H, int64_t W, int64_t Ho, int64_t Wo, T* y) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const int64_t hs = start_index(oh, H, Ho), he = end_index(oh, H, Ho);
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t ws = start_index(ow, W, Wo), we = end_index(ow, W, Wo);
      T acc = T(0);
      for (int64_t h = hs; h < he; ++h)
        for (int64_t w = ws; w < we; ++w) acc += x[h * W + w];
      y[oh * Wo + ow] = acc / static_cast<T>((he - hs) * (we - ws));
    }
  }
}

template <class T>
void adaptive_avg_pool2d_backward_plane(const T* dy, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                        T* dx) {
  std::fill(dx, dx + H * W, T(0));
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const int64_t hs = start_index(oh, H, Ho), he = end_index(oh, H, Ho);
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t ws = start_index(ow, W, Wo), we = end_index(ow, W, Wo);
      const T share = dy[oh * Wo + ow] / static_cast<T>((he - hs) * (we - ws));
      for (int64_t h = hs; h < he; ++h)
        for (int64_t w = ws; w < we; ++w) dx[h * W + w] += share;
    }
  }
}

#define EMBER_POOL_INSTANTIATE(T)                                                                 \
  template void max_pool2d_plane<T>(const T*, const PoolGeometry&, T*);                           \
  template void max_pool2d_backward_plane<T>(const T*, const T*, const PoolGeometry&, T*);        \
  template void max_pool2d_2x2_plane<T>(const T*, int64_t, int64_t, T*, std::uint8_t*);           \
  template void max_pool2d_2x2_backward_plane<T>(const std::uint8_t*, const T*, int64_t, int64_t, \
                                                 T*);                                             \
  template void avg_pool2d_plane<T>(const T*, const PoolGeometry&, T*);                           \
  template void avg_pool2d_backward_plane<T>(const T*, const PoolGeometry&, T*);                  \
  template void adaptive_avg_pool2d_plane<T>(const T*, int64_t, int64_t, int64_t, int64_t, T*);   \
  template void adaptive_avg_pool2d_backward_plane<T>(const T*, int64_t, int64_t, int64_t,        \
                                                      int64_t, T*);
EMBER_POOL_INSTANTIATE(float)
EMBER_POOL_INSTANTIATE(double)
#undef EMBER_POOL_INSTANTIATE

}  // namespace ember::kernels
