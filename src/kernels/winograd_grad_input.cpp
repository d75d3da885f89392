// The Winograd gradient input transform: dx = the sum over tiles of B dV B^T placed at each
// tile's input window, cropped to the image (winograd_layout.hpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/winograd_layout.hpp"

namespace ember::kernels::wino {
namespace {

// The column step of the gradient input transform on one row k of a tile row: even column 2tx
// gets c0(tx) + c2(tx - 1), odd column 2tx + 1 gets c1(tx) + c3(tx - 1), with c = [v0,
// v1 - v2 + v3, -v0 + v1 + v2, -v3]; the last tile's c2, c3 go to columns 2 TW, 2 TW + 1. q has
// 16 writable floats past 2 TW + 2; v0..v3 are readable 8 floats past TW.
__attribute__((target("avx2,fma"))) void grad_input_columns_avx2(const float* v0, const float* v1,
                                                                 const float* v2, const float* v3,
                                                                 int64_t TW, float* q) {
  const __m256i rotate = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
  __m256 carry2 = _mm256_setzero_ps(), carry3 = _mm256_setzero_ps();  // c2, c3 of tile tx - 1
  float last2 = 0.0f, last3 = 0.0f;                                   // c2, c3 of the last tile
  for (int64_t tx = 0; tx < TW; tx += 8) {
    const __m256 keep = _mm256_castsi256_ps(first_lanes(TW - tx));  // lanes past TW read as 0
    const __m256 a = _mm256_and_ps(_mm256_loadu_ps(v0 + tx), keep);
    const __m256 b = _mm256_and_ps(_mm256_loadu_ps(v1 + tx), keep);
    const __m256 c = _mm256_and_ps(_mm256_loadu_ps(v2 + tx), keep);
    const __m256 d = _mm256_and_ps(_mm256_loadu_ps(v3 + tx), keep);
    const __m256 zero = _mm256_setzero_ps();
    const __m256 c1 = _mm256_add_ps(_mm256_sub_ps(b, c), d);
    const __m256 c2 = _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(zero, a), b), c);
    const __m256 c3 = _mm256_sub_ps(zero, d);
    const __m256 s2 = _mm256_blend_ps(_mm256_permutevar8x32_ps(c2, rotate), carry2, 0x01);
    const __m256 s3 = _mm256_blend_ps(_mm256_permutevar8x32_ps(c3, rotate), carry3, 0x01);
    __m256 lo, hi;
    interleave(_mm256_add_ps(a, s2), _mm256_add_ps(c1, s3), lo, hi);
    _mm256_storeu_ps(q + 2 * tx, lo);
    _mm256_storeu_ps(q + 2 * tx + 8, hi);
    carry2 = _mm256_permutevar8x32_ps(c2, _mm256_set1_epi32(7));
    carry3 = _mm256_permutevar8x32_ps(c3, _mm256_set1_epi32(7));
    if (tx + 8 >= TW) {
      alignas(32) float l2[8], l3[8];
      _mm256_store_ps(l2, c2);
      _mm256_store_ps(l3, c3);
      last2 = l2[TW - tx - 1];
      last3 = l3[TW - tx - 1];
    }
  }
  // with TW % 8 != 0 the last vectors already wrote these (lanes past TW read as 0) and zeros
  // after them; else columns 2 TW, 2 TW + 1 and 6 zeros as one vector
  if (TW % 8 == 0) _mm256_storeu_ps(q + 2 * TW, _mm256_setr_ps(last2, last3, 0, 0, 0, 0, 0, 0));
}

// Where a narrow plane row's image columns come from: the image's columns [0, 8) are the plane's
// [pw, pw + 8) and, for W > 8, its last 8 the plane's [pw + W - 8, pw + W) (pw + W <= 16, the
// plane's width). Plane column c is lane c / 2 of the row's even or odd vector, so each image
// vector is two permutes by `idx` (lanes (s + j) / 2) and a blend by `odd` (lanes where s + j is
// odd).
struct ImageColumns {
  __m256i idx0, idx1;
  __m256 odd0, odd1;
};

// idx and odd for the plane columns [s, s + 8)
__attribute__((target("avx2"))) inline void columns_from(int64_t s, __m256i& idx, __m256& odd) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i c = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                     _mm256_set1_epi32(static_cast<int>(s)));
  idx = _mm256_srli_epi32(c, 1);
  odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(c, one), one));
}

__attribute__((target("avx2"))) inline ImageColumns image_columns(const WinogradGeometry& g) {
  ImageColumns r;
  columns_from(g.pw, r.idx0, r.odd0);
  columns_from(g.pw + std::max<int64_t>(g.W - 8, 0), r.idx1, r.odd1);
  return r;
}

__attribute__((target("avx2"))) inline __m256 plane_columns(__m256 even, __m256 odd, __m256i idx,
                                                            __m256 odd_lanes) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(even, idx), _mm256_permutevar8x32_ps(odd, idx),
                          odd_lanes);
}

// Plane row r (padded coordinates; its even and odd columns) into row r - ph of the image out,
// when that is a row of it, straight from registers: one or two whole vectors (the second
// overlapping the first) or, for W < 8, the first W floats in pieces.
__attribute__((target("avx2"))) inline void write_plane_row(int64_t r, __m256 even, __m256 odd,
                                                            const WinogradGeometry& g, float* out,
                                                            const ImageColumns& cols) {
  const int64_t h = r - g.ph;
  if (h < 0 || h >= g.H) return;
  float* dst = out + h * g.W;
  const __m256 first = plane_columns(even, odd, cols.idx0, cols.odd0);
  if (g.W < 8) {
    store_first8(dst, first, g.W);
    return;
  }
  _mm256_storeu_ps(dst, first);
  if (g.W > 8) _mm256_storeu_ps(dst + g.W - 8, plane_columns(even, odd, cols.idx1, cols.odd1));
}

// dx for images [0, n) when a tile row's plane columns fit one vector each for the even and the
// odd ones (TW <= 7; AVX2). Per channel and tile row, the column step of its 4 rows k as even and
// odd plane columns (lane tx: columns 2 tx and 2 tx + 1, lane TW the last tile's c2, c3), the
// row step in registers, the two plane rows this tile row shares with the next carried to it,
// and each plane row, once it has both tile rows' terms, written out cropped to the image
// straight from its even and odd vectors (write_plane_row). No plane to clear, add into and copy
// out, no rows through memory; the same operations as grad_input_transform_avx2, in the same order,
// on each value.
__attribute__((target("avx2,fma"))) void grad_input_transform_narrow_avx2(const float* dV,
                                                                          const WinogradGeometry& g,
                                                                          int64_t n, float* dx) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C, CT = C * T;
  const __m256 keep = _mm256_castsi256_ps(first_lanes(z.TW));        // lanes of tiles
  const __m256 past_first = _mm256_castsi256_ps(_mm256_cmpgt_epi32(  // lanes 1..7
      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_setzero_si256()));
  const __m256i up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);  // lane l from lane l - 1
  const __m256 zero = _mm256_setzero_ps();
  const ImageColumns cols = image_columns(g);
  // channel by channel, each channel's images in turn (dV's rows read along, image after image:
  // 0.93-0.96x the time of image by image)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < n; ++i) {
      float* out = dx + (i * C + c) * g.H * g.W;
      __m256 p0e = zero, p0o = zero, p1e = zero, p1o = zero;  // plane rows 2 ty, 2 ty + 1
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const float* v = dV + c * T + i * z.tiles + ty * z.TW;  // position p's at v + p CT
        __m256 qe[4], qo[4];  // row k of the tile row after the column step: even, odd columns
        for (int k = 0; k < 4; ++k) {
          const float* vk = v + 4 * k * CT;
          const __m256 a = _mm256_and_ps(_mm256_loadu_ps(vk), keep);
          const __m256 b = _mm256_and_ps(_mm256_loadu_ps(vk + CT), keep);
          const __m256 cc = _mm256_and_ps(_mm256_loadu_ps(vk + 2 * CT), keep);
          const __m256 d = _mm256_and_ps(_mm256_loadu_ps(vk + 3 * CT), keep);
          const __m256 c1 = _mm256_add_ps(_mm256_sub_ps(b, cc), d);
          const __m256 c2 = _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(zero, a), b), cc);
          const __m256 c3 = _mm256_sub_ps(zero, d);
          // even column 2 tx: c0(tx) + c2(tx - 1); odd: c1(tx) + c3(tx - 1)
          qe[k] = _mm256_add_ps(a, _mm256_and_ps(_mm256_permutevar8x32_ps(c2, up), past_first));
          qo[k] = _mm256_add_ps(c1, _mm256_and_ps(_mm256_permutevar8x32_ps(c3, up), past_first));
        }
        // row step: [q0, q1 - q2 + q3, -q0 + q1 + q2, -q3] added at rows 2 ty .. 2 ty + 3
        p0e = _mm256_add_ps(p0e, qe[0]);
        p0o = _mm256_add_ps(p0o, qo[0]);
        p1e = _mm256_add_ps(p1e, _mm256_add_ps(_mm256_sub_ps(qe[1], qe[2]), qe[3]));
        p1o = _mm256_add_ps(p1o, _mm256_add_ps(_mm256_sub_ps(qo[1], qo[2]), qo[3]));
        const __m256 p2e = _mm256_add_ps(zero, _mm256_add_ps(_mm256_sub_ps(qe[1], qe[0]), qe[2]));
        const __m256 p2o = _mm256_add_ps(zero, _mm256_add_ps(_mm256_sub_ps(qo[1], qo[0]), qo[2]));
        const __m256 p3e = _mm256_sub_ps(zero, qe[3]), p3o = _mm256_sub_ps(zero, qo[3]);
        // rows 2 ty and 2 ty + 1 have all their terms
        write_plane_row(2 * ty, p0e, p0o, g, out, cols);
        write_plane_row(2 * ty + 1, p1e, p1o, g, out, cols);
        p0e = p2e, p0o = p2o, p1e = p3e, p1o = p3o;
      }
      write_plane_row(2 * z.TH, p0e, p0o, g, out, cols);
      write_plane_row(2 * z.TH + 1, p1e, p1o, g, out, cols);
    }
}

// dx for images [0, n) (AVX2; grad_input_transform has the plain loops): the column step by
// grad_input_columns_avx2 (whole vectors; every float of q's rows up to Ws defined), the row step
// on whole vectors of the plane's rows (Ws apart; the columns past Wp are never read out), the
// plane cleared and read out by inline vector copies.
__attribute__((target("avx2,fma"))) void grad_input_transform_avx2(const float* dV,
                                                                   const WinogradGeometry& g,
                                                                   int64_t n, const Scratch& s,
                                                                   float* dx) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C, Ws = z.Ws;
  float* plane = s.plane;
  float* q =
      s.rows;  // q[k][Ws] (rows Wr apart): row k (0..3) of the tile row after the column step
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      zero_row(plane, z.Hp * Ws);
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        for (int k = 0; k < 4; ++k)
          grad_input_columns_avx2(dV + ((4 * k + 0) * C + c) * T + col,
                                  dV + ((4 * k + 1) * C + c) * T + col,
                                  dV + ((4 * k + 2) * C + c) * T + col,
                                  dV + ((4 * k + 3) * C + c) * T + col, z.TW, q + k * z.Wr);
        // row step: [q0, q1 - q2 + q3, -q0 + q1 + q2, -q3] added at rows 2ty .. 2ty + 3, in the
        // plain loop's order of operations
        float* p0 = plane + 2 * ty * Ws;
        const float* q0 = q;
        const float* q1 = q + z.Wr;
        const float* q2 = q1 + z.Wr;
        const float* q3 = q2 + z.Wr;
        for (int64_t k = 0; k < Ws; k += 8) {
          const __m256 a = _mm256_loadu_ps(q0 + k), b = _mm256_loadu_ps(q1 + k);
          const __m256 cc = _mm256_loadu_ps(q2 + k), d = _mm256_loadu_ps(q3 + k);
          float* p = p0 + k;
          _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), a));
          _mm256_storeu_ps(p + Ws, _mm256_add_ps(_mm256_loadu_ps(p + Ws),
                                                 _mm256_add_ps(_mm256_sub_ps(b, cc), d)));
          _mm256_storeu_ps(p + 2 * Ws, _mm256_add_ps(_mm256_loadu_ps(p + 2 * Ws),
                                                     _mm256_add_ps(_mm256_sub_ps(b, a), cc)));
          _mm256_storeu_ps(p + 3 * Ws, _mm256_sub_ps(_mm256_loadu_ps(p + 3 * Ws), d));
        }
      }
      float* out = dx + (i * C + c) * g.H * g.W;
      for (int64_t h = 0; h < g.H; ++h)
        copy_row(out + h * g.W, plane + (h + g.ph) * Ws + g.pw, g.W);
    }
}

// dx = the sum over tiles of B dV B^T placed at each tile's input window, cropped to the image.
// Per tile row: the column step into 4 rows of partial sums (even/odd columns combined with the
// neighbouring tile's), then the row step added into the padded plane.
template <bool kVec>
inline void grad_input_transform_loops(const float* dV, const WinogradGeometry& g, int64_t n,
                                       const Scratch& s, float* dx) {
  if constexpr (kVec) {
    if (g.TW() <= 7) {
      grad_input_transform_narrow_avx2(dV, g, n, dx);
    } else {
      grad_input_transform_avx2(dV, g, n, s, dx);
    }
    return;
  }
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C;  // T: the row stride of V
  float* plane = s.plane;
  float* q =
      s.rows;  // q[k][Wp] (rows Wr apart): row k (0..3) of the tile row after the column step
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      std::fill(plane, plane + z.Hp * z.Ws, 0.0f);
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        for (int k = 0; k < 4; ++k) {
          // row k of the tile: dV[k][0..3]; column step [v0, v1 - v2 + v3, -v0 + v1 + v2, -v3]
          const float* v0 = dV + ((4 * k + 0) * C + c) * T + col;
          const float* v1 = dV + ((4 * k + 1) * C + c) * T + col;
          const float* v2 = dV + ((4 * k + 2) * C + c) * T + col;
          const float* v3 = dV + ((4 * k + 3) * C + c) * T + col;
          float* qk = q + k * z.Wr;
          // even column 2tx gets c0(tx) + c2(tx - 1), odd column 2tx + 1 gets c1(tx) + c3(tx - 1)
          float c2 = 0.0f, c3 = 0.0f;
          for (int64_t tx = 0; tx < z.TW; ++tx) {
            const float a = v0[tx], b = v1[tx], cc = v2[tx], d = v3[tx];
            qk[2 * tx] = a + c2;
            qk[2 * tx + 1] = (b - cc + d) + c3;
            c2 = -a + b + cc;
            c3 = -d;
          }
          qk[2 * z.TW] = c2;
          qk[2 * z.TW + 1] = c3;
        }
        // row step: [q0, q1 - q2 + q3, -q0 + q1 + q2, -q3] added at rows 2ty .. 2ty + 3
        float* p0 = plane + 2 * ty * z.Ws;
        float* p1 = p0 + z.Ws;
        float* p2 = p1 + z.Ws;
        float* p3 = p2 + z.Ws;
        const float* q0 = q;
        const float* q1 = q + z.Wr;
        const float* q2 = q1 + z.Wr;
        const float* q3 = q2 + z.Wr;
        for (int64_t k = 0; k < z.Wp; ++k) {
          p0[k] += q0[k];
          p1[k] += q1[k] - q2[k] + q3[k];
          p2[k] += -q0[k] + q1[k] + q2[k];
          p3[k] -= q3[k];
        }
      }
      float* out = dx + (i * C + c) * g.H * g.W;
      for (int64_t h = 0; h < g.H; ++h)
        std::memcpy(out + h * g.W, plane + (h + g.ph) * z.Ws + g.pw, sizeof(float) * g.W);
    }
}

}  // namespace

// The loops of each path with everything they call inlined (as one function, the compiler keeps
// their invariants in registers across rows).
static __attribute__((target("avx2,fma"), flatten)) void grad_input_transform_vector_path(
    const float* dV, const WinogradGeometry& g, int64_t n, const Scratch& s, float* dx) {
  grad_input_transform_loops<true>(dV, g, n, s, dx);
}
static __attribute__((flatten)) void grad_input_transform_plain_path(const float* dV,
                                                                     const WinogradGeometry& g,
                                                                     int64_t n, const Scratch& s,
                                                                     float* dx) {
  grad_input_transform_loops<false>(dV, g, n, s, dx);
}

void grad_input_transform(bool avx2, const float* dV, const WinogradGeometry& g, int64_t n,
                          const Scratch& s, float* dx) {
  if (avx2) {
    grad_input_transform_vector_path(dV, g, n, s, dx);
  } else {
    grad_input_transform_plain_path(dV, g, n, s, dx);
  }
}

}  // namespace ember::kernels::wino
