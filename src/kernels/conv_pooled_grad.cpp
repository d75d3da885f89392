// The weight gradient of a 3x3 stride-1 convolution from its pooled gradient; see
// conv_pooled_grad.hpp.
#include "kernels/conv_pooled_grad.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool_avx2.hpp"

namespace ember::kernels {
namespace {

// One image's channels-last copy of the input: [Hp][Wp][C8], zero outside the image and past C.
// The sums (the partial): [O][C8 / 8][9][8] (output channel, block of 8 input channels, tap,
// lane), then the bias gradient's [O][8] (lane l: the windows t = l mod 8, in order).
struct Layout {
  int64_t Hp, Wp, C8, PH, PW;  // padded size, channels rounded to 8, pooled size
  explicit Layout(const WinogradGeometry& g)
      : Hp(g.H + 2 * g.ph),
        Wp(g.W + 2 * g.pw),
        C8((g.C + 7) / 8 * 8),
        PH(g.Ho() / 2),
        PW(g.Wo() / 2) {}
  int64_t image() const { return Hp * Wp * C8; }  // floats of the copy
  int64_t copy() const { return (image() + 15) / 16 * 16; }  // the scratch's room for one
  // where the taps of window (r, j)'s element `code` start: its 3x3 neighbourhood in the copy
  // is there + (ky Wp + kx) C8
  int64_t element(int64_t r, int64_t j, int code) const {
    return ((2 * r + code / 2) * Wp + 2 * j + code % 2) * C8;
  }
};

// One output channel's windows of one image, as the taps loops read them: the n windows whose
// gradient is not 0 (ReLU stops a quarter of the MNIST CNN's), in order, each with its gradient
// and where its element's taps start (Layout::element), in int32. (A window left out adds only
// 0 * x terms, which would be NaN only where x is infinite: see the header.)
struct Windows {
  std::vector<float> g;
  std::vector<std::int32_t> at;
  int64_t n = 0;
};

// An image's lists, one per output channel, and base: element(r, j, 0) of window t = r PW + j.
struct Lists {
  std::vector<std::int32_t> base;
  std::vector<Windows> of;
};

// This thread's Lists, sized for the call's planes and O channels (grow-only), base filled.
Lists& lists(const Layout& L, int64_t O) {
  thread_local Lists l;
  const int64_t plane = L.PH * L.PW, room = (plane + 7) / 8 * 8;
  if (static_cast<int64_t>(l.base.size()) < room) l.base.resize(static_cast<size_t>(room));
  if (static_cast<int64_t>(l.of.size()) < O) l.of.resize(static_cast<size_t>(O));
  for (Windows& w : l.of)
    if (static_cast<int64_t>(w.g.size()) < room) {
      w.g.resize(static_cast<size_t>(room));
      w.at.resize(static_cast<size_t>(room));
    }
  for (int64_t t = 0; t < room; ++t)
    l.base[t] = t < plane ? static_cast<std::int32_t>(L.element(t / L.PW, t % L.PW, 0)) : 0;
  return l;
}

// The zero border of the copy: rows above and below the image, columns left and right of it.
void zero_border(const WinogradGeometry& g, const Layout& L, float* xs) {
  const int64_t row = L.Wp * L.C8;
  std::fill(xs, xs + g.ph * row, 0.0f);
  std::fill(xs + (g.ph + g.H) * row, xs + L.Hp * row, 0.0f);
  for (int64_t h = g.ph; h < g.ph + g.H; ++h) {
    std::fill(xs + h * row, xs + h * row + g.pw * L.C8, 0.0f);
    std::fill(xs + h * row + (g.pw + g.W) * L.C8, xs + (h + 1) * row, 0.0f);
  }
}

// ---- plain loops (a CPU without AVX2) ----

void channels_last_generic(const float* x, const WinogradGeometry& g, const Layout& L, float* xs) {
  zero_border(g, L, xs);
  for (int64_t h = 0; h < g.H; ++h)
    for (int64_t w = 0; w < g.W; ++w) {
      float* dst = xs + ((h + g.ph) * L.Wp + w + g.pw) * L.C8;
      for (int64_t c = 0; c < L.C8; ++c) dst[c] = c < g.C ? x[(c * g.H + h) * g.W + w] : 0.0f;
    }
}

// The windows of one image and output channel (gp, code, relu: its pooled planes) into w, and
// their gradients' sums into lanes[8]: lane l the windows t = l mod 8 in order, from +0, a 0
// added for each place past the plane in its last group of 8 (as the AVX2 version's vectors).
void list_generic(const float* gp, const std::uint8_t* code, const float* relu, const Layout& L,
                  const std::int32_t* base, Windows& w, float* lanes) {
  const int64_t plane = L.PH * L.PW;
  for (int l = 0; l < 8; ++l) lanes[l] = 0.0f;
  for (int64_t t0 = 0; t0 < plane; t0 += 8)
    for (int l = 0; l < 8; ++l) {
      const int64_t t = t0 + l;
      lanes[l] += t < plane && (relu == nullptr || relu[t] > 0.0f) ? gp[t] : 0.0f;
    }
  w.n = 0;
  for (int64_t t = 0; t < plane; ++t) {
    const float v = relu == nullptr || relu[t] > 0.0f ? gp[t] : 0.0f;
    if (v == 0.0f) continue;  // (a NaN is kept)
    w.g[w.n] = v;
    w.at[w.n++] = static_cast<std::int32_t>(base[t] + L.element(0, 0, code[t] & 3));
  }
}

// Channels cb .. cb + 7: the 9 taps' sums over the listed windows, in order, into sums[9][8]
// (added to them when add).
void taps_generic(const float* xs, const Windows& w, const Layout& L, int64_t cb, bool add,
                  float* sums) {
  float acc[9][8] = {};
  for (int64_t t = 0; t < w.n; ++t) {
    const float* p = xs + w.at[t] + cb;
    for (int k = 0; k < 9; ++k)
      for (int l = 0; l < 8; ++l) acc[k][l] += w.g[t] * p[((k / 3) * L.Wp + k % 3) * L.C8 + l];
  }
  for (int k = 0; k < 9; ++k)
    for (int l = 0; l < 8; ++l) sums[8 * k + l] = add ? sums[8 * k + l] + acc[k][l] : acc[k][l];
}

// dx's copy: for the listed windows in order, each tap's 8 channels cb .. cb + 7 of the input
// gradient plus the window's gradient times the output channel's weights there (wt: its [9][C8],
// tap by tap). The same places taps_generic reads: the transposed convolution.
void scatter_generic(float* dxs, const Windows& w, const Layout& L, const float* wt, int64_t cb) {
  for (int64_t t = 0; t < w.n; ++t) {
    float* p = dxs + w.at[t] + cb;
    for (int k = 0; k < 9; ++k)
      for (int l = 0; l < 8; ++l)
        p[((k / 3) * L.Wp + k % 3) * L.C8 + l] += w.g[t] * wt[k * L.C8 + cb + l];
  }
}

// The inside of the channels-last copy back to dx [C][H][W] (channels_last's inverse).
void channels_first_generic(const float* xs, const WinogradGeometry& g, const Layout& L,
                            float* dx) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      for (int64_t w = 0; w < g.W; ++w)
        dx[(c * g.H + h) * g.W + w] = xs[((h + g.ph) * L.Wp + w + g.pw) * L.C8 + c];
}

// ---- AVX2 + FMA ----

// Row by row, 8 channels by 8 columns at a time through an in-register transpose (a last,
// partial block of columns overlapping the one before; rows narrower than 8 one by one).
__attribute__((target("avx2"))) void channels_last_avx2(const float* x, const WinogradGeometry& g,
                                                        const Layout& L, float* xs) {
  zero_border(g, L, xs);
  for (int64_t h = 0; h < g.H; ++h)
    for (int64_t cb = 0; cb < L.C8; cb += 8) {
      const float* src[8];
      for (int l = 0; l < 8; ++l) src[l] = cb + l < g.C ? x + ((cb + l) * g.H + h) * g.W : nullptr;
      float* dst = xs + ((h + g.ph) * L.Wp + g.pw) * L.C8 + cb;  // column w at dst + w C8
      if (g.W < 8) {
        for (int64_t w = 0; w < g.W; ++w)
          for (int l = 0; l < 8; ++l) dst[w * L.C8 + l] = src[l] != nullptr ? src[l][w] : 0.0f;
        continue;
      }
      for (int64_t w0 = 0;; w0 += 8) {
        w0 = std::min(w0, g.W - 8);
        __m256 r[8], c[8];
        for (int l = 0; l < 8; ++l)
          r[l] = src[l] != nullptr ? _mm256_loadu_ps(src[l] + w0) : _mm256_setzero_ps();
        transpose8x8(r, c);
        for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + (w0 + k) * L.C8, c[k]);
        if (w0 == g.W - 8) break;
      }
    }
}

// As list_generic, 8 windows at a time: the codes' offsets from a table in a register.
__attribute__((target("avx2,fma"))) void list_avx2(const float* gp, const std::uint8_t* code,
                                                   const float* relu, const Layout& L,
                                                   const std::int32_t* base, Windows& w,
                                                   float* lanes) {
  const __m256i table = _mm256_setr_epi32(0, static_cast<int>(L.element(0, 0, 1)),
                                          static_cast<int>(L.element(0, 0, 2)),
                                          static_cast<int>(L.element(0, 0, 3)), 0, 0, 0, 0);
  __m256 sum = _mm256_setzero_ps();
  w.n = list_windows_avx2(gp, code, relu, L.PH * L.PW, base, table, w.g.data(), w.at.data(), sum);
  _mm256_storeu_ps(lanes, sum);
}

// As taps_generic: per window its gradient broadcast and 9 FMAs, each with its load; the 9 sums
// in registers.
__attribute__((target("avx2,fma"))) void taps_avx2(const float* xs, const Windows& w,
                                                   const Layout& L, int64_t cb, bool add,
                                                   float* sums) {
  __m256 acc[9];  // in registers: every loop over it fully unrolled
#pragma GCC unroll 9
  for (int k = 0; k < 9; ++k) acc[k] = _mm256_setzero_ps();
  const int64_t row = L.Wp * L.C8;
  const float* g = w.g.data();
  const std::int32_t* at = w.at.data();
  for (int64_t t = 0; t < w.n; ++t) {
    const __m256 v = _mm256_broadcast_ss(g + t);
    const float* p = xs + at[t] + cb;
#pragma GCC unroll 9
    for (int k = 0; k < 9; ++k)
      acc[k] = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + (k / 3) * row + (k % 3) * L.C8), acc[k]);
  }
#pragma GCC unroll 9
  for (int k = 0; k < 9; ++k)
    _mm256_storeu_ps(sums + 8 * k,
                     add ? _mm256_add_ps(_mm256_loadu_ps(sums + 8 * k), acc[k]) : acc[k]);
}

// As scatter_generic: the output channel's 9 weight vectors in registers, per window its gradient
// broadcast and 9 read-modify-writes of the copy (a load, an FMA, a store each). The sizes, the
// count and the lists' pointers are read into locals first: the stores could alias w and L, so
// the loop would otherwise reload them after each one.
__attribute__((target("avx2,fma"))) void scatter_avx2(float* dxs, const Windows& w, const Layout& L,
                                                      const float* wt, int64_t cb) {
  const int64_t C8 = L.C8, row = L.Wp * C8, n = w.n;
  __m256 wk[9];  // in registers: every loop over it fully unrolled
#pragma GCC unroll 9
  for (int k = 0; k < 9; ++k) wk[k] = _mm256_loadu_ps(wt + k * C8 + cb);
  const float* g = w.g.data();
  const std::int32_t* at = w.at.data();
  for (int64_t t = 0; t < n; ++t) {
    const __m256 v = _mm256_broadcast_ss(g + t);
    float* p = dxs + at[t] + cb;
#pragma GCC unroll 9
    for (int k = 0; k < 9; ++k) {
      float* q = p + (k / 3) * row + (k % 3) * C8;
      _mm256_storeu_ps(q, _mm256_fmadd_ps(v, wk[k], _mm256_loadu_ps(q)));
    }
  }
}

// As channels_first_generic: row by row, 8 columns by 8 channels at a time through an in-register
// transpose (a last, partial block of columns overlapping the one before; rows narrower than 8
// one by one), the lanes of channels past C left out.
__attribute__((target("avx2"))) void channels_first_avx2(const float* xs, const WinogradGeometry& g,
                                                         const Layout& L, float* dx) {
  for (int64_t h = 0; h < g.H; ++h)
    for (int64_t cb = 0; cb < L.C8; cb += 8) {
      const float* src = xs + ((h + g.ph) * L.Wp + g.pw) * L.C8 + cb;  // column w at src + w C8
      const int64_t lanes = std::min<int64_t>(8, g.C - cb);
      float* dst = dx + (cb * g.H + h) * g.W;  // channel cb + l at dst + l H W
      if (g.W < 8) {
        for (int l = 0; l < lanes; ++l)
          for (int64_t w = 0; w < g.W; ++w) dst[l * g.H * g.W + w] = src[w * L.C8 + l];
        continue;
      }
      for (int64_t w0 = 0;; w0 += 8) {
        w0 = std::min(w0, g.W - 8);
        __m256 r[8], c[8];
        for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(src + (w0 + k) * L.C8);
        transpose8x8(r, c);
        for (int l = 0; l < lanes; ++l) _mm256_storeu_ps(dst + l * g.H * g.W + w0, c[l]);
        if (w0 == g.W - 8) break;
      }
    }
}

}  // namespace

// The copies start on 64-byte boundaries, so that no tap's 8-channel load straddles two cache
// lines (C8 floats a pixel, a multiple of 32 bytes): 16 floats of room for that, and each copy
// rounded up to 16 floats (Layout::copy).

int64_t pooled_conv_grad_scratch_size(const WinogradGeometry& g) {
  const Layout L(g);
  return 2 * L.copy() + 16;
}

int64_t pooled_conv_grad_weights_size(const WinogradGeometry& g) { return g.O * 9 * Layout(g).C8; }

void pooled_conv_grad_weights(const float* w, const WinogradGeometry& g, float* wt) {
  const int64_t C8 = Layout(g).C8;
  std::fill(wt, wt + g.O * 9 * C8, 0.0f);
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int k = 0; k < 9; ++k) wt[(o * 9 + k) * C8 + c] = w[(o * g.C + c) * 9 + k];
}

int64_t pooled_conv_grad_partial_size(const WinogradGeometry& g) {
  return g.O * Layout(g).C8 * 9 + g.O * 8;
}

void pooled_conv_grad(const float* x, const float* wt, const float* dy, const std::uint8_t* code,
                      const float* relu_out, const WinogradGeometry& g, int64_t n, float* partial,
                      bool accumulate, float* dx, float* scratch) {
  const Layout L(g);
  const bool avx2 = active_isa() != Isa::generic;
  const int64_t plane = L.PH * L.PW, image = g.C * g.H * g.W;
  Lists& ls = lists(L, g.O);
  const auto misalign = reinterpret_cast<std::uintptr_t>(scratch) % 64 / sizeof(float);
  float* const xs = scratch + (misalign != 0 ? 16 - misalign : 0);  // scratch_size's 16 floats
  float* const dxs = xs + L.copy();
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = partial != nullptr ? x + i * image : nullptr;
    if (xi != nullptr) {
      if (avx2) {
        channels_last_avx2(xi, g, L, xs);
      } else {
        channels_last_generic(xi, g, L, xs);
      }
    }
    if (dx != nullptr) std::fill(dxs, dxs + L.image(), 0.0f);
    const bool add = accumulate || i > 0;
    const int64_t next = xi != nullptr && i + 1 < n ? image : 0;  // the next image's input, ahead
    const PrefetchShares ahead(xi != nullptr ? xi + image : nullptr, next, g.O);
    // the image's dx, written at the end (channels_first): its lines asked for now, so that the
    // stores then do not wait on the memory (4% of the CNN's profile without)
    const PrefetchShares<true> out(dx != nullptr ? dx + i * image : nullptr,
                                   dx != nullptr ? image : 0, g.O);
    // Three passes over the output channels: their windows listed, then dw's taps over the input's
    // copy, then dx's scatter into its copy, so that each pass has its copy in L1 to itself (one
    // channel at a time, taps then scatter, the two copies evicted each other: this order takes
    // 0.86-0.98x the time on a 256-image batch). The same sums in the same order.
    for (int64_t o = 0; o < g.O; ++o) {
      const int64_t at = (i * g.O + o) * plane;
      const float* relu = relu_out != nullptr ? relu_out + at : nullptr;
      float lanes[8];
      if (avx2) {
        list_avx2(dy + at, code + at, relu, L, ls.base.data(), ls.of[o], lanes);
      } else {
        list_generic(dy + at, code + at, relu, L, ls.base.data(), ls.of[o], lanes);
      }
      if (partial == nullptr) continue;
      float* b = partial + g.O * L.C8 * 9 + 8 * o;
      for (int l = 0; l < 8; ++l) b[l] = add ? b[l] + lanes[l] : lanes[l];
    }
    for (int64_t o = 0; o < g.O && partial != nullptr; ++o) {
      ahead.share(o);
      for (int64_t cb = 0; cb < L.C8; cb += 8) {
        float* s = partial + (o * L.C8 + cb) * 9;
        if (avx2) {
          taps_avx2(xs, ls.of[o], L, cb, add, s);
        } else {
          taps_generic(xs, ls.of[o], L, cb, add, s);
        }
      }
    }
    for (int64_t o = 0; o < g.O && dx != nullptr; ++o) {
      out.share(o);
      const float* wo = wt + o * 9 * L.C8;  // the output channel's [9][C8]
      for (int64_t cb = 0; cb < L.C8; cb += 8) {
        if (avx2) {
          scatter_avx2(dxs, ls.of[o], L, wo, cb);
        } else {
          scatter_generic(dxs, ls.of[o], L, wo, cb);
        }
      }
    }
    if (dx == nullptr) continue;
    if (avx2) {
      channels_first_avx2(dxs, g, L, dx + i * image);
    } else {
      channels_first_generic(dxs, g, L, dx + i * image);
    }
  }
}

void pooled_conv_grad_finish(const float* partial, const WinogradGeometry& g, float* dw,
                             float* db) {
  const int64_t C8 = Layout(g).C8;
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int k = 0; k < 9; ++k)
        dw[(o * g.C + c) * 9 + k] = partial[(o * C8 + c / 8 * 8) * 9 + 8 * k + c % 8];
  if (db == nullptr) return;
  for (int64_t o = 0; o < g.O; ++o) {
    const float* l = partial + g.O * C8 * 9 + 8 * o;
    db[o] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
  }
}

}  // namespace ember::kernels
