// Winograd F(2x2, 3x3) convolution; see winograd.hpp. This file: the products, the forward and
// backward of a call, the weight transforms and the public functions. The transforms around the
// products: winograd_input.cpp (V), winograd_output.cpp (y and dM, with the fused pool),
// winograd_grad_input.cpp (dx); the sizes and scratch they share: winograd_layout.hpp.
//
// Layouts for a call on n images, T = n * tiles columns (tile t of image i at i*tiles + ty*TW +
// tx), rows ld = round8(T) apart, the columns [T, ld) zero:
//   V[16][C][ld]  transformed input tiles        M[16][O][ld]  products (and dM in backward)
//   u[16][O][C]   transformed weights
// Two paths, chosen by active_isa():
//  - AVX2: the transforms' column steps take 8 tiles per vector (even/odd columns split and
//    joined by permutes), and the 16 products per position run straight on V and M: M[p] =
//    u[p] V[p] by 4 rows x 24 columns of register-blocked FMAs, dV[p] = u[p]^T dM[p] the same
//    with u read transposed, du[p] = dM[p] V[p]^T by 4 rows x 16 columns against V[p]
//    transposed (the only packing). Partial last vectors are stored whole where the floats past
//    them are written again later (masked stores are slow on AMD CPUs), else through a mask or,
//    for the products' rows, in pieces of 4, 2 and 1 floats. The pooled transforms take a
//    plane's tiles as one row: tile t of the plane is column i tiles + t of V and M and element
//    t of the pooled plane. Planes whose padded rows fit 16 floats (TW <= 7, the MNIST CNN's
//    14 x 14 layer) take transforms that split each row once and keep the gradient's plane rows
//    in registers.
//  - plain: scalar column steps and sgemm products, kept as the reference the tests compare the
//    AVX2 path against.
#include "kernels/winograd.hpp"

#include <immintrin.h>

#include <algorithm>

#include "kernels/gemm.hpp"
#include "kernels/winograd_layout.hpp"

namespace ember::kernels {
namespace {

using wino::carve;
using wino::clear_pad_columns;
using wino::row_stride;
using wino::Scratch;
using wino::Sizes;

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
  wino::input_transform(kSmall, x, g, n, s);
  clear_pad_columns<kSmall>(s.V, 16 * C, T);
  for (int p = 0; p < 16; ++p) {
    if constexpr (kSmall) {
      small_gemm_nn(O, ld, C, u + p * O * C, C, 1, s.V + p * C * ld, s.M + p * O * ld);
    } else {
      sgemm(false, false, O, T, C, u + p * O * C, C, s.V + p * C * ld, ld, 0.0f, s.M + p * O * ld,
            ld);
    }
  }
  wino::output_transform(kSmall, s.M, bias, g, n, y, code, s.rows, relu);  // rows: free again
}

template <bool kSmall>
inline void backward_body(const float* x, const float* u, const float* dy,
                          const WinogradGeometry& g, int64_t n, float* dx, float* du,
                          bool accumulate, const std::uint8_t* code, const float* relu,
                          float* scratch) {
  const Scratch s = carve(g, n, scratch);
  const int64_t T = n * g.tiles(), ld = row_stride(T), O = g.O, C = g.C;
  wino::grad_output_transform(kSmall, dy, g, n, s.M, code, s.rows, relu);  // rows: not yet in use
  clear_pad_columns<kSmall>(s.M, 16 * O, T);
  if (du != nullptr) {
    wino::input_transform(kSmall, x, g, n, s);
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
    wino::grad_input_transform(kSmall, s.V, g, n, s, dx);
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
