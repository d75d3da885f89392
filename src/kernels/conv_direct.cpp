// Direct 3x3 convolution of a one-channel input; see conv_direct.hpp.
//
// Every image is first copied into a zero-bordered plane whose rows are Wq = round8(Wo) + 2 wide,
// so the 8-wide loads of the shifted rows never need bounds checks (the extra columns are zero).
// A partial last vector of outputs is stored, and dy loaded, through a lane mask.
#include "kernels/conv_direct.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"

namespace ember::kernels {
namespace {

struct Plane {
  int64_t Hq, Wq;
  explicit Plane(const DirectGeometry& g) : Hq(g.H + 2 * g.ph), Wq((g.Wo() + 7) / 8 * 8 + 2) {}
  int64_t size() const { return Hq * Wq; }
};

// The n images into their zero-bordered planes (padded[n][Hq][Wq]).
void pad_images(const float* x, const DirectGeometry& g, int64_t n, float* padded) {
  const Plane q(g);
  std::fill(padded, padded + n * q.size(), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(padded + i * q.size() + (h + g.ph) * q.Wq + g.pw, x + (i * g.H + h) * g.W,
                  sizeof(float) * g.W);
}

// Where output row oh of channel o goes. Plain: y [n][O][Ho][Wo]. Pooled (code not null): a row
// pair's outputs go to `rows` [O][2][Wo] (8 floats spare), which `pool_rows` pools, all channels
// in one call, into `pooled` [O][Wo/2] and `codes`, then copies into the pooled y
// [n][O][Ho/2][Wo/2] and its codes; the full-size output is never stored.
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

// dy row oh of channel o. Plain: dy [n][O][Ho][Wo]. Pooled: dy is the pooled gradient, and the
// row pair is rebuilt in `rows` [2][Wo] when oh is even: each window's gradient at the place its
// code names, zeros elsewhere (what max_pool2d_2x2_backward_plane writes).
struct Grads {
  const float* dy;
  const std::uint8_t* code;
  float* rows;
  int64_t O, Ho, Wo;
  const float* row(int64_t i, int64_t o, int64_t oh) const {
    if (code == nullptr) return dy + ((i * O + o) * Ho + oh) * Wo;
    if (oh % 2 == 0) {
      const int64_t PW = Wo / 2, at = (i * O + o) * (Ho / 2) * PW + (oh / 2) * PW;
      std::fill(rows, rows + 2 * Wo, 0.0f);
      for (int64_t c = 0; c < PW; ++c) {
        const int k = code[at + c];
        rows[(k / 2) * Wo + 2 * c + k % 2] = dy[at + c];
      }
    }
    return rows + (oh % 2) * Wo;
  }
};

// Grow-only per-thread row buffer for the pooled variants.
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
  pad_images(x, g, n, padded);
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
  pad_images(x, g, n, padded);
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

__attribute__((target("avx2,fma"))) void forward_avx2(const float* x, const float* w,
                                                      const float* bias, const DirectGeometry& g,
                                                      int64_t n, const Outputs& outs,
                                                      float* padded) {
  const Plane q(g);
  const int64_t Ho = g.Ho(), Wo = g.Wo(), O = g.O;
  pad_images(x, g, n, padded);
  const __m256i mask = first_lanes(Wo % 8);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const float* r0 = padded + i * q.size() + oh * q.Wq;
      const float* r1 = r0 + q.Wq;
      const float* r2 = r1 + q.Wq;
      for (int64_t ow = 0; ow < Wo; ow += 8) {
        // the 9 shifted input vectors, shared by every output channel
        const __m256 a0 = _mm256_loadu_ps(r0 + ow), a1 = _mm256_loadu_ps(r0 + ow + 1),
                     a2 = _mm256_loadu_ps(r0 + ow + 2), a3 = _mm256_loadu_ps(r1 + ow),
                     a4 = _mm256_loadu_ps(r1 + ow + 1), a5 = _mm256_loadu_ps(r1 + ow + 2),
                     a6 = _mm256_loadu_ps(r2 + ow), a7 = _mm256_loadu_ps(r2 + ow + 1),
                     a8 = _mm256_loadu_ps(r2 + ow + 2);
        // a whole-vector store may run into the rows of the same plane still to be written (a
        // masked store is slow on some CPUs, AMD's), never further: `room` counts the floats
        // from dst to the end of the plane (pooled: of the row pair, the next channel follows)
        const int64_t room =
            outs.code != nullptr ? (oh % 2 == 0 ? 2 * Wo : Wo) - ow : (Ho - oh) * Wo - ow;
        const bool full = room >= 8;
        for (int64_t o = 0; o < O; ++o) {
          const float* f = w + 9 * o;
          __m256 acc = _mm256_set1_ps(bias != nullptr ? bias[o] : 0.0f);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[0]), a0, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[1]), a1, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[2]), a2, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[3]), a3, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[4]), a4, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[5]), a5, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[6]), a6, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[7]), a7, acc);
          acc = _mm256_fmadd_ps(_mm256_set1_ps(f[8]), a8, acc);
          float* dst = outs.row(i, o, oh) + ow;
          if (full) {
            _mm256_storeu_ps(dst, acc);
          } else {
            _mm256_maskstore_ps(dst, mask, acc);
          }
        }
      }
      outs.pool_rows(i, oh);
    }
}

// The 8 lanes of v summed in a fixed order.
__attribute__((target("avx2"))) inline float lane_sum(__m256 v) {
  alignas(32) float l[8];
  _mm256_store_ps(l, v);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

__attribute__((target("avx2,fma"))) void backward_avx2(const float* x, const Grads& dy,
                                                       const DirectGeometry& g, int64_t n,
                                                       float* dwb, float* padded) {
  const Plane q(g);
  const int64_t Ho = g.Ho(), Wo = g.Wo(), O = g.O;
  pad_images(x, g, n, padded);
  const __m256i mask = first_lanes(Wo % 8);
  for (int64_t o = 0; o < O; ++o) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0,
           c8 = c0, cb = c0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const float* r0 = padded + i * q.size() + oh * q.Wq;
        const float* r1 = r0 + q.Wq;
        const float* r2 = r1 + q.Wq;
        const float* d = dy.row(i, o, oh);
        for (int64_t ow = 0; ow < Wo; ow += 8) {
          // lanes past Wo read dy as 0, so the (finite) image values there add nothing
          const __m256 v =
              ow + 8 <= Wo ? _mm256_loadu_ps(d + ow) : _mm256_maskload_ps(d + ow, mask);
          cb = _mm256_add_ps(cb, v);
          c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r0 + ow), c0);
          c1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r0 + ow + 1), c1);
          c2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r0 + ow + 2), c2);
          c3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r1 + ow), c3);
          c4 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r1 + ow + 1), c4);
          c5 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r1 + ow + 2), c5);
          c6 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r2 + ow), c6);
          c7 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r2 + ow + 1), c7);
          c8 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r2 + ow + 2), c8);
        }
      }
    float* out = dwb + 10 * o;
    out[0] = lane_sum(c0);
    out[1] = lane_sum(c1);
    out[2] = lane_sum(c2);
    out[3] = lane_sum(c3);
    out[4] = lane_sum(c4);
    out[5] = lane_sum(c5);
    out[6] = lane_sum(c6);
    out[7] = lane_sum(c7);
    out[8] = lane_sum(c8);
    out[9] = lane_sum(cb);
  }
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
  // pooled: rows [O][2][Wo] (+8), then the pooled rows [O][Wo/2] (+8), then their codes
  const int64_t rows = 2 * g.O * g.Wo() + 8, pooled = g.O * (g.Wo() / 2) + 8;
  float* buf =
      pool_code != nullptr ? row_buffer(rows + pooled + (g.O * (g.Wo() / 2) + 3) / 4) : nullptr;
  const Outputs out{y,
                    pool_code,
                    buf,
                    buf != nullptr ? buf + rows : nullptr,
                    buf != nullptr ? reinterpret_cast<std::uint8_t*>(buf + rows + pooled) : nullptr,
                    relu && pool_code != nullptr,
                    g.O,
                    g.Ho(),
                    g.Wo()};
  if (active_isa() != Isa::generic) {
    forward_avx2(x, w, bias, g, n, out, scratch);
  } else {
    forward_generic(x, w, bias, g, n, out, scratch);
  }
}

void conv3x3_single_channel_backward(const float* x, const float* dy, const DirectGeometry& g,
                                     int64_t n, float* dwb, float* scratch,
                                     const std::uint8_t* pool_code) {
  const Grads d{dy,  pool_code, pool_code != nullptr ? row_buffer(2 * g.Wo() + 8) : nullptr,
                g.O, g.Ho(),    g.Wo()};
  if (active_isa() != Isa::generic) {
    backward_avx2(x, d, g, n, dwb, scratch);
  } else {
    backward_generic(x, d, g, n, dwb, scratch);
  }
}

}  // namespace ember::kernels
