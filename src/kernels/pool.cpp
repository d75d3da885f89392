// Pooling kernels; see pool.hpp.
#include "kernels/pool.hpp"

#include <algorithm>
#include <limits>

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

template <class T>
T max_of(T m, T v) {
  return takes_max(v, m) ? v : m;
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

template <class T>
void max_pool2d_2x2_plane(const T* x, int64_t H, int64_t W, T* y) {
  const int64_t Ho = H / 2, Wo = W / 2;
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* out = y + oh * Wo;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      out[ow] = max_of(max_of(max_of(r0[2 * ow], r0[2 * ow + 1]), r1[2 * ow]), r1[2 * ow + 1]);
    }
  }
}

template <class T>
void max_pool2d_2x2_backward_plane(const T* x, const T* dy, int64_t H, int64_t W, T* dx) {
  const int64_t Ho = H / 2, Wo = W / 2;
  // rows and a column left over by an odd size get no gradient
  if (H % 2 != 0) std::fill(dx + (H - 1) * W, dx + H * W, T(0));
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* d0 = dx + 2 * oh * W;
    T* d1 = d0 + W;
    const T* g = dy + oh * Wo;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int k = argmax4(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]);
      d0[2 * ow] = k == 0 ? g[ow] : T(0);
      d0[2 * ow + 1] = k == 1 ? g[ow] : T(0);
      d1[2 * ow] = k == 2 ? g[ow] : T(0);
      d1[2 * ow + 1] = k == 3 ? g[ow] : T(0);
    }
    if (W % 2 != 0) d0[W - 1] = d1[W - 1] = T(0);
  }
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

#define EMBER_POOL_INSTANTIATE(T)                                                               \
  template void max_pool2d_plane<T>(const T*, const PoolGeometry&, T*);                         \
  template void max_pool2d_backward_plane<T>(const T*, const T*, const PoolGeometry&, T*);      \
  template void max_pool2d_2x2_plane<T>(const T*, int64_t, int64_t, T*);                        \
  template void max_pool2d_2x2_backward_plane<T>(const T*, const T*, int64_t, int64_t, T*);     \
  template void avg_pool2d_plane<T>(const T*, const PoolGeometry&, T*);                         \
  template void avg_pool2d_backward_plane<T>(const T*, const PoolGeometry&, T*);                \
  template void adaptive_avg_pool2d_plane<T>(const T*, int64_t, int64_t, int64_t, int64_t, T*); \
  template void adaptive_avg_pool2d_backward_plane<T>(const T*, int64_t, int64_t, int64_t,      \
                                                      int64_t, T*);
EMBER_POOL_INSTANTIATE(float)
EMBER_POOL_INSTANTIATE(double)
#undef EMBER_POOL_INSTANTIATE

}  // namespace ember::kernels
