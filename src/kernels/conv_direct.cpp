// Direct 3x3 convolution of a one-channel input; see conv_direct.hpp.
//
// Every image is first copied into a zero-bordered plane whose rows are Wq = round16(Wo) + 2 wide,
// so the 8-wide loads of the shifted rows never need bounds checks (the extra columns are zero;
// round16 for the 16 columns a step of the pooled forward and of the weight gradient, round8
// would do for the plain forward). One more zero row below lets the weight gradient step a last
// single output row as a pair.
//
// The AVX2 pooled forward and the AVX2 plain weight gradient take the plane split by column
// parity (pad_images_split): each row holds its even padded columns, then its odd ones. A vector
// of the even or odd outputs of 8 consecutive 2x2 windows then meets its 9 taps as whole-vector
// loads, so the windows' a b / c d come out of the FMAs in pool order, with no shuffles. The AVX2
// pooled weight gradient goes window by window instead (pooled_backward_avx2): only the windows
// whose gradient is not 0, each its element's 3x3 neighbourhood from the plain plane.
// Plain: a partial last vector of outputs is stored, and dy loaded, through a lane mask. Pooled
// (AVX2): a row's partial last group of pooled values is stored whole where its plane goes on
// (the next row rewrites the extra places), in pieces of 4, 2 and 1 at the plane's end.
#include "kernels/conv_direct.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"
#include "kernels/pool_avx2.hpp"

namespace ember::kernels {
namespace {

struct Plane {
  int64_t Hq, Wq;
  explicit Plane(const DirectGeometry& g) : Hq(g.H + 2 * g.ph), Wq((g.Wo() + 15) / 16 * 16 + 2) {}
  int64_t size() const { return (Hq + 1) * Wq; }  // the padded image and a zero row
  int64_t half() const { return Wq / 2; }         // split rows: where the odd columns start
};

// The n images into their zero-bordered planes (padded[n][Hq][Wq]).
// kVec: the rows by copy_row (inline AVX2 copies) rather than a memcpy call per row.
template <bool kVec>
[[gnu::always_inline]] inline void pad_images(const float* x, const DirectGeometry& g, int64_t n,
                                              float* padded) {
  const Plane q(g);
  std::fill(padded, padded + n * q.size(), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t h = 0; h < g.H; ++h) {
      float* dst = padded + i * q.size() + (h + g.ph) * q.Wq + g.pw;
      const float* src = x + (i * g.H + h) * g.W;
      if constexpr (kVec) {
        copy_row(dst, src, g.W);
      } else {
        std::memcpy(dst, src, sizeof(float) * g.W);
      }
    }
  }
}

// Columns c .. c + 7 of an image row of W floats at `row`, 0 outside it: a whole load when all
// lie inside, else a masked one (c may lie before the row: its address is formed as an integer,
// and the lanes outside are not accessed).
__attribute__((target("avx2"))) inline __m256 image_columns(const float* row, int64_t c,
                                                            int64_t W) {
  if (c >= 0 && c + 8 <= W) return _mm256_loadu_ps(row + c);
  const std::uintptr_t at =
      reinterpret_cast<std::uintptr_t>(row) + static_cast<std::uintptr_t>(c) * sizeof(float);
  return _mm256_maskload_ps(reinterpret_cast<const float*>(at), columns_inside(c, W));
}

// The n images into split planes (AVX2): padded column p of a row at p / 2 when p is even, at
// half() + p / 2 when odd; all else zero. 16 padded columns a step: two loads of the image row
// (image_columns: masked only where they reach past it) and one deinterleave. Wq = 16m + 2: the
// last two columns one by one.
__attribute__((target("avx2"))) void pad_images_split(const float* x, const DirectGeometry& g,
                                                      int64_t n, float* padded) {
  const Plane q(g);
  const int64_t half = q.half();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t hp = 0; hp <= q.Hq; ++hp) {
      float* dst = padded + i * q.size() + hp * q.Wq;
      const int64_t h = hp - g.ph;
      if (h < 0 || h >= g.H) {
        zero_row(dst, q.Wq);
        continue;
      }
      const float* at = x + (i * g.H + h) * g.W;
      int64_t p = 0;
      for (; p + 16 <= q.Wq; p += 16) {
        const int64_t c0 = p - g.pw;
        __m256 even, odd;
        deinterleave(image_columns(at, c0, g.W), image_columns(at, c0 + 8, g.W), even, odd);
        _mm256_storeu_ps(dst + p / 2, even);
        _mm256_storeu_ps(dst + half + p / 2, odd);
      }
      for (; p < q.Wq; ++p) {
        const int64_t c = p - g.pw;
        dst[(p % 2) * half + p / 2] = c >= 0 && c < g.W ? at[c] : 0.0f;
      }
    }
}

// Where output row oh of channel o goes. Plain: y [n][O][Ho][Wo]. Pooled (code not null), on the
// plain path: a row pair's outputs go to `rows` [O][2][Wo] (8 floats spare), which `pool_rows`
// pools, all channels in one call, into `pooled` [O][Wo/2] and `codes`, then copies into the
// pooled y [n][O][Ho/2][Wo/2] and its codes; the full-size output is never stored. (The AVX2 path
// pools in registers: forward_pooled_image.)
struct Outputs {
  float* y;
  std::uint8_t* code;
  float* rows;
  float* pooled;
  std::uint8_t* codes;
  bool relu;
  int64_t O, Ho, Wo;
  float* row(int64_t i, int64_t o, int64_t oh) const {
    return code != nullptr ? rows + (2 * o + oh % 2) * Wo : y + ((i * O + o) * Ho + oh) * Wo;
  }
  // after the second row of each pair
  void pool_rows(int64_t i, int64_t oh) const {
    if (code == nullptr || oh % 2 == 0) return;
    const int64_t PW = Wo / 2, plane = (Ho / 2) * PW, at = (oh / 2) * PW;
    if (relu)  // before the pool, as relu() then max_pool2d() (a NaN gives 0)
      for (int64_t j = 0; j < 2 * O * Wo; ++j) rows[j] = rows[j] > 0.0f ? rows[j] : 0.0f;
    max_pool2d_2x2_plane<float>(rows, 2 * O, Wo, pooled, codes);
    for (int64_t o = 0; o < O; ++o) {
      std::memcpy(y + (i * O + o) * plane + at, pooled + o * PW, sizeof(float) * PW);
      std::memcpy(code + (i * O + o) * plane + at, codes + o * PW, PW);
    }
  }
};

// dy row oh of channel o. Plain: dy [n][O][Ho][Wo]. Pooled: dy is the pooled gradient, and (on
// the plain path; AVX2 rebuilds it in registers) the row pair is rebuilt in `rows` [2][Wo] when oh
// is even: each window's gradient at the place its code names, zeros elsewhere (what
// max_pool2d_2x2_backward_plane writes).
struct Grads {
  const float* dy;
  const std::uint8_t* code;
  float* rows;
  int64_t O, Ho, Wo;
  const float* relu;  // pooled only, or null: the pooled gradient counts only where relu > 0
  const float* row(int64_t i, int64_t o, int64_t oh) const {
    if (code == nullptr) return dy + ((i * O + o) * Ho + oh) * Wo;
    if (oh % 2 == 0) {
      // scalar: the pool's AVX2 backward kernel, called per row pair, cost more here (its
      // partial vectors take masked stores, slow on AMD)
      const int64_t PW = Wo / 2, at = (i * O + o) * (Ho / 2) * PW + (oh / 2) * PW;
      std::fill(rows, rows + 2 * Wo, 0.0f);
      for (int64_t c = 0; c < PW; ++c) {
        const int k = code[at + c];
        rows[(k / 2) * Wo + 2 * c + k % 2] =
            relu == nullptr || relu[at + c] > 0.0f ? dy[at + c] : 0.0f;
      }
    }
    return rows + (oh % 2) * Wo;
  }
};

// Grow-only per-thread buffer: the plain pooled variants' rows, the AVX2 weight gradient's sums
// (each only within one call).
float* row_buffer(int64_t count) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < count) buf.resize(static_cast<size_t>(count));
  return buf.data();
}

// ---- plain loops (a CPU without AVX2) ----

void forward_generic(const float* x, const float* w, const float* bias, const DirectGeometry& g,
                     int64_t n, const Outputs& out, float* padded) {
  const Plane q(g);
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  pad_images<false>(x, g, n, padded);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const float* r = padded + i * q.size() + oh * q.Wq;
      for (int64_t o = 0; o < g.O; ++o) {
        const float* f = w + 9 * o;
        const float b = bias != nullptr ? bias[o] : 0.0f;
        float* dst = out.row(i, o, oh);
        for (int64_t ow = 0; ow < Wo; ++ow) {
          float acc = b;
          for (int k = 0; k < 9; ++k) acc += f[k] * r[(k / 3) * q.Wq + ow + k % 3];
          dst[ow] = acc;
        }
      }
      out.pool_rows(i, oh);
    }
}

void backward_generic(const float* x, const Grads& dy, const DirectGeometry& g, int64_t n,
                      float* dwb, float* padded) {
  const Plane q(g);
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  pad_images<false>(x, g, n, padded);
  for (int64_t o = 0; o < g.O; ++o) {
    float acc[10] = {};
    for (int64_t i = 0; i < n; ++i)
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const float* r = padded + i * q.size() + oh * q.Wq;
        const float* d = dy.row(i, o, oh);
        for (int64_t ow = 0; ow < Wo; ++ow) {
          for (int k = 0; k < 9; ++k) acc[k] += d[ow] * r[(k / 3) * q.Wq + ow + k % 3];
          acc[9] += d[ow];
        }
      }
    std::copy(acc, acc + 10, dwb + 10 * o);
  }
}

// ---- AVX2 + FMA ----

// Where a whole-vector store of 8 outputs of row oh from column ow may go: `room` counts the
// floats from there to the end of what the store may overwrite. A store may run into rows of the
// same plane that are written again later (a masked store is slow on some CPUs, AMD's), never
// further. (The pooled outputs take forward_pooled_image instead.)
__attribute__((target("avx2"))) inline bool whole_store(int64_t Ho, int64_t Wo, int64_t oh,
                                                        int64_t ow) {
  return (Ho - oh) * Wo - ow >= 8;
}

__attribute__((target("avx2,fma"))) inline void store_row(float* dst, __m256 v, bool whole,
                                                          __m256i mask) {
  if (whole) {
    _mm256_storeu_ps(dst, v);
  } else {
    _mm256_maskstore_ps(dst, mask, v);
  }
}

// Output rows oh .. oh + kRows - 1 (kRows 1 or 2) of every channel: the (kRows + 2) x 3 shifted
// input vectors stay in registers while each channel's 9 weights are broadcast once for all its
// rows (two rows: two independent FMA chains). Each output is bias + f[0] a0 + ... + f[8] a8 in
// that order. Columns run from the last vector down, so a whole-vector store that runs past row oh
// into row oh + 1 is overwritten by the correct values when the first columns are stored.
template <int kRows>
__attribute__((target("avx2,fma"))) void forward_rows(const float* r0, int64_t Wq, const float* w,
                                                      const float* bias, const Outputs& outs,
                                                      int64_t i, int64_t oh, __m256i mask) {
  const int64_t Ho = outs.Ho, Wo = outs.Wo, O = outs.O;
  for (int64_t ow = (Wo - 1) / 8 * 8; ow >= 0; ow -= 8) {
    __m256 in[kRows + 2][3];  // padded row oh + r, shifted by d columns
#pragma GCC unroll 4
    for (int r = 0; r < kRows + 2; ++r)
#pragma GCC unroll 3
      for (int d = 0; d < 3; ++d) in[r][d] = _mm256_loadu_ps(r0 + r * Wq + ow + d);
    bool whole[kRows];
#pragma GCC unroll 2
    for (int r = 0; r < kRows; ++r) whole[r] = whole_store(Ho, Wo, oh + r, ow);
    for (int64_t o = 0; o < O; ++o) {
      const float* f = w + 9 * o;
      __m256 acc[kRows];
#pragma GCC unroll 2
      for (int r = 0; r < kRows; ++r) acc[r] = _mm256_set1_ps(bias != nullptr ? bias[o] : 0.0f);
#pragma GCC unroll 9
      for (int k = 0; k < 9; ++k) {
        const __m256 wk = _mm256_set1_ps(f[k]);
#pragma GCC unroll 2
        for (int r = 0; r < kRows; ++r) acc[r] = _mm256_fmadd_ps(wk, in[r + k / 3][k % 3], acc[r]);
      }
      for (int r = 0; r < kRows; ++r)
        store_row(outs.row(i, o, oh + r) + ow, acc[r], whole[r], mask);
    }
  }
}

// Tap dc (0..2) of the even (h 0) or odd (h 1) outputs of windows j0 .. j0 + 7 in a split row:
// padded columns 2j + h + dc, vector s = h + dc: even j, odd j, even j + 1, odd j + 1.
__attribute__((target("avx2"), always_inline)) inline __m256 split_taps(const float* row,
                                                                        int64_t half, int64_t j0,
                                                                        int s) {
  return _mm256_loadu_ps(row + (s % 2) * half + j0 + s / 2);
}

// kChannels channels of pooled_group's windows j0 .. j0 + 7 (columns 2 j0 .. 2 j0 + 15),
// from the split plane's rows oh .. oh + 3 (row[r], their odd halves `half` further): 4 FMA chains
// each (rows oh, oh + 1, even and odd columns: the windows' a, b, c, d), the input vectors loaded
// once for all of them. f: the channels' 9 weights each; y, code: the first channel's pooled
// outputs and codes there, the next `plane` further. (Everything the stores could alias is
// passed in by value, so the loop reloads nothing after them.)
template <int kChannels, bool kRelu>
__attribute__((target("avx2,fma"), always_inline)) inline void pooled_channels(
    const float* row0, const float* row1, const float* row2, const float* row3, int64_t half,
    const float* f, const float* bias, float* y, std::uint8_t* code, int64_t plane, int64_t count) {
  const float* const row[4] = {row0, row1, row2, row3};
  __m256 acc[kChannels][2][2];  // [channel][output row][even, odd columns]
  for (int c = 0; c < kChannels; ++c)
    acc[c][0][0] = acc[c][0][1] = acc[c][1][0] = acc[c][1][1] =
        _mm256_set1_ps(bias != nullptr ? bias[c] : 0.0f);
#pragma GCC unroll 9
  for (int k = 0; k < 9; ++k) {
    __m256 wk[kChannels];
    for (int c = 0; c < kChannels; ++c) wk[c] = _mm256_set1_ps(f[9 * c + k]);
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256 in = split_taps(row[r + k / 3], half, 0, h + k % 3);
        for (int c = 0; c < kChannels; ++c) acc[c][r][h] = _mm256_fmadd_ps(wk[c], in, acc[c][r][h]);
      }
  }
  for (int c = 0; c < kChannels; ++c) {
    const __m256 wa = acc[c][0][0], wb = acc[c][0][1], wc = acc[c][1][0], wd = acc[c][1][1];
    __m256i k;
    store_first8(y + c * plane,
                 kRelu ? relu_pool4_avx2(wa, wb, wc, wd, k) : pool4_avx2(wa, wb, wc, wd, k), count);
    store_codes(k, static_cast<int>(count), code + c * plane);
  }
}

// kChannels channels' pooled outputs over one image, from its split plane: row pair by row pair,
// 8 windows (16 columns) at a time (pooled_channels); y, code: the first channel's pooled planes.
// A row's last, partial group is stored 8 wide wherever the plane goes on: the lanes past the row
// land on the next row's first places, which its own first group rewrites next (plane by plane
// in order, 0.90-0.92x the time of pieces of 4, 2 and 1; same bits).
template <int kChannels, bool kRelu>
__attribute__((target("avx2,fma"), always_inline)) inline void pooled_group(
    const float* plane0, int64_t Wq, const float* f, const float* bias, float* y,
    std::uint8_t* code, int64_t Ho, int64_t Wo) {
  const int64_t PW = Wo / 2, plane = (Ho / 2) * PW, half = Wq / 2;
  for (int64_t oh = 0; oh + 2 <= Ho; oh += 2)
    for (int64_t ow = 0; ow < Wo; ow += 16) {
      const int64_t at = (oh / 2) * PW + ow / 2;
      const int64_t count = std::min<int64_t>(8, plane - at);  // windows stored from column ow
      const float* row0 = plane0 + oh * Wq + ow / 2;
      pooled_channels<kChannels, kRelu>(row0, row0 + Wq, row0 + 2 * Wq, row0 + 3 * Wq, half, f,
                                        bias, y + at, code + at, plane, count);
    }
}

// Pooled (Ho and Wo even), from image i's split plane: two channels at a time, each pair over the
// whole image (pooled_group), its rows' even and odd columns four FMA chains per channel (each
// output bias + f[0] a0 + ... + f[8] a8 in that order, as forward_rows), relu'd when asked: the
// 8 windows' a b / c d as pool4_avx2's lanes (the pool kernels' rule). The maxima and codes go
// straight into y and code, a pair's planes in order. No full-size row, no separate pooling pass.
// (Row pair by row pair with every channel pair inside, as before, took 1.23-1.39x as long: the
// stores jumped from plane to plane.)
template <bool kRelu>
__attribute__((target("avx2,fma"))) void forward_pooled_image(const float* plane0, int64_t Wq,
                                                              const float* w, const float* bias,
                                                              const Outputs& outs, int64_t i,
                                                              bool more) {
  const int64_t O = outs.O, plane = (outs.Ho / 2) * (outs.Wo / 2);
  float* const y = outs.y + i * O * plane;
  std::uint8_t* const code = outs.code + i * O * plane;
  // the next image's outputs asked for, for writing, a share per channel pair (more: there is one)
  const PrefetchShares<true> ahead(y + O * plane, more ? O * plane : 0, O / 2);
  int64_t o = 0;
  for (; o + 2 <= O; o += 2) {
    ahead.share(o / 2);
    pooled_group<2, kRelu>(plane0, Wq, w + 9 * o, bias != nullptr ? bias + o : nullptr,
                           y + o * plane, code + o * plane, outs.Ho, outs.Wo);
  }
  if (o < O)
    pooled_group<1, kRelu>(plane0, Wq, w + 9 * o, bias != nullptr ? bias + o : nullptr,
                           y + o * plane, code + o * plane, outs.Ho, outs.Wo);
}

__attribute__((target("avx2,fma"))) void forward_avx2(const float* x, const float* w,
                                                      const float* bias, const DirectGeometry& g,
                                                      int64_t n, const Outputs& outs,
                                                      float* padded) {
  const Plane q(g);
  const int64_t Ho = g.Ho();
  if (outs.code != nullptr) {  // Ho even (an odd last row, outside any window, is skipped)
    pad_images_split(x, g, n, padded);
    for (int64_t i = 0; i < n; ++i) {
      if (outs.relu) {
        forward_pooled_image<true>(padded + i * q.size(), q.Wq, w, bias, outs, i, i + 1 < n);
      } else {
        forward_pooled_image<false>(padded + i * q.size(), q.Wq, w, bias, outs, i, i + 1 < n);
      }
    }
    return;
  }
  pad_images<true>(x, g, n, padded);
  const __m256i mask = first_lanes(g.Wo() % 8);
  for (int64_t i = 0; i < n; ++i) {
    int64_t oh = 0;
    for (; oh + 2 <= Ho; oh += 2) {
      forward_rows<2>(padded + i * q.size() + oh * q.Wq, q.Wq, w, bias, outs, i, oh, mask);
      outs.pool_rows(i, oh + 1);
    }
    if (oh < Ho) {
      forward_rows<1>(padded + i * q.size() + oh * q.Wq, q.Wq, w, bias, outs, i, oh, mask);
      outs.pool_rows(i, oh);
    }
  }
}

// The 8 lanes of v summed in a fixed order.
__attribute__((target("avx2"))) inline float lane_sum(__m256 v) {
  alignas(32) float l[8];
  _mm256_store_ps(l, v);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// One step of the weight gradient over 8 pooling windows' places, j0 .. j0 + 7 (columns 2 j0 ..
// 2 j0 + 15 of output rows oh and oh + 1), from the split plane at row oh (r0): e0 and o0 are
// row oh's gradient at the even and odd columns, e1 and o1 row oh + 1's. Tap k = 3 dr + dc meets
// the even outputs of row oh + r at split vector dc of input row oh + r + dr, the odd ones at
// vector dc + 1 (split_taps), so each of the 16 input vectors (4 rows, 4 vectors) is loaded once
// for up to 4 FMAs. Each accumulator takes e0's term, o0's, e1's, then o1's. (c[9], the bias's
// sum, is the callers'.) The callers give lanes past the outputs as 0, so the (finite) image
// values there add nothing.
__attribute__((target("avx2,fma"), always_inline)) inline void dw_group_step(
    __m256* c, const float* r0, int64_t Wq, __m256 e0, __m256 o0, __m256 e1, __m256 o1,
    int64_t j0) {
  const int64_t half = Wq / 2;
#pragma GCC unroll 4
  for (int rr = 0; rr < 4; ++rr)  // input row oh + rr: dr = rr for row oh, rr - 1 for row oh + 1
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m256 in = split_taps(r0 + rr * Wq, half, j0, v);
      if (rr <= 2 && v <= 2) c[3 * rr + v] = _mm256_fmadd_ps(e0, in, c[3 * rr + v]);
      if (rr <= 2 && v >= 1) c[3 * rr + v - 1] = _mm256_fmadd_ps(o0, in, c[3 * rr + v - 1]);
      if (rr >= 1 && v <= 2) c[3 * rr - 3 + v] = _mm256_fmadd_ps(e1, in, c[3 * rr - 3 + v]);
      if (rr >= 1 && v >= 1) c[3 * rr - 4 + v] = _mm256_fmadd_ps(o1, in, c[3 * rr - 4 + v]);
    }
}

// dy's 8 columns from ow of a row: a whole load, a masked one for the last part, or 0 past Wo.
__attribute__((target("avx2"))) inline __m256 dy_vector(const float* d, int64_t ow, int64_t Wo) {
  if (ow + 8 <= Wo) return _mm256_loadu_ps(d + ow);
  if (ow >= Wo) return _mm256_setzero_ps();
  return _mm256_maskload_ps(d + ow, first_lanes(Wo - ow));
}

// A full-size dy row's 16 columns from ow split into even and odd columns (lanes past Wo 0).
__attribute__((target("avx2"))) inline void dy_split(const float* d, int64_t ow, int64_t Wo,
                                                     __m256& even, __m256& odd) {
  deinterleave(dy_vector(d, ow, Wo), dy_vector(d, ow + 8, Wo), even, odd);
}

// One window of pooled_backward_avx2: its gradient v times its element's 3x3 neighbourhood, the
// three rows from p (Wq apart) one 8-wide load each, added to acc[0..2].
__attribute__((target("avx2,fma"), always_inline)) inline void window_rows(__m256* acc, float v,
                                                                           const float* p,
                                                                           int64_t Wq) {
  const __m256 g = _mm256_set1_ps(v);
#pragma GCC unroll 3
  for (int r = 0; r < 3; ++r) acc[r] = _mm256_fmadd_ps(g, _mm256_loadu_ps(p + r * Wq), acc[r]);
}

// The pooled weight gradient, image by image (its padded plane, pad_images', in L1 while every
// output channel reads it), output channel by output channel: the windows whose gradient is not
// 0 (after ReLU's mask; a NaN is kept) listed in order with where their element's 3x3
// neighbourhood starts in the plane, then each window's gradient times the neighbourhood's three
// rows, one 8-wide load each of which lanes 0..2 are the taps (the other lanes meet the values
// beside them, summed and dropped), window e in chain e mod 4, the chains then added in pairs. Per
// channel the sums wait in memory between images ([O][4][8]: rows 0..2, then the bias's lanes, lane
// l the windows t = l mod 8 in order), so each sums the images in order. A window left out adds
// only 0 * x terms: NaN only where x is infinite (the dense path's sums then can be NaN where these
// are not). About 9 multiply-adds a window where the dense steps take 36 (a b / c d each meet the
// taps, three of them zeros), and no pass over the zero-gradient windows ReLU leaves.
__attribute__((target("avx2,fma"))) void pooled_backward_avx2(const float* x, const Grads& dy,
                                                              const DirectGeometry& g, int64_t n,
                                                              float* dwb, float* padded) {
  const Plane q(g);
  const int64_t O = g.O, PW = g.Wo() / 2, plane = (g.Ho() / 2) * PW, room = (plane + 7) / 8 * 8;
  // per thread, grow-only: the sums [O][4][8] and a list's gradients, its element offsets, and
  // each window's neighbourhood for code 0 (room each: list_windows_avx2 writes 8 lanes from
  // n <= t)
  float* const sums = row_buffer(O * 32 + room);
  float* const lg = sums + O * 32;
  thread_local std::vector<std::int32_t> offsets;
  if (static_cast<int64_t>(offsets.size()) < 2 * room)
    offsets.resize(static_cast<size_t>(2 * room));
  std::int32_t* const lat = offsets.data();
  std::int32_t* const base = offsets.data() + room;
  std::fill(sums, sums + O * 32, 0.0f);
  for (int64_t t = 0; t < room; ++t)
    base[t] = t < plane ? static_cast<std::int32_t>(2 * (t / PW) * q.Wq + 2 * (t % PW)) : 0;
  const int Wq = static_cast<int>(q.Wq);
  const __m256i table = _mm256_setr_epi32(0, 1, Wq, Wq + 1, 0, 0, 0, 0);  // code -> offset
  for (int64_t i = 0; i < n; ++i) {
    pad_images<true>(x + i * g.H * g.W, g, 1, padded);
    // the next image's floats, fetched ahead
    const PrefetchShares ahead(x + (i + 1) * g.H * g.W, i + 1 < n ? g.H * g.W : 0, O);
    for (int64_t o = 0; o < O; ++o) {
      ahead.share(o);
      const int64_t at = (i * O + o) * plane;
      __m256 bias = _mm256_setzero_ps();
      const int64_t m =
          list_windows_avx2(dy.dy + at, dy.code + at, dy.relu != nullptr ? dy.relu + at : nullptr,
                            plane, base, table, lg, lat, bias);
      __m256 acc[4][3];  // window e's sums in chain e mod 4 (one chain's latency, 4 windows)
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c)
#pragma GCC unroll 3
        for (int r = 0; r < 3; ++r) acc[c][r] = _mm256_setzero_ps();
      int64_t e = 0;
      for (; e + 4 <= m; e += 4)
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) window_rows(acc[c], lg[e + c], padded + lat[e + c], q.Wq);
#pragma GCC unroll 3
      for (int c = 0; c < 3; ++c)  // the last 0 to 3 windows (each chain a register still)
        if (e + c < m) window_rows(acc[c], lg[e + c], padded + lat[e + c], q.Wq);
      float* s = sums + 32 * o;
#pragma GCC unroll 3
      for (int r = 0; r < 3; ++r) {
        const __m256 w =
            _mm256_add_ps(_mm256_add_ps(acc[0][r], acc[1][r]), _mm256_add_ps(acc[2][r], acc[3][r]));
        _mm256_storeu_ps(s + 8 * r, _mm256_add_ps(_mm256_loadu_ps(s + 8 * r), w));
      }
      _mm256_storeu_ps(s + 24, _mm256_add_ps(_mm256_loadu_ps(s + 24), bias));
    }
  }
  for (int64_t o = 0; o < O; ++o) {
    for (int k = 0; k < 9; ++k) dwb[10 * o + k] = sums[32 * o + 8 * (k / 3) + k % 3];
    dwb[10 * o + 9] = lane_sum(_mm256_loadu_ps(sums + 32 * o + 24));
  }
}

// The plain weight gradient: image by image (its split plane stays in L1 while every output
// channel reads it), output channel by output channel, 16 columns of a row pair a step
// (dw_group_step), dy's rows split by column parity; each channel's sums wait in memory between
// images, so every lane still sums images, rows and columns in order. A last single row (Ho odd)
// steps with a zero second row, which meets the plane's zero row. (The pooled gradient takes
// pooled_backward_avx2.)
__attribute__((target("avx2,fma"))) void backward_avx2(const float* x, const Grads& dy,
                                                       const DirectGeometry& g, int64_t n,
                                                       float* dwb, float* padded) {
  const Plane q(g);
  const int64_t Ho = g.Ho(), Wo = g.Wo(), O = g.O;
  // per output channel its 9 weight gradients, then the bias gradient, in lanes: [O][10][8]
  float* sums = row_buffer(O * 80);
  std::fill(sums, sums + O * 80, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    pad_images_split(x + i * g.H * g.W, g, 1, padded);  // one image's plane, in L1 for all O
    // the next image's floats, fetched ahead
    const PrefetchShares ahead(x + (i + 1) * g.H * g.W, i + 1 < n ? g.H * g.W : 0, O);
    for (int64_t o = 0; o < O; ++o) {
      ahead.share(o);
      __m256 c[10];  // channel o's sums, in registers for the image
#pragma GCC unroll 10
      for (int k = 0; k < 10; ++k) c[k] = _mm256_loadu_ps(sums + (10 * o + k) * 8);
      for (int64_t oh = 0; oh < Ho; oh += 2) {
        const float* r = padded + oh * q.Wq;
        const float* d0 = dy.row(i, o, oh);
        const float* d1 = oh + 1 < Ho ? dy.row(i, o, oh + 1) : nullptr;
        for (int64_t ow = 0; ow < Wo; ow += 16) {
          __m256 e0, o0, e1 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps();
          dy_split(d0, ow, Wo, e0, o0);
          if (d1 != nullptr) dy_split(d1, ow, Wo, e1, o1);
          c[9] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c[9], e0), o0), e1), o1);
          dw_group_step(c, r, q.Wq, e0, o0, e1, o1, ow / 2);
        }
      }
#pragma GCC unroll 10
      for (int k = 0; k < 10; ++k) _mm256_storeu_ps(sums + (10 * o + k) * 8, c[k]);
    }
  }
  for (int64_t o = 0; o < O; ++o)
    for (int k = 0; k < 10; ++k)
      dwb[10 * o + k] = lane_sum(_mm256_loadu_ps(sums + (10 * o + k) * 8));
}

}  // namespace

bool conv3x3_single_channel_applies(int64_t C, int64_t groups, int64_t kh, int64_t kw, int64_t sh,
                                    int64_t sw, int64_t dh, int64_t dw, int64_t ph, int64_t pw,
                                    int64_t H, int64_t W) {
  return C == 1 && groups == 1 && kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 &&
         ph >= 0 && ph <= 2 && pw >= 0 && pw <= 2 && H + 2 * ph >= 3 && W + 2 * pw >= 3;
}

int64_t conv3x3_single_channel_scratch_size(const DirectGeometry& g, int64_t n) {
  return n * Plane(g).size();
}

void conv3x3_single_channel_forward(const float* x, const float* w, const float* bias,
                                    const DirectGeometry& g, int64_t n, float* y, float* scratch,
                                    std::uint8_t* pool_code, bool relu) {
  // pooled on the plain path: rows [O][2][Wo] (+8), then the pooled rows [O][Wo/2] (+8), then
  // their codes
  const bool avx2 = active_isa() != Isa::generic;
  const int64_t rows = 2 * g.O * g.Wo() + 8, pooled = g.O * (g.Wo() / 2) + 8;
  float* buf = pool_code != nullptr && !avx2
                   ? row_buffer(rows + pooled + (g.O * (g.Wo() / 2) + 3) / 4)
                   : nullptr;
  const Outputs out{y,
                    pool_code,
                    buf,
                    buf != nullptr ? buf + rows : nullptr,
                    buf != nullptr ? reinterpret_cast<std::uint8_t*>(buf + rows + pooled) : nullptr,
                    relu && pool_code != nullptr,
                    g.O,
                    g.Ho(),
                    g.Wo()};
  if (avx2) {
    forward_avx2(x, w, bias, g, n, out, scratch);
  } else {
    forward_generic(x, w, bias, g, n, out, scratch);
  }
}

void conv3x3_single_channel_backward(const float* x, const float* dy, const DirectGeometry& g,
                                     int64_t n, float* dwb, float* scratch,
                                     const std::uint8_t* pool_code, const float* relu_out) {
  // rows: [2][Wo], the plain loops' row pair when pooled (AVX2 rebuilds its rows in registers)
  const bool avx2 = active_isa() != Isa::generic;
  const Grads d{dy,
                pool_code,
                pool_code != nullptr && !avx2 ? row_buffer(2 * g.Wo()) : nullptr,
                g.O,
                g.Ho(),
                g.Wo(),
                pool_code != nullptr ? relu_out : nullptr};
  if (avx2 && pool_code != nullptr) {
    pooled_backward_avx2(x, d, g, n, dwb, scratch);
  } else if (avx2) {
    backward_avx2(x, d, g, n, dwb, scratch);
  } else {
    backward_generic(x, d, g, n, dwb, scratch);
  }
}

}  // namespace ember::kernels
