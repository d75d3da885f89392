// Winograd F(2x2, 3x3) convolution; see winograd.hpp. This file: the forward and backward of a
// call, the weight transforms and the public functions. Around them: winograd_input.cpp (V),
// winograd_output.cpp (y and dM, with the fused pool), winograd_grad_input.cpp (dx), the products
// (winograd_products.hpp, compiled per instruction set); the sizes and scratch they share:
// winograd_layout.hpp.
//
// Layouts for a call on n images, T = n * tiles columns (tile t of image i at i*tiles + ty*TW +
// tx), rows ld = round8(T) apart, the columns [T, ld) zero:
//   V[16][C][ld]  transformed input tiles        M[16][O][ld]  products (and dM in backward)
//   u[16][O][C]   transformed weights
// Two paths, chosen by active_isa():
//  - vector (AVX2 CPUs): the transforms' column steps take 8 tiles per vector (even/odd columns
//    split and joined by permutes), and the 16 products per position run straight on V and M:
//    M[p] = u[p] V[p] by register-blocked FMAs (4 rows x 24 columns on AVX2, 8 rows x 48 columns
//    on AVX-512), dV[p] = u[p]^T dM[p] the same with u read transposed, du[p] = dM[p] V[p]^T by
//    rows against V[p] transposed (the only packing). Partial last vectors are stored whole
//    where the floats past them are written again later (masked stores are slow on AMD CPUs),
//    else through a mask or, for the transforms' rows, in pieces of 4, 2 and 1 floats. The
//    pooled transforms take a plane's tiles as one row: tile t of the plane is column i tiles + t
//    of V and M and element t of the pooled plane. Planes whose padded rows fit 16 floats
//    (TW <= 7, the MNIST CNN's 14 x 14 layer) take transforms that split each row once and keep
//    the gradient's plane rows in registers.
//  - plain: scalar column steps and sgemm products, kept as the reference the tests compare the
//    vector path against.
#include "kernels/winograd.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>

#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/winograd_layout.hpp"

namespace ember::kernels {
namespace {

using wino::carve;
using wino::clear_pad_columns;
using wino::row_stride;
using wino::Scratch;

// kSmall: the products by the vector path's kernels pr (winograd_products.hpp); else by sgemm
// (the path without AVX2, and the reference the tests compare the other against; pr null).
template <bool kSmall>
inline void forward_body(const wino::Products* pr, const float* x, const float* u,
                         const float* bias, const WinogradGeometry& g, int64_t n, float* y,
                         std::uint8_t* code, bool relu, float* scratch) {
  const Scratch s = carve(g, n, scratch);
  const int64_t T = n * g.tiles(), ld = row_stride(T), O = g.O, C = g.C;
  wino::input_transform(kSmall, x, g, n, s);
  clear_pad_columns<kSmall>(s.V, 16 * C, T);
  // the outputs asked for, for writing, a share at each position, so that the output
  // transform's stores find their lines there
  const int64_t outputs =
      code != nullptr ? n * O * (g.Ho() / 2) * (g.Wo() / 2) : n * O * g.Ho() * g.Wo();
  const PrefetchShares<true> out(y, outputs, 16);
  for (int p = 0; p < 16; ++p) {
    if constexpr (kSmall) {
      out.share(p);
      pr->nn(O, ld, C, u + p * O * C, C, 1, s.V + p * C * ld, s.M + p * O * ld);
    } else {
      sgemm(false, false, O, T, C, u + p * O * C, C, s.V + p * C * ld, ld, 0.0f, s.M + p * O * ld,
            ld);
    }
  }
  wino::output_transform(kSmall, s.M, bias, g, n, y, code, s.rows, relu);  // rows: free again
}

template <bool kSmall>
inline void backward_body(const wino::Products* pr, const float* x, const float* u, const float* dy,
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
        // V[p] transposed (the only packing), then du[p] against it
        const int64_t ldv = wino::round8(C);
        pack_b_transposed_avx2(s.V + p * C * ld, ld, ld, C, ldv, s.vt);
        pr->nt(O, C, ld, s.M + p * O * ld, s.vt, ldv, du + p * O * C, accumulate);
      } else {
        sgemm(false, true, O, C, T, s.M + p * O * ld, ld, s.V + p * C * ld, ld,
              accumulate ? 1.0f : 0.0f, du + p * O * C, C);
      }
    }
    if (dx != nullptr) {
      if constexpr (kSmall) {
        pr->nn(C, ld, O, u + p * O * C, 1, C, s.M + p * O * ld, s.V + p * C * ld);
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

std::atomic<WinogradProducts> forced_products{WinogradProducts::by_isa};

// The vector path's product kernels (AVX2 CPUs only): AVX-512's where active_isa() says so.
const wino::Products& vector_products() {
  if (forced_products.load(std::memory_order_relaxed) == WinogradProducts::wide_on_avx2)
    return wino::products_avx2_wide();
  return active_isa() == Isa::avx512 ? wino::products_avx512() : wino::products_avx2();
}

__attribute__((target("avx2,fma"), flatten)) void forward_avx2(const float* x, const float* u,
                                                               const float* bias,
                                                               const WinogradGeometry& g, int64_t n,
                                                               float* y, std::uint8_t* code,
                                                               bool relu, float* scratch) {
  forward_body<true>(&vector_products(), x, u, bias, g, n, y, code, relu, scratch);
}
__attribute__((flatten)) void forward_generic(const float* x, const float* u, const float* bias,
                                              const WinogradGeometry& g, int64_t n, float* y,
                                              std::uint8_t* code, bool relu, float* scratch) {
  forward_body<false>(nullptr, x, u, bias, g, n, y, code, relu, scratch);
}
__attribute__((target("avx2,fma"), flatten)) void backward_avx2(
    const float* x, const float* u, const float* dy, const WinogradGeometry& g, int64_t n,
    float* dx, float* du, bool accumulate, const std::uint8_t* code, const float* relu,
    float* scratch) {
  backward_body<true>(&vector_products(), x, u, dy, g, n, dx, du, accumulate, code, relu, scratch);
}
__attribute__((flatten)) void backward_generic(const float* x, const float* u, const float* dy,
                                               const WinogradGeometry& g, int64_t n, float* dx,
                                               float* du, bool accumulate, const std::uint8_t* code,
                                               const float* relu, float* scratch) {
  backward_body<false>(nullptr, x, u, dy, g, n, dx, du, accumulate, code, relu, scratch);
}

}  // namespace

void force_winograd_products(WinogradProducts p) {
  forced_products.store(p, std::memory_order_relaxed);
}

bool winograd_applies(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      int64_t groups, int64_t ph, int64_t pw, int64_t H, int64_t W) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 && ph >= 0 &&
         ph <= 2 && pw >= 0 && pw <= 2 && H + 2 * ph >= 3 && W + 2 * pw >= 3;
}

int64_t winograd_scratch_size(const WinogradGeometry& g, int64_t n) {
  return wino::ScratchLayout(g, n).total;
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
