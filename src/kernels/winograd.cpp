// Winograd F(2x2, 3x3) convolution; see winograd.hpp.
//
// Layouts for a call on n images, T = n * tiles columns (tile t of image i at i*tiles + ty*TW +
// tx), rows ld = round8(T) apart, the columns [T, ld) zero:
//   V[16][C][ld]  transformed input tiles        M[16][O][ld]  products (and dM in backward)
//   u[16][O][C]   transformed weights
// Two paths, chosen by active_isa():
//  - AVX2: the transforms' column steps take 8 tiles per vector (even/odd columns split and
//    joined by permutes), and the 16 products per position run straight on V and M, no packing:
//    M[p] = u[p] V[p] by 4 rows x 24 columns of register-blocked FMAs, dV[p] = u[p]^T dM[p] the
//    same with u read transposed, du[p] = dM[p] V[p]^T by 4 x 3 blocks of 8-lane dot products.
//    Partial last vectors are stored whole where the floats past them are written again later
//    (masked stores are slow on AMD CPUs), else through a mask or, for the products' rows, in
//    pieces of 4, 2 and 1 floats. The pooled transforms take a plane's tiles as one row: tile t
//    of the plane is column i tiles + t of V and M and element t of the pooled plane.
//  - plain: scalar column steps and sgemm products, kept as the reference the tests compare the
//    AVX2 path against.
#include "kernels/winograd.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"
#include "kernels/pool_avx2.hpp"

namespace ember::kernels {
namespace {

struct Sizes {
  int64_t TH, TW, tiles, Hp, Wp, Ho, Wo;
  explicit Sizes(const WinogradGeometry& g)
      : TH(g.TH()),
        TW(g.TW()),
        tiles(g.tiles()),
        Hp(2 * g.TH() + 2),
        Wp(2 * g.TW() + 2),
        Ho(g.Ho()),
        Wo(g.Wo()),
        Ws((Wp + 7) / 8 * 8),
        Wr(Wp + 16) {}
  int64_t Ws;  // row stride of the padded plane: Wp rounded up to whole vectors
  int64_t Wr;  // width of the scratch rows: room for grad_input_columns_avx2's whole vectors
};

// Row stride of V and M for T tile columns: T rounded up to the vector width; the columns
// [T, ld) are kept zero so the products may run over whole vectors.
inline int64_t row_stride(int64_t T) { return (T + 7) / 8 * 8; }

// Zeroes the columns [T, ld) of `rows` rows of a [rows][ld] array.
inline void clear_pad_columns(float* a, int64_t rows, int64_t T) {
  const int64_t ld = row_stride(T);
  if (ld == T) return;
  for (int64_t r = 0; r < rows; ++r) std::fill(a + r * ld + T, a + (r + 1) * ld, 0.0f);
}

// The same on AVX2: each row's last vector read, its last ld - T lanes cleared and written back
// (std::fill of a few floats is a memset call per row).
__attribute__((target("avx2"))) inline void clear_pad_columns_avx2(float* a, int64_t rows,
                                                                   int64_t T) {
  const int64_t ld = row_stride(T);
  if (ld == T) return;
  const __m256 keep = _mm256_castsi256_ps(first_lanes(8 - (ld - T)));
  for (int64_t r = 1; r <= rows; ++r) {
    float* last = a + r * ld - 8;
    _mm256_storeu_ps(last, _mm256_and_ps(_mm256_loadu_ps(last), keep));
  }
}

template <bool kVec>
inline void clear_pad_columns(float* a, int64_t rows, int64_t T) {
  if constexpr (kVec) {
    clear_pad_columns_avx2(a, rows, T);
  } else {
    clear_pad_columns(a, rows, T);
  }
}

// Scratch layout: V, M, one position's V transposed for the AVX2 du product ([T][round8(C)]), one
// padded plane, 4 rows Wr wide (the plain input transform's rows t, the gradient input
// transform's column-step rows q, the pooled output's rows; last, so that the guard-page tests
// see a whole-vector store that runs past them). The AVX2 input and output transforms use
// neither the plane nor the rows.
struct Scratch {
  float *V, *M, *vt, *plane, *rows;
};
Scratch carve(const WinogradGeometry& g, int64_t n, float* s) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles);
  Scratch r;
  r.V = s;
  r.M = r.V + 16 * g.C * T;
  r.vt = r.M + 16 * g.O * T;
  r.plane = r.vt + T * ((g.C + 7) / 8 * 8);
  r.rows = r.plane + z.Hp * z.Ws;
  return r;
}

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
      const int64_t tiles = TW - tx;
      const __m256 keep = _mm256_castsi256_ps(first_lanes(tiles));
      const bool whole = tiles >= 8 || pooled + tx + 8 <= end;
      __m256 gp = whole ? _mm256_and_ps(_mm256_loadu_ps(pooled + tx), keep)
                        : _mm256_maskload_ps(pooled + tx, first_lanes(tiles));
      if (relu != nullptr) {  // ReLU's backward: where(out > 0, g, 0)
        const __m256 out = whole ? _mm256_loadu_ps(relu + tx)  // (relu ends where pooled does)
                                 : _mm256_maskload_ps(relu + tx, first_lanes(tiles));
        gp = where_positive(gp, out);
      }
      // all 8 codes where the gradient is read whole (the codes lie as it does; the lanes past
      // TW unpool a zero)
      unpool4_avx2(gp, load_codes(code + tx, whole ? 8 : static_cast<int>(tiles)), d00, d01, d10,
                   d11);
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

// Lanes l with 0 <= first + l < W set: the columns of a row that lie inside the image.
__attribute__((target("avx2"))) inline __m256i columns_inside(int64_t first, int64_t W) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto clamp = [](int64_t v) { return static_cast<int>(v < -1 ? -1 : v > 8 ? 8 : v); };
  return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(clamp(W - first)), lane),
                          _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(clamp(-first - 1))));
}

// 8 floats of an image row (null: a padding row) from column `first`: zero outside the image
// (`inside` = columns_inside(first, W)), which is never read there (a masked load).
__attribute__((target("avx2"))) inline __m256 load_inside(const float* row, int64_t first,
                                                          __m256i inside) {
  if (row == nullptr) return _mm256_setzero_ps();
  return _mm256_maskload_ps(row + first, inside);
}

// How many channel planes ahead input_transform_avx2 asks for the rows it will read. Measured on
// CNN layer 2 (14 x 14 planes, batch 256, one thread): the transform took 1.3-1.5 ms per batch
// reading the batch from memory and 0.9 ms reading planes already in the cache; 1, 2 and 4 planes
// ahead all gave 0.8-0.9 ms.
constexpr int64_t kPrefetchPlanes = 2;

// The row step of B^T d, row r = d[kStepRows[r][0]] -/+ d[kStepRows[r][1]] (+ for r == 1 only):
// d0 - d2, d1 + d2, d2 - d1, d1 - d3.
constexpr int kStepRows[4][2] = {{0, 2}, {1, 2}, {2, 1}, {1, 3}};

// V for images [0, n) (AVX2): per channel and tile row, 8 tiles at a time straight from the
// image's rows, padding as zero lanes (no bordered copy, no row buffers): the row step t = B^T d
// on the columns from 2 tx, 2 tx + 8, 2 tx + 2 and 2 tx + 10, then the column step on their
// even/odd columns (deinterleaved, so the column step's neighbours t[2tx + 2], t[2tx + 3] are
// the even/odd vectors from 2 tx + 2). The scalar loops' arithmetic (a padding zero enters the
// same sums).
__attribute__((target("avx2,fma"))) void input_transform_avx2(const float* x,
                                                              const WinogradGeometry& g, int64_t n,
                                                              float* V) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C, H = g.H, W = g.W;
  const int64_t CT = C * T;  // from one position's rows of V to the next's
  const int64_t offsets[4] = {0, 8, 2, 10};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t tx = 0; tx < z.TW; tx += 8) {
      const int64_t first = 2 * tx - g.pw;  // image column of padded column 2 tx
      __m256i inside[4];                    // the lanes inside the image, per column offset
      for (int k = 0; k < 4; ++k) inside[k] = columns_inside(first + offsets[k], W);
      const __m256i keep = first_lanes(z.TW - tx);
      // the first and last column these loads read inside the image (for the prefetch below)
      const int64_t lo = std::max<int64_t>(first, 0), hi = std::min(first + offsets[3] + 7, W - 1);
      const int64_t ahead = kPrefetchPlanes * H * W;
      for (int64_t c = 0; c < C; ++c) {
        const float* img = x + (i * C + c) * H * W;
        for (int64_t ty = 0; ty < z.TH; ++ty) {
          const float* rows[4];  // padded rows 2 ty .. 2 ty + 3 (null: padding)
          for (int r = 0; r < 4; ++r) {
            const int64_t h = 2 * ty + r - g.ph;
            rows[r] = h >= 0 && h < H ? img + h * W : nullptr;
          }
          // the same rows kPrefetchPlanes planes on (within this call's images), asked into the
          // cache: rows 0 and 1 here, 2 and 3 on the last tile row (the next tile row's 0 and 1)
          if (i * C + c + kPrefetchPlanes < n * C) {
            for (int r = 0; r < (ty + 1 == z.TH ? 4 : 2); ++r)
              if (rows[r] != nullptr) {
                _mm_prefetch(reinterpret_cast<const char*>(rows[r] + ahead + lo), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(rows[r] + ahead + hi), _MM_HINT_T0);
              }
          }
          const int64_t col = i * z.tiles + ty * z.TW;
          // whole vectors where the floats past TW are written later (the next tile row's
          // first, with one vector a row; the tile rows of each group of 8 columns in turn run
          // one after another) or are padding
          const bool whole = tx + 8 <= z.TW || (z.TW <= 8 && tx + 8 <= T - col);
          float* dst = V + c * T + col + tx;  // position 4 r + j at dst + (4 r + j) CT
          // opaque from here: else GCC keeps 16 running pointers, one per position, across tile
          // rows, and with too few registers for them adds to each on the stack every row
          asm("" : "+r"(dst));
          // one row r of the row step at a time (all 16 of its vectors at once spill registers):
          // t_r at padded columns 2 tx + offsets[k], t0..t3 = d0 - d2, d1 + d2, d2 - d1, d1 - d3
          for (int r = 0; r < 4; ++r) {
            const float* ra = rows[kStepRows[r][0]];
            const float* rb = rows[kStepRows[r][1]];
            __m256 t[4];  // [column offset 0, 8, 2, 10]
            for (int k = 0; k < 4; ++k) {
              const int64_t at = first + offsets[k];
              const __m256 a = load_inside(ra, at, inside[k]);
              const __m256 b = load_inside(rb, at, inside[k]);
              t[k] = r == 1 ? _mm256_add_ps(a, b) : _mm256_sub_ps(a, b);
            }
            __m256 e0, o0, e1, o1;
            deinterleave(t[0], t[1], e0, o0);
            deinterleave(t[2], t[3], e1, o1);
            const __m256 v[4] = {_mm256_sub_ps(e0, e1), _mm256_add_ps(o0, e1),
                                 _mm256_sub_ps(e1, o0), _mm256_sub_ps(o0, o1)};
            for (int j = 0; j < 4; ++j, dst += CT) {
              if (whole) {
                _mm256_storeu_ps(dst, v[j]);
              } else {
                _mm256_maskstore_ps(dst, keep, v[j]);
              }
            }
          }
        }
      }
    }
}

// One padded row (padded columns 0 .. 15 from image column -pw; null: a padding row) split into
// its even and odd columns, and those from the next even and odd column on (lane 7 a copy).
struct SplitRow {
  __m256 e, o, e1, o1;
};
__attribute__((target("avx2"))) inline SplitRow split_row(const float* row, int64_t first,
                                                          __m256i inside_lo, __m256i inside_hi) {
  SplitRow r;
  if (row == nullptr) {
    r.e = r.o = r.e1 = r.o1 = _mm256_setzero_ps();
    return r;
  }
  deinterleave(load_inside(row, first, inside_lo), load_inside(row, first + 8, inside_hi), r.e,
               r.o);
  const __m256i next = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
  r.e1 = _mm256_permutevar8x32_ps(r.e, next);
  r.o1 = _mm256_permutevar8x32_ps(r.o, next);
  return r;
}

// u + w or u - w: one step row's operation.
__attribute__((target("avx2"))) inline __m256 row_step(bool add, __m256 u, __m256 w) {
  return add ? _mm256_add_ps(u, w) : _mm256_sub_ps(u, w);
}

// V for images [0, n) when a padded row is at most 16 columns (TW <= 7; AVX2): each padded row
// loaded and split into even and odd columns once, for both tile rows that read it, then per
// tile row the row step on the split rows and the column step, input_transform_avx2's
// arithmetic on each value (a permutation of the columns first changes no sum).
__attribute__((target("avx2,fma"))) void input_transform_narrow_avx2(const float* x,
                                                                     const WinogradGeometry& g,
                                                                     int64_t n, float* V) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C, H = g.H, W = g.W, CT = C * T;
  const int64_t first = -g.pw;  // image column of padded column 0
  const __m256i inside_lo = columns_inside(first, W), inside_hi = columns_inside(first + 8, W);
  const __m256i keep = first_lanes(z.TW);
  const int64_t plane = H * W;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float* img = x + (i * C + c) * plane;
      // the plane kPrefetchPlanes on (within this call's images), asked into the cache
      if (i * C + c + kPrefetchPlanes < n * C)
        for (int64_t k = 0; k < plane; k += 16)
          _mm_prefetch(reinterpret_cast<const char*>(img + kPrefetchPlanes * plane + k),
                       _MM_HINT_T0);
      const auto image_row = [&](int64_t r) {  // padded row r's image row, or null
        const int64_t h = r - g.ph;
        return h >= 0 && h < H ? img + h * W : nullptr;
      };
      SplitRow d[4];  // padded rows 2 ty .. 2 ty + 3
      d[0] = split_row(image_row(0), first, inside_lo, inside_hi);
      d[1] = split_row(image_row(1), first, inside_lo, inside_hi);
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        d[2] = split_row(image_row(2 * ty + 2), first, inside_lo, inside_hi);
        d[3] = split_row(image_row(2 * ty + 3), first, inside_lo, inside_hi);
        const int64_t col = i * z.tiles + ty * z.TW;
        // whole vectors where the floats past TW are written later or are padding (as
        // input_transform_avx2)
        const bool whole = col + 8 <= T;
        float* dst = V + c * T + col;  // position 4 r + j at dst + (4 r + j) CT
        asm("" : "+r"(dst));           // opaque: no running pointer per position
        for (int r = 0; r < 4; ++r) {
          const SplitRow& a = d[kStepRows[r][0]];
          const SplitRow& b = d[kStepRows[r][1]];
          const bool add = r == 1;
          const __m256 e0 = row_step(add, a.e, b.e), o0 = row_step(add, a.o, b.o);
          const __m256 e1 = row_step(add, a.e1, b.e1), o1 = row_step(add, a.o1, b.o1);
          const __m256 v[4] = {_mm256_sub_ps(e0, e1), _mm256_add_ps(o0, e1), _mm256_sub_ps(e1, o0),
                               _mm256_sub_ps(o0, o1)};
          for (int j = 0; j < 4; ++j) {
            float* to = dst + (4 * r + j) * CT;
            if (whole) {
              _mm256_storeu_ps(to, v[j]);
            } else {
              _mm256_maskstore_ps(to, keep, v[j]);
            }
          }
        }
        d[0] = d[2];
        d[1] = d[3];
      }
    }
}

// V for images [0, n): per channel, the image in a zero-bordered plane, then per tile row
// t = B^T d on whole rows, then the column step on even/odd columns. (AVX2:
// input_transform_avx2.)
template <bool kVec>
inline void input_transform(const float* x, const WinogradGeometry& g, int64_t n,
                            const Scratch& s) {
  if constexpr (kVec) {
    if (g.TW() <= 7) {
      input_transform_narrow_avx2(x, g, n, s.V);
    } else {
      input_transform_avx2(x, g, n, s.V);
    }
    return;
  }
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C;  // T: the row stride of V
  float* plane = s.plane;
  std::fill(plane, plane + z.Hp * z.Ws, 0.0f);
  float* t0 = s.rows;
  float* t1 = t0 + z.Wr;
  float* t2 = t1 + z.Wr;
  float* t3 = t2 + z.Wr;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float* img = x + (i * C + c) * g.H * g.W;
      for (int64_t h = 0; h < g.H; ++h)
        std::memcpy(plane + (h + g.ph) * z.Ws + g.pw, img + h * g.W, sizeof(float) * g.W);
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const float* r0 = plane + 2 * ty * z.Ws;
        const float* r1 = r0 + z.Ws;
        const float* r2 = r1 + z.Ws;
        const float* r3 = r2 + z.Ws;
        for (int64_t k = 0; k < z.Wp; ++k) {
          t0[k] = r0[k] - r2[k];
          t1[k] = r1[k] + r2[k];
          t2[k] = r2[k] - r1[k];
          t3[k] = r1[k] - r3[k];
        }
        const int64_t col = i * z.tiles + ty * z.TW;
        const float* trow[4] = {t0, t1, t2, t3};
        for (int r = 0; r < 4; ++r) {
          const float* t = trow[r];
          float* v0 = s.V + ((4 * r + 0) * C + c) * T + col;
          float* v1 = s.V + ((4 * r + 1) * C + c) * T + col;
          float* v2 = s.V + ((4 * r + 2) * C + c) * T + col;
          float* v3 = s.V + ((4 * r + 3) * C + c) * T + col;
          for (int64_t tx = 0; tx < z.TW; ++tx) {
            const float e0 = t[2 * tx], o0 = t[2 * tx + 1], e1 = t[2 * tx + 2], o1 = t[2 * tx + 3];
            v0[tx] = e0 - e1;
            v1[tx] = o0 + e1;
            v2[tx] = e1 - o0;
            v3[tx] = o0 - o1;
          }
        }
      }
      // clear the interior again so the next plane's border is still zero
      for (int64_t h = 0; h < g.H; ++h)
        std::fill(plane + (h + g.ph) * z.Ws + g.pw, plane + (h + g.ph) * z.Ws + g.pw + g.W, 0.0f);
    }
}

// y = A^T M A (+ bias) for every output channel and tile, clipped to Ho x Wo.
template <bool kVec>
inline void output_transform(const float* M, const float* bias, const WinogradGeometry& g,
                             int64_t n, float* y, std::uint8_t* code, float* rows, bool relu) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), O = g.O;  // T: the row stride of M
  // Pooled (code not null): each tile row's two output rows go to `rows` (2 Wo floats and 16
  // spare), then through the 2x2 max pool into y's row ty and code's. Else straight into y.
  const bool pooled = code != nullptr;
  const int64_t plane_size = pooled ? z.TH * z.TW : z.Ho * z.Wo;
  const float* y_end = y + n * O * plane_size;  // written in order of address, up to here
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < O; ++o) {
      const float b = bias != nullptr ? bias[o] : 0.0f;
      float* out = y + (i * O + o) * plane_size;
      if constexpr (kVec) {
        if (pooled) {  // pooled in registers, a tile per lane: the plane's tiles, its TH TW
                       // pooled outputs and M's columns alike, as one row
          const int64_t at = (i * O + o) * plane_size;
          output_row_avx2(M + o * T + i * z.tiles, O * T, b, plane_size, z.Wo, nullptr, nullptr,
                          nullptr, y + at, code + at, y_end, relu);
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
          output_row_avx2(m0, O * T, b, z.TW, z.Wo, y0, row1 ? y1 : nullptr, y_end);
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
inline void grad_output_transform(const float* dy, const WinogradGeometry& g, int64_t n, float* dM,
                                  const std::uint8_t* code, float* rows, const float* relu) {
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

// Plane row r (padded coordinates; its even and odd columns) into row r - ph of the image out,
// when that is a row of it, through `joined` (16 floats).
__attribute__((target("avx2"))) inline void write_plane_row(int64_t r, __m256 even, __m256 odd,
                                                            const WinogradGeometry& g, float* out,
                                                            float* joined) {
  const int64_t h = r - g.ph;
  if (h < 0 || h >= g.H) return;
  __m256 lo, hi;
  interleave(even, odd, lo, hi);
  _mm256_storeu_ps(joined, lo);
  _mm256_storeu_ps(joined + 8, hi);
  copy_row(out + h * g.W, joined + g.pw, g.W);
}

// dx for images [0, n) when a tile row's plane columns fit one vector each for the even and the
// odd ones (TW <= 7; AVX2). Per channel and tile row, the column step of its 4 rows k as even and
// odd plane columns (lane tx: columns 2 tx and 2 tx + 1, lane TW the last tile's c2, c3), the
// row step in registers, the two plane rows this tile row shares with the next carried to it,
// and each plane row, once it has both tile rows' terms, joined and written out cropped to the
// image. No plane to clear, add into and copy out, no rows through memory; the same operations
// as grad_input_transform_avx2, in the same order, on each value.
__attribute__((target("avx2,fma"))) void grad_input_transform_narrow_avx2(
    const float* dV, const WinogradGeometry& g, int64_t n, const Scratch& s, float* dx) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles), C = g.C, CT = C * T;
  const __m256 keep = _mm256_castsi256_ps(first_lanes(z.TW));        // lanes of tiles
  const __m256 past_first = _mm256_castsi256_ps(_mm256_cmpgt_epi32(  // lanes 1..7
      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_setzero_si256()));
  const __m256i up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);  // lane l from lane l - 1
  const __m256 zero = _mm256_setzero_ps();
  float* joined = s.rows;  // one plane row, 16 floats
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
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
        write_plane_row(2 * ty, p0e, p0o, g, out, joined);
        write_plane_row(2 * ty + 1, p1e, p1o, g, out, joined);
        p0e = p2e, p0o = p2o, p1e = p3e, p1o = p3o;
      }
      write_plane_row(2 * z.TH, p0e, p0o, g, out, joined);
      write_plane_row(2 * z.TH + 1, p1e, p1o, g, out, joined);
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
inline void grad_input_transform(const float* dV, const WinogradGeometry& g, int64_t n,
                                 const Scratch& s, float* dx) {
  if constexpr (kVec) {
    if (g.TW() <= 7) {
      grad_input_transform_narrow_avx2(dV, g, n, s, dx);
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

// ---- the products of one Winograd position, straight on the V / M layout (AVX2) ----

// c[r, t] = sum_k a[r * ars + k * aks] * b[k * ldb + t] for r < R, t < ld (ld a multiple of 8):
// RB rows by VB vectors of 8 columns in registers, k in order.
template <int RB, int VB>
__attribute__((target("avx2,fma"), always_inline)) inline void block_nn(int64_t K, const float* a,
                                                                        int64_t ars, int64_t aks,
                                                                        const float* b, int64_t ldb,
                                                                        float* c, int64_t ldc) {
  __m256 acc[RB][VB];
  for (int i = 0; i < RB; ++i)
    for (int j = 0; j < VB; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 bv[VB];
    for (int j = 0; j < VB; ++j) bv[j] = _mm256_loadu_ps(b + k * ldb + 8 * j);
    for (int i = 0; i < RB; ++i) {
      const __m256 av = _mm256_set1_ps(a[i * ars + k * aks]);
      for (int j = 0; j < VB; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < RB; ++i)
    for (int j = 0; j < VB; ++j) _mm256_storeu_ps(c + i * ldc + 8 * j, acc[i][j]);
}

template <int RB>
__attribute__((target("avx2,fma"), always_inline)) inline void rows_nn(int64_t ld, int64_t K,
                                                                       const float* a, int64_t ars,
                                                                       int64_t aks, const float* b,
                                                                       int64_t ldb, float* c,
                                                                       int64_t ldc) {
  int64_t t = 0;
  for (; t + 24 <= ld; t += 24) block_nn<RB, 3>(K, a, ars, aks, b + t, ldb, c + t, ldc);
  if (t + 16 <= ld) {
    block_nn<RB, 2>(K, a, ars, aks, b + t, ldb, c + t, ldc);
  } else if (t + 8 <= ld) {
    block_nn<RB, 1>(K, a, ars, aks, b + t, ldb, c + t, ldc);
  }
}

__attribute__((target("avx2,fma"), noinline)) void small_gemm_nn(int64_t R, int64_t ld, int64_t K,
                                                                 const float* a, int64_t ars,
                                                                 int64_t aks, const float* b,
                                                                 float* c) {
  int64_t r = 0;
  for (; r + 4 <= R; r += 4) rows_nn<4>(ld, K, a + r * ars, ars, aks, b, ld, c + r * ld, ld);
  for (; r < R; ++r) rows_nn<1>(ld, K, a + r * ars, ars, aks, b, ld, c + r * ld, ld);
}

// c[r, j] (+)= sum_t m[r * ld + t] * vt[t * ldv + j] for r < RB and j < w (w <= 8 VB, vt readable
// to 8 VB columns), t < ld in order: RB rows by VB vectors of columns in registers.
template <int RB, int VB>
__attribute__((target("avx2,fma"), always_inline)) inline void block_nt(int64_t ld, const float* m,
                                                                        const float* vt,
                                                                        int64_t ldv, float* c,
                                                                        int64_t ldc, int64_t w,
                                                                        bool accumulate) {
  __m256 acc[RB][VB];
  for (int i = 0; i < RB; ++i)
    for (int j = 0; j < VB; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t t = 0; t < ld; ++t) {
    __m256 b[VB];
    for (int j = 0; j < VB; ++j) b[j] = _mm256_loadu_ps(vt + t * ldv + 8 * j);
    for (int i = 0; i < RB; ++i) {
      const __m256 a = _mm256_set1_ps(m[i * ld + t]);
      for (int j = 0; j < VB; ++j) acc[i][j] = _mm256_fmadd_ps(a, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < RB; ++i) {
    alignas(32) float sums[8 * VB];
    for (int j = 0; j < VB; ++j) _mm256_store_ps(sums + 8 * j, acc[i][j]);
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < w; ++j) ci[j] = accumulate ? ci[j] + sums[j] : sums[j];
  }
}

template <int RB>
__attribute__((target("avx2,fma"), always_inline)) inline void rows_nt(int64_t C, int64_t ld,
                                                                       const float* m,
                                                                       const float* vt, int64_t ldv,
                                                                       float* c, bool accumulate) {
  int64_t j = 0;
  for (; j + 8 < C; j += 16)
    block_nt<RB, 2>(ld, m, vt + j, ldv, c + j, C, std::min<int64_t>(16, C - j), accumulate);
  if (j < C) block_nt<RB, 1>(ld, m, vt + j, ldv, c + j, C, C - j, accumulate);
}

// du[O, C] (+)= m[O, ld] * v[C, ld]^T, ld a multiple of 8 (the padding columns are zero): v
// transposed into vt [ld][round8(C)] (pack_b_transposed_avx2), then du's rows 4 at a time
// against 16 of its columns, each sum over t in order, one chain (sgemm's sums where T is within
// its kc). (Dot products of m's and v's rows instead, 8 tiles a lane, cost as much again in
// summing the lanes.)
__attribute__((target("avx2,fma"), noinline)) void small_gemm_nt(int64_t O, int64_t C, int64_t ld,
                                                                 const float* m, const float* v,
                                                                 float* du, bool accumulate,
                                                                 float* vt) {
  const int64_t ldv = (C + 7) / 8 * 8;
  pack_b_transposed_avx2(v, ld, ld, C, ldv, vt);
  int64_t o = 0;
  for (; o + 4 <= O; o += 4) rows_nt<4>(C, ld, m + o * ld, vt, ldv, du + o * C, accumulate);
  for (; o < O; ++o) rows_nt<1>(C, ld, m + o * ld, vt, ldv, du + o * C, accumulate);
}

// kSmall: the products by the AVX2 small-product kernels above; else by sgemm (the path without
// AVX2, and the reference the tests compare the other against).
template <bool kSmall>
inline void forward_body(const float* x, const float* u, const float* bias,
                         const WinogradGeometry& g, int64_t n, float* y, std::uint8_t* code,
                         bool relu, float* scratch) {
  const Scratch s = carve(g, n, scratch);
  const int64_t T = n * g.tiles(), ld = row_stride(T), O = g.O, C = g.C;
  input_transform<kSmall>(x, g, n, s);
  clear_pad_columns<kSmall>(s.V, 16 * C, T);
  for (int p = 0; p < 16; ++p) {
    if constexpr (kSmall) {
      small_gemm_nn(O, ld, C, u + p * O * C, C, 1, s.V + p * C * ld, s.M + p * O * ld);
    } else {
      sgemm(false, false, O, T, C, u + p * O * C, C, s.V + p * C * ld, ld, 0.0f, s.M + p * O * ld,
            ld);
    }
  }
  output_transform<kSmall>(s.M, bias, g, n, y, code, s.rows, relu);  // rows: free again
}

template <bool kSmall>
inline void backward_body(const float* x, const float* u, const float* dy,
                          const WinogradGeometry& g, int64_t n, float* dx, float* du,
                          bool accumulate, const std::uint8_t* code, const float* relu,
                          float* scratch) {
  const Scratch s = carve(g, n, scratch);
  const int64_t T = n * g.tiles(), ld = row_stride(T), O = g.O, C = g.C;
  grad_output_transform<kSmall>(dy, g, n, s.M, code, s.rows, relu);  // rows: not yet in use
  clear_pad_columns<kSmall>(s.M, 16 * O, T);
  if (du != nullptr) {
    input_transform<kSmall>(x, g, n, s);
    clear_pad_columns<kSmall>(s.V, 16 * C, T);
  }
  // position by position, du[p] (from V[p]) and then dV[p] (into V[p]'s place), both from dM[p]
  // while it is in the cache
  for (int p = 0; p < 16; ++p) {
    if (du != nullptr) {
      if constexpr (kSmall) {
        small_gemm_nt(O, C, ld, s.M + p * O * ld, s.V + p * C * ld, du + p * O * C, accumulate,
                      s.vt);
      } else {
        sgemm(false, true, O, C, T, s.M + p * O * ld, ld, s.V + p * C * ld, ld,
              accumulate ? 1.0f : 0.0f, du + p * O * C, C);
      }
    }
    if (dx != nullptr) {
      if constexpr (kSmall) {
        small_gemm_nn(C, ld, O, u + p * O * C, 1, C, s.M + p * O * ld, s.V + p * C * ld);
      } else {
        sgemm(true, false, C, T, O, u + p * O * C, C, s.M + p * O * ld, ld, 0.0f, s.V + p * C * ld,
              ld);
      }
    }
  }
  if (dx != nullptr) {
    grad_input_transform<kSmall>(s.V, g, n, s, dx);
  }
}

__attribute__((target("avx2,fma"), flatten)) void forward_avx2(const float* x, const float* u,
                                                               const float* bias,
                                                               const WinogradGeometry& g, int64_t n,
                                                               float* y, std::uint8_t* code,
                                                               bool relu, float* scratch) {
  forward_body<true>(x, u, bias, g, n, y, code, relu, scratch);
}
__attribute__((flatten)) void forward_generic(const float* x, const float* u, const float* bias,
                                              const WinogradGeometry& g, int64_t n, float* y,
                                              std::uint8_t* code, bool relu, float* scratch) {
  forward_body<false>(x, u, bias, g, n, y, code, relu, scratch);
}
__attribute__((target("avx2,fma"), flatten)) void backward_avx2(
    const float* x, const float* u, const float* dy, const WinogradGeometry& g, int64_t n,
    float* dx, float* du, bool accumulate, const std::uint8_t* code, const float* relu,
    float* scratch) {
  backward_body<true>(x, u, dy, g, n, dx, du, accumulate, code, relu, scratch);
}
__attribute__((flatten)) void backward_generic(const float* x, const float* u, const float* dy,
                                               const WinogradGeometry& g, int64_t n, float* dx,
                                               float* du, bool accumulate, const std::uint8_t* code,
                                               const float* relu, float* scratch) {
  backward_body<false>(x, u, dy, g, n, dx, du, accumulate, code, relu, scratch);
}

}  // namespace

bool winograd_applies(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      int64_t groups, int64_t ph, int64_t pw, int64_t H, int64_t W) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 && ph >= 0 &&
         ph <= 2 && pw >= 0 && pw <= 2 && H + 2 * ph >= 3 && W + 2 * pw >= 3;
}

int64_t winograd_scratch_size(const WinogradGeometry& g, int64_t n) {
  const Sizes z(g);
  const int64_t T = row_stride(n * z.tiles);
  return 16 * g.C * T + 16 * g.O * T + z.Hp * z.Ws + 4 * z.Wr + T * ((g.C + 7) / 8 * 8);
}

void winograd_weights(const float* w, const WinogradGeometry& g, float* u) {
  const int64_t OC = g.O * g.C;
  for (int64_t k = 0; k < OC; ++k) {
    const float* f = w + 9 * k;
    // t = G f: rows [f0, (f0 + f1 + f2) / 2, (f0 - f1 + f2) / 2, f2]; then u = t G^T
    float t[4][3];
    for (int j = 0; j < 3; ++j) {
      const float f0 = f[j], f1 = f[3 + j], f2 = f[6 + j];
      t[0][j] = f0;
      t[1][j] = 0.5f * (f0 + f1 + f2);
      t[2][j] = 0.5f * (f0 - f1 + f2);
      t[3][j] = f2;
    }
    for (int r = 0; r < 4; ++r) {
      const float f0 = t[r][0], f1 = t[r][1], f2 = t[r][2];
      u[(4 * r + 0) * OC + k] = f0;
      u[(4 * r + 1) * OC + k] = 0.5f * (f0 + f1 + f2);
      u[(4 * r + 2) * OC + k] = 0.5f * (f0 - f1 + f2);
      u[(4 * r + 3) * OC + k] = f2;
    }
  }
}

void winograd_weights_backward(const float* du, const WinogradGeometry& g, float* dw) {
  const int64_t OC = g.O * g.C;
  for (int64_t k = 0; k < OC; ++k) {
    // dw = G^T du G: G^T rows [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1], on rows then on columns
    float t[3][4];
    for (int j = 0; j < 4; ++j) {
      const float u0 = du[(0 + j) * OC + k], u1 = du[(4 + j) * OC + k];
      const float u2 = du[(8 + j) * OC + k], u3 = du[(12 + j) * OC + k];
      t[0][j] = u0 + 0.5f * (u1 + u2);
      t[1][j] = 0.5f * (u1 - u2);
      t[2][j] = 0.5f * (u1 + u2) + u3;
    }
    float* f = dw + 9 * k;
    for (int r = 0; r < 3; ++r) {
      const float u0 = t[r][0], u1 = t[r][1], u2 = t[r][2], u3 = t[r][3];
      f[3 * r + 0] = u0 + 0.5f * (u1 + u2);
      f[3 * r + 1] = 0.5f * (u1 - u2);
      f[3 * r + 2] = 0.5f * (u1 + u2) + u3;
    }
  }
}

void winograd_forward(const float* x, const float* u, const float* bias, const WinogradGeometry& g,
                      int64_t n, float* y, float* scratch, std::uint8_t* pool_code, bool relu) {
  relu = relu && pool_code != nullptr;
  if (active_isa() != Isa::generic) {
    forward_avx2(x, u, bias, g, n, y, pool_code, relu, scratch);
  } else {
    forward_generic(x, u, bias, g, n, y, pool_code, relu, scratch);
  }
}

void winograd_backward(const float* x, const float* u, const float* dy, const WinogradGeometry& g,
                       int64_t n, float* dx, float* du, bool accumulate, float* scratch,
                       const std::uint8_t* pool_code, const float* relu_out) {
  if (pool_code == nullptr) relu_out = nullptr;
  if (active_isa() != Isa::generic) {
    backward_avx2(x, u, dy, g, n, dx, du, accumulate, pool_code, relu_out, scratch);
  } else {
    backward_generic(x, u, dy, g, n, dx, du, accumulate, pool_code, relu_out, scratch);
  }
}

}  // namespace ember::kernels
