// The Winograd output transform y = A^T M A and its adjoint dM = A dy A^T, each with the 2x2 max
// pool (and ReLU) fused (winograd_layout.hpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/pool.hpp"
#include "kernels/pool_avx2.hpp"
#include "kernels/winograd_layout.hpp"

namespace ember::kernels::wino {
namespace {

// ---- AVX2 steps of the transforms, 8 tiles per vector (a partial last vector through a mask) ----

// Stores lo, hi (16 floats) at dst, only the first `count` of them; whole vectors where dst + 16
// stays below `end` (the floats past count are written again later).
__attribute__((target("avx2"))) inline void store_first(float* dst, __m256 lo, __m256 hi,
                                                        int64_t count, const float* end) {
  if (count >= 16 || dst + 16 <= end) {
    _mm256_storeu_ps(dst, lo);
    _mm256_storeu_ps(dst + 8, hi);
    return;
  }
  _mm256_maskstore_ps(dst, first_lanes(count), lo);
  if (count > 8) _mm256_maskstore_ps(dst + 8, first_lanes(count - 8), hi);
}

// The output transform of one tile row: 16 rows of products, position p's at m + p ps (readable
// 8 floats past TW), y0 and y1 (null when past Ho) the two output rows, clipped to Wo; the scalar
// loop's arithmetic.
// Pooled (pooled not null; Ho and Wo even): instead, each tile's 2x2 max into pooled[tx] and
// its code into code[tx]; pooled_end as `end` for the pooled output.
__attribute__((target("avx2,fma"))) void output_row_avx2(
    const float* m, int64_t ps, float bias, int64_t TW, int64_t Wo, float* y0, float* y1,
    const float* end, float* pooled = nullptr, std::uint8_t* code = nullptr,
    const float* pooled_end = nullptr, bool relu = false) {
  const __m256 b = _mm256_set1_ps(bias);
  // y0's last vector may run into y1 only while y1 is still to be written (one vector a row)
  const float* end0 = y1 != nullptr && TW > 8 ? y1 : end;
  for (int64_t tx = 0; tx < TW; tx += 8) {
    __m256 a[4], d[4];
    for (int j = 0; j < 4; ++j) {
      const float* mj = m + j * ps + tx;
      const __m256 m0 = _mm256_loadu_ps(mj), m1 = _mm256_loadu_ps(mj + 4 * ps);
      const __m256 m2 = _mm256_loadu_ps(mj + 8 * ps), m3 = _mm256_loadu_ps(mj + 12 * ps);
      a[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
      d[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    const int64_t count = Wo - 2 * tx;
    __m256 lo, hi;
    const __m256 y00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), a[2]), b);
    if (pooled != nullptr) {  // each tile is a pooling window: y00 y01 / y10 y11, lane by lane
      __m256 v[4] = {y00, _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(a[1], a[2]), a[3]), b),
                     _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(d[0], d[1]), d[2]), b),
                     _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(d[1], d[2]), d[3]), b)};
      __m256i k;  // with relu: as relu() then max_pool2d()
      const __m256 mx =
          relu ? relu_pool4_avx2(v[0], v[1], v[2], v[3], k) : pool4_avx2(v[0], v[1], v[2], v[3], k);
      const int64_t tiles = TW - tx;  // whole vectors where the floats past are written later
      const bool whole = tiles >= 8 || pooled + tx + 8 <= pooled_end;
      if (whole) {
        _mm256_storeu_ps(pooled + tx, mx);
      } else {
        _mm256_maskstore_ps(pooled + tx, first_lanes(tiles), mx);
      }
      // all 8 codes where the pooled output is stored whole (the codes lie as it does)
      store_codes(k, whole ? 8 : static_cast<int>(tiles), code + tx);
      continue;
    }
    const __m256 y01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(a[1], a[2]), a[3]), b);
    interleave(y00, y01, lo, hi);
    store_first(y0 + 2 * tx, lo, hi, count, end0);
    if (y1 != nullptr) {
      const __m256 y10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(d[0], d[1]), d[2]), b);
      const __m256 y11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(d[1], d[2]), d[3]), b);
      interleave(y10, y11, lo, hi);
      store_first(y1 + 2 * tx, lo, hi, count, end);
    }
  }
}

// Loads the first `count` of 16 floats at src (the rest 0) as even and odd columns.
__attribute__((target("avx2"))) inline void load_first(const float* src, int64_t count,
                                                       const float* end, __m256& even,
                                                       __m256& odd) {
  __m256 lo, hi;
  if (count >= 16) {
    lo = _mm256_loadu_ps(src);
    hi = _mm256_loadu_ps(src + 8);
  } else if (src + 16 <= end) {
    lo = _mm256_and_ps(_mm256_loadu_ps(src), _mm256_castsi256_ps(first_lanes(count)));
    hi = _mm256_and_ps(_mm256_loadu_ps(src + 8), _mm256_castsi256_ps(first_lanes(count - 8)));
  } else {
    lo = _mm256_maskload_ps(src, first_lanes(count));
    hi = count > 8 ? _mm256_maskload_ps(src + 8, first_lanes(count - 8)) : _mm256_setzero_ps();
  }
  deinterleave(lo, hi, even, odd);
}

// The gradient output transform of one tile row: g0, g1 (null when past Ho) the rows of dy,
// Wo wide, into 16 rows of TW, position p's at m + p ps; the scalar loop's arithmetic.
// Pooled (pooled not null; Ho and Wo even): the tile row's gradient comes from the pooled
// gradient pooled[tx] and codes code[tx] instead (end: as for g0, for the pooled gradient), and
// with relu (the pooled, relu'd output at the same places) only where relu[tx] > 0.
__attribute__((target("avx2,fma"))) void grad_output_row_avx2(
    const float* g0, const float* g1, int64_t TW, int64_t Wo, const float* end, int64_t room,
    float* m, int64_t ps, const float* pooled = nullptr, const std::uint8_t* code = nullptr,
    const float* relu = nullptr) {
  for (int64_t tx = 0; tx < TW; tx += 8) {
    const int64_t count = Wo - 2 * tx;
    __m256 d00, d01, d10 = _mm256_setzero_ps(), d11 = _mm256_setzero_ps();
    if (pooled != nullptr) {
      const int64_t tiles = std::min<int64_t>(8, TW - tx);
      // whole where the pooled gradient goes on past the group (relu and the codes lie alike)
      unpool_group_avx2(pooled + tx, relu != nullptr ? relu + tx : nullptr, code + tx, tiles,
                        tiles == 8 || pooled + tx + 8 <= end, d00, d01, d10, d11);
    } else {
      load_first(g0 + 2 * tx, count, end, d00, d01);
      if (g1 != nullptr) load_first(g1 + 2 * tx, count, end, d10, d11);
    }
    const __m256 zero = _mm256_setzero_ps();
    const __m256 r[4][2] = {{d00, d01},
                            {_mm256_add_ps(d00, d10), _mm256_add_ps(d01, d11)},
                            {_mm256_sub_ps(d00, d10), _mm256_sub_ps(d01, d11)},
                            {_mm256_sub_ps(zero, d10), _mm256_sub_ps(zero, d11)}};
    const bool full = tx + 8 <= room;
    for (int q = 0; q < 4; ++q) {
      const __m256 out[4] = {r[q][0], _mm256_add_ps(r[q][0], r[q][1]),
                             _mm256_sub_ps(r[q][0], r[q][1]), _mm256_sub_ps(zero, r[q][1])};
      for (int j = 0; j < 4; ++j) {
        float* dst = m + (4 * q + j) * ps + tx;
        if (full) {
          _mm256_storeu_ps(dst, out[j]);
        } else {
          store_first8(dst, out[j], TW - tx);
        }
      }
    }
  }
}

// y = A^T M A (+ bias) for every output channel and tile, clipped to Ho x Wo.
template <bool kVec>
inline void output_transform_loops(const float* M, const float* bias, const WinogradGeometry& g,
                                   int64_t n, float* y, std::uint8_t* code, float* rows,
                                   bool relu) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), O = g.O;  // T: the row stride of M
  // Pooled (code not null): each tile row's two output rows go to `rows` (2 Wo floats and 16
  // spare), then through the 2x2 max pool into y's row ty and code's. Else straight into y.
  const bool pooled = code != nullptr;
  const int64_t plane_size = pooled ? z.TH * z.TW : z.Ho * z.Wo;
  // Channel by channel, each channel's images in turn: M's rows are read along, image after
  // image (the other way round, image by image, took 1.3-1.5x as long pooled). The vector stores
  // may run past a plane only into the next ones of the same image, all written later: up to
  // image_end.
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < n; ++i) {
      const float b = bias != nullptr ? bias[o] : 0.0f;
      float* out = y + (i * O + o) * plane_size;
      const float* image_end = y + (i + 1) * O * plane_size;
      if constexpr (kVec) {
        if (pooled) {  // pooled in registers, a tile per lane: the plane's tiles, its TH TW
                       // pooled outputs and M's columns alike, as one row
          const int64_t at = (i * O + o) * plane_size;
          output_row_avx2(M + o * T + i * z.tiles, O * T, b, plane_size, z.Wo, nullptr, nullptr,
                          nullptr, y + at, code + at, image_end, relu);
          continue;
        }
      }
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        float* __restrict y0 = pooled ? rows : out + 2 * ty * z.Wo;
        float* __restrict y1 = y0 + z.Wo;
        const bool row1 = 2 * ty + 1 < z.Ho;
        const int64_t full = z.Wo / 2;  // tiles whose two columns both exist
        if constexpr (kVec) {
          const float* m0 = M + o * T + col;  // position p's row at m0 + p O T
          asm("" : "+r"(m0));  // opaque: no running pointer per position (see grad_output)
          output_row_avx2(m0, O * T, b, z.TW, z.Wo, y0, row1 ? y1 : nullptr, image_end);
        } else {
          const float* m[16];
          for (int p = 0; p < 16; ++p) m[p] = M + (p * O + o) * T + col;
          for (int64_t tx = 0; tx < z.TW; ++tx) {
            float a[4], d[4];
            for (int j = 0; j < 4; ++j) {
              a[j] = m[j][tx] + m[4 + j][tx] + m[8 + j][tx];
              d[j] = m[4 + j][tx] - m[8 + j][tx] - m[12 + j][tx];
            }
            const float y00 = a[0] + a[1] + a[2] + b, y01 = a[1] - a[2] - a[3] + b;
            const float y10 = d[0] + d[1] + d[2] + b, y11 = d[1] - d[2] - d[3] + b;
            y0[2 * tx] = y00;
            if (tx < full) y0[2 * tx + 1] = y01;
            if (row1) {
              y1[2 * tx] = y10;
              if (tx < full) y1[2 * tx + 1] = y11;
            }
          }
        }
        if (pooled) {
          const int64_t at = (i * O + o) * plane_size + ty * z.TW;
          if (relu)  // before the pool, as relu() then max_pool2d()
            for (int64_t k = 0; k < 2 * z.Wo; ++k) rows[k] = rows[k] > 0.0f ? rows[k] : 0.0f;
          max_pool2d_2x2_plane<float>(rows, 2, z.Wo, y + at, code + at);
        }
      }
    }
}

// dM = A dy A^T for every output channel and tile (dy zero outside Ho x Wo).
template <bool kVec>
inline void grad_output_transform_loops(const float* dy, const WinogradGeometry& g, int64_t n,
                                        float* dM, const std::uint8_t* code, float* rows,
                                        const float* relu) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), O = g.O;  // T: the row stride of M
  const int64_t full = z.Wo / 2;
  // Pooled (code not null): dy holds the pooled gradient [n, O, TH, TW]; each tile row's two
  // rows of the convolution's gradient are rebuilt in `rows` by the 2x2 pool's backward. With
  // relu (the pooled forward output after ReLU, as dy), the pooled gradient counts only where
  // relu > 0 (ReLU's backward, folded in; the plain path masks a copy of the row after 2 Wo + 16
  // floats of `rows`).
  const bool pooled = code != nullptr;
  const int64_t plane_size = pooled ? z.TH * z.TW : z.Ho * z.Wo;
  const float* dy_end = dy + n * O * plane_size;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < O; ++o) {
      const float* plane = dy + (i * O + o) * plane_size;
      if constexpr (kVec) {
        if (pooled) {  // unpooled in registers, a tile per lane: the plane's tiles, its TH TW
                       // pooled gradients and M's columns alike, as one row
          const int64_t col = i * z.tiles, at = (i * O + o) * plane_size;
          grad_output_row_avx2(nullptr, nullptr, plane_size, z.Wo, dy_end, T - col,
                               dM + o * T + col, O * T, dy + at, code + at,
                               relu != nullptr ? relu + at : nullptr);
          continue;
        }
      }
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        float* m0 = dM + o * T + col;  // position p's row at m0 + p O T
        // opaque from here: else GCC keeps 16 running pointers, one per position, across tile
        // rows, and with too few registers for them adds to each on the stack every row
        asm("" : "+r"(m0));
        const float* g0 = plane + 2 * ty * z.Wo;
        const int64_t at = (i * O + o) * plane_size + ty * z.TW;
        if (pooled) {
          const float* gp = dy + at;
          if (relu != nullptr) {
            float* masked = rows + 2 * z.Wo + 16;
            for (int64_t tx = 0; tx < z.TW; ++tx) masked[tx] = relu[at + tx] > 0.0f ? gp[tx] : 0.0f;
            gp = masked;
          }
          max_pool2d_2x2_backward_plane<float>(code + at, gp, 2, z.Wo, rows);
          g0 = rows;
        }
        const float* g1 = g0 + z.Wo;
        const bool row1 = 2 * ty + 1 < z.Ho;
        if constexpr (kVec) {
          grad_output_row_avx2(g0, row1 ? g1 : nullptr, z.TW, z.Wo, dy_end, T - col, m0, O * T);
          continue;
        }
        float* m[16];
        for (int p = 0; p < 16; ++p) m[p] = m0 + p * O * T;
        for (int64_t tx = 0; tx < z.TW; ++tx) {
          const float d00 = g0[2 * tx], d01 = tx < full ? g0[2 * tx + 1] : 0.0f;
          const float d10 = row1 ? g1[2 * tx] : 0.0f;
          const float d11 = row1 && tx < full ? g1[2 * tx + 1] : 0.0f;
          // rows: [r0, r1, r2, r3] = [d0, d0 + d1, d0 - d1, -d1]; then the same along columns
          const float r[4][2] = {
              {d00, d01}, {d00 + d10, d01 + d11}, {d00 - d10, d01 - d11}, {-d10, -d11}};
          for (int k = 0; k < 4; ++k) {
            m[4 * k + 0][tx] = r[k][0];
            m[4 * k + 1][tx] = r[k][0] + r[k][1];
            m[4 * k + 2][tx] = r[k][0] - r[k][1];
            m[4 * k + 3][tx] = -r[k][1];
          }
        }
      }
    }
}

}  // namespace

// The loops of each path with everything they call inlined (as one function, the compiler keeps
// their invariants in registers across rows).
static __attribute__((target("avx2,fma"), flatten)) void output_transform_vector_path(
    const float* M, const float* bias, const WinogradGeometry& g, int64_t n, float* y,
    std::uint8_t* code, float* rows, bool relu) {
  output_transform_loops<true>(M, bias, g, n, y, code, rows, relu);
}
static __attribute__((flatten)) void output_transform_plain_path(const float* M, const float* bias,
                                                                 const WinogradGeometry& g,
                                                                 int64_t n, float* y,
                                                                 std::uint8_t* code, float* rows,
                                                                 bool relu) {
  output_transform_loops<false>(M, bias, g, n, y, code, rows, relu);
}

void output_transform(bool avx2, const float* M, const float* bias, const WinogradGeometry& g,
                      int64_t n, float* y, std::uint8_t* code, float* rows, bool relu) {
  if (avx2) {
    output_transform_vector_path(M, bias, g, n, y, code, rows, relu);
  } else {
    output_transform_plain_path(M, bias, g, n, y, code, rows, relu);
  }
}

// The loops of each path with everything they call inlined (as one function, the compiler keeps
// their invariants in registers across rows).
static __attribute__((target("avx2,fma"), flatten)) void grad_output_transform_vector_path(
    const float* dy, const WinogradGeometry& g, int64_t n, float* dM, const std::uint8_t* code,
    float* rows, const float* relu) {
  grad_output_transform_loops<true>(dy, g, n, dM, code, rows, relu);
}
static __attribute__((flatten)) void grad_output_transform_plain_path(
    const float* dy, const WinogradGeometry& g, int64_t n, float* dM, const std::uint8_t* code,
    float* rows, const float* relu) {
  grad_output_transform_loops<false>(dy, g, n, dM, code, rows, relu);
}

void grad_output_transform(bool avx2, const float* dy, const WinogradGeometry& g, int64_t n,
                           float* dM, const std::uint8_t* code, float* rows, const float* relu) {
  if (avx2) {
    grad_output_transform_vector_path(dy, g, n, dM, code, rows, relu);
  } else {
    grad_output_transform_plain_path(dy, g, n, dM, code, rows, relu);
  }
}

}  // namespace ember::kernels::wino
