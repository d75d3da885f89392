// im2col / col2im and the reference convolution loops; see conv.hpp.
#include "kernels/conv.hpp"

#include <algorithm>
#include <cstring>

namespace ember::kernels {
namespace {

// The output columns [lo, hi) whose input column ow*s - p + j*d lies inside [0, W).
void valid_range(int64_t Wo, int64_t W, int64_t s, int64_t p, int64_t offset, int64_t& lo,
                 int64_t& hi) {
  // iw = ow*s + (offset - p) >= 0  <=>  ow >= ceil((p - offset) / s)
  const int64_t shift = offset - p;
  lo = shift >= 0 ? 0 : (-shift + s - 1) / s;
  // iw <= W - 1  <=>  ow <= floor((W - 1 - shift) / s)
  hi = W - 1 - shift < 0 ? 0 : (W - 1 - shift) / s + 1;
  lo = std::min(lo, Wo);
  hi = std::clamp(hi, lo, Wo);
}

}  // namespace

template <class T>
void im2col_reference(const T* x, const ConvGeometry& g, T* cols, int64_t ld) {
  const int64_t Ho = g.Ho, Wo = g.Wo;
  for (int64_t c = 0; c < g.C; ++c) {
    const T* plane = x + c * g.H * g.W;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        int64_t lo, hi;
        valid_range(Wo, g.W, g.sw, g.pw, j * g.dw, lo, hi);
        const int64_t shift = j * g.dw - g.pw;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          T* __restrict out = row + oh * Wo;
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) {
            for (int64_t ow = 0; ow < Wo; ++ow) out[ow] = T(0);
            continue;
          }
          const T* __restrict in = plane + ih * g.W;  // input column of ow: ow*sw + shift
          for (int64_t ow = 0; ow < lo; ++ow) out[ow] = T(0);
          if (g.sw == 1) {
            const T* __restrict src = in + lo + shift;
            T* __restrict dst = out + lo;
            for (int64_t k = 0; k < hi - lo; ++k) dst[k] = src[k];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * g.sw + shift];
          }
          for (int64_t ow = hi; ow < Wo; ++ow) out[ow] = T(0);
        }
      }
    }
  }
}

template <class T>
void im2col(const T* x, const ConvGeometry& g, T* cols, int64_t ld, T* padded) {
  const int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw, Ho = g.Ho, Wo = g.Wo;
  // 1. the image with its zero border, so that step 2 needs no bounds checks
  const T* src = x;
  if (g.ph != 0 || g.pw != 0) {
    for (int64_t c = 0; c < g.C; ++c) {
      T* plane = padded + c * Hp * Wp;
      for (int64_t k = 0; k < g.ph * Wp; ++k) plane[k] = T(0);
      for (int64_t h = 0; h < g.H; ++h) {
        T* row = plane + (g.ph + h) * Wp;
        const T* in = x + (c * g.H + h) * g.W;
        for (int64_t w = 0; w < g.pw; ++w) row[w] = T(0);
        for (int64_t w = 0; w < g.W; ++w) row[g.pw + w] = in[w];
        for (int64_t w = g.pw + g.W; w < Wp; ++w) row[w] = T(0);
      }
      for (int64_t k = (g.ph + g.H) * Wp; k < Hp * Wp; ++k) plane[k] = T(0);
    }
    src = padded;
  }
  // 2. every row of cols is a strided 2-D window of the padded image
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* __restrict row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        const T* __restrict in = src + c * Hp * Wp + i * g.dh * Wp + j * g.dw;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          const T* __restrict r = in + oh * g.sh * Wp;
          T* __restrict out = row + oh * Wo;
          if (g.sw == 1) {
            for (int64_t ow = 0; ow < Wo; ++ow) out[ow] = r[ow];
          } else {
            for (int64_t ow = 0; ow < Wo; ++ow) out[ow] = r[ow * g.sw];
          }
        }
      }
}

template <class T>
void col2im_add(const T* cols, const ConvGeometry& g, T* dx, int64_t ld) {
  const int64_t Ho = g.Ho, Wo = g.Wo;
  for (int64_t c = 0; c < g.C; ++c) {
    T* plane = dx + c * g.H * g.W;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        int64_t lo, hi;
        valid_range(Wo, g.W, g.sw, g.pw, j * g.dw, lo, hi);
        const int64_t shift = j * g.dw - g.pw;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const T* src = row + oh * Wo;
          T* out = plane + ih * g.W;  // input column of ow: ow*sw + shift
          if (g.sw == 1) {
            T* o = out + lo + shift;
            const T* d = src + lo;
            for (int64_t k = 0; k < hi - lo; ++k) o[k] += d[k];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow * g.sw + shift] += src[ow];
          }
        }
      }
    }
  }
}

template <class T>
void conv2d_reference(const T* x, const T* w, const T* bias, int64_t N, int64_t O, int64_t groups,
                      const ConvGeometry& g, T* y) {
  const int64_t Og = O / groups, Cin = g.C * groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          T acc = bias != nullptr ? bias[o] : T(0);
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = oh * g.sh - g.ph + i * g.dh;
                const int64_t iw = ow * g.sw - g.pw + j * g.dw;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                const int64_t ci = (o / Og) * g.C + c;
                acc += x[((n * Cin + ci) * g.H + ih) * g.W + iw] *
                       w[((o * g.C + c) * g.kh + i) * g.kw + j];
              }
          y[((n * O + o) * g.Ho + oh) * g.Wo + ow] = acc;
        }
}

template <class T>
void conv2d_backward_reference(const T* x, const T* w, const T* dy, int64_t N, int64_t O,
                               int64_t groups, const ConvGeometry& g, T* dx, T* dw, T* dbias) {
  const int64_t Og = O / groups, Cin = g.C * groups;
  if (dx != nullptr) std::fill(dx, dx + N * Cin * g.H * g.W, T(0));
  if (dw != nullptr) std::fill(dw, dw + O * g.C * g.kh * g.kw, T(0));
  if (dbias != nullptr) std::fill(dbias, dbias + O, T(0));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const T d = dy[((n * O + o) * g.Ho + oh) * g.Wo + ow];
          if (dbias != nullptr) dbias[o] += d;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = oh * g.sh - g.ph + i * g.dh;
                const int64_t iw = ow * g.sw - g.pw + j * g.dw;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                const int64_t xi = ((n * Cin + (o / Og) * g.C + c) * g.H + ih) * g.W + iw;
                const int64_t wi = ((o * g.C + c) * g.kh + i) * g.kw + j;
                if (dx != nullptr) dx[xi] += d * w[wi];
                if (dw != nullptr) dw[wi] += d * x[xi];
              }
        }
}

template void im2col_reference<float>(const float*, const ConvGeometry&, float*, int64_t);
template void im2col_reference<double>(const double*, const ConvGeometry&, double*, int64_t);
template void im2col<float>(const float*, const ConvGeometry&, float*, int64_t, float*);
template void im2col<double>(const double*, const ConvGeometry&, double*, int64_t, double*);
template void col2im_add<float>(const float*, const ConvGeometry&, float*, int64_t);
template void col2im_add<double>(const double*, const ConvGeometry&, double*, int64_t);
template void conv2d_reference<float>(const float*, const float*, const float*, int64_t, int64_t,
                                      int64_t, const ConvGeometry&, float*);
template void conv2d_reference<double>(const double*, const double*, const double*, int64_t,
                                       int64_t, int64_t, const ConvGeometry&, double*);
template void conv2d_backward_reference<float>(const float*, const float*, const float*, int64_t,
                                               int64_t, int64_t, const ConvGeometry&, float*,
                                               float*, float*);
template void conv2d_backward_reference<double>(const double*, const double*, const double*,
                                                int64_t, int64_t, int64_t, const ConvGeometry&,
                                                double*, double*, double*);

}  // namespace ember::kernels
