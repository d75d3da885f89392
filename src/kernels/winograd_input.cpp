// The Winograd input transform V = B^T d B of every tile (winograd_layout.hpp): plain loops on a
// zero-bordered plane, AVX2 straight from the image rows 8 tiles a vector, and for narrow planes
// (TW <= 7) each padded row split into even and odd columns once.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/winograd_layout.hpp"

namespace ember::kernels::wino {
namespace {

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
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < n; ++i) {
      const float* img = x + (i * C + c) * plane;
      // the image's next channel, asked into the cache (channel by channel, each channel's
      // images in turn, as the output transform: 0.95-0.97x the time of image by image)
      if (c + 1 < C)
        for (int64_t k = 0; k < plane; k += 16)
          _mm_prefetch(reinterpret_cast<const char*>(img + plane + k), _MM_HINT_T0);
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
inline void input_transform_loops(const float* x, const WinogradGeometry& g, int64_t n,
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

}  // namespace

// The loops of each path with everything they call inlined (as one function, the compiler keeps
// their invariants in registers across rows).
static __attribute__((target("avx2,fma"), flatten)) void input_transform_vector_path(
    const float* x, const WinogradGeometry& g, int64_t n, const Scratch& s) {
  input_transform_loops<true>(x, g, n, s);
}
static __attribute__((flatten)) void input_transform_plain_path(const float* x,
                                                                const WinogradGeometry& g,
                                                                int64_t n, const Scratch& s) {
  input_transform_loops<false>(x, g, n, s);
}

void input_transform(bool avx2, const float* x, const WinogradGeometry& g, int64_t n,
                     const Scratch& s) {
  if (avx2) {
    input_transform_vector_path(x, g, n, s);
  } else {
    input_transform_plain_path(x, g, n, s);
  }
}

}  // namespace ember::kernels::wino
