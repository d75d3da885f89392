#pragma once
// The Winograd kernels' internal layout (winograd.cpp and its transforms, winograd_*.cpp): the
// sizes of a call's tiles and padded plane, the scratch it carves, and the four transforms the
// forward and backward run around their products. See winograd.cpp for the layouts of V and M.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/avx2_util.hpp"
#include "kernels/winograd.hpp"

namespace ember::kernels::wino {

// n rounded up to whole vectors of 8 floats.
inline int64_t round8(int64_t n) { return (n + 7) / 8 * 8; }

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
        Ws(round8(Wp)),
        Wr(Wp + 16) {}
  int64_t Ws;  // row stride of the padded plane: Wp rounded up to whole vectors
  int64_t Wr;  // width of the scratch rows: room for grad_input_columns_avx2's whole vectors
};

// Row stride of V and M for T tile columns: T rounded up to the vector width; the columns
// [T, ld) are kept zero so the products may run over whole vectors.
inline int64_t row_stride(int64_t T) { return round8(T); }

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

// Scratch layout: V, M, one position's V transposed for the vector path's du product
// ([T][round8(C)]), one padded plane, 4 rows Wr wide (the plain input transform's rows t, the
// gradient input transform's column-step rows q, the pooled output's rows; last, so that the
// guard-page tests see a whole-vector store that runs past them). The AVX2 input and output
// transforms use neither the plane nor the rows.
struct Scratch {
  float *V, *M, *vt, *plane, *rows;
};
// Where each part starts (V at 0), and the floats of the whole (winograd_scratch_size).
struct ScratchLayout {
  int64_t M, vt, plane, rows, total;
  ScratchLayout(const WinogradGeometry& g, int64_t n) {
    const Sizes z(g);
    const int64_t T = row_stride(n * z.tiles);
    M = 16 * g.C * T;
    vt = M + 16 * g.O * T;
    plane = vt + T * round8(g.C);
    rows = plane + z.Hp * z.Ws;
    total = rows + 4 * z.Wr;
  }
};
inline Scratch carve(const WinogradGeometry& g, int64_t n, float* s) {
  const ScratchLayout l(g, n);
  return {s, s + l.M, s + l.vt, s + l.plane, s + l.rows};
}

// The products of the vector path (winograd_products.hpp): c [R][ld] = a b with a read as
// a[r * ars + k * aks] and b [K][ld] (ld a multiple of 8); du [O][C] (+)= m [O][ld] v^T given
// vt = v transposed ([ld][ldv], ldv = round8(C)). Every set gives the same bits.
struct Products {
  void (*nn)(int64_t R, int64_t ld, int64_t K, const float* a, int64_t ars, int64_t aks,
             const float* b, float* c);
  void (*nt)(int64_t O, int64_t C, int64_t ld, const float* m, const float* vt, int64_t ldv,
             float* du, bool accumulate);
};
const Products& products_avx2();       // 32-byte vectors, blocks of 4 rows
const Products& products_avx2_wide();  // the AVX-512 geometry compiled for AVX2 (for tests)
const Products& products_avx512();     // 64-byte vectors, blocks of 8 rows (AVX-512F CPUs only)

// The transforms of a call on images [0, n) (avx2: the vector loops, else the plain ones the
// tests compare them against).
// V from x [n, C, H, W] (winograd_input.cpp).
void input_transform(bool avx2, const float* x, const WinogradGeometry& g, int64_t n,
                     const Scratch& s);
// y [n, O, Ho, Wo] = A^T M A (+ bias), or with code its 2x2 max pool (relu: after ReLU) into y
// and code [n, O, Ho/2, Wo/2] (winograd_output.cpp).
void output_transform(bool avx2, const float* M, const float* bias, const WinogradGeometry& g,
                      int64_t n, float* y, std::uint8_t* code, float* rows, bool relu);
// dM = A dy A^T; with code, dy is the pooled gradient (and relu the pooled forward output after
// ReLU, or null) (winograd_output.cpp).
void grad_output_transform(bool avx2, const float* dy, const WinogradGeometry& g, int64_t n,
                           float* dM, const std::uint8_t* code, float* rows, const float* relu);
// dx [n, C, H, W] = the sum over tiles of B dV B^T, cropped to the image
// (winograd_grad_input.cpp).
void grad_input_transform(bool avx2, const float* dV, const WinogradGeometry& g, int64_t n,
                          const Scratch& s, float* dx);

}  // namespace ember::kernels::wino
