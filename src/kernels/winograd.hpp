#pragma once
// Winograd F(2x2, 3x3) convolution kernels on raw pointers (no Tensor, no autograd): 3x3 kernels,
// stride 1, dilation 1, one group, any padding in [0, 2]. The im2col + sgemm path (conv.hpp) and
// conv2d_reference stay the references; the tests compare these against them.
//
// Each 2x2 block of outputs ("tile") reads a 4x4 block of the padded input. With the transforms
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// a tile's output is y = A^T [ sum_c (G w[o,c] G^T) .* (B^T x_c B) ] A: for each of the 16
// positions of the 4x4 transformed tile, one small product U[pos][O, C] * V[pos][C, tiles],
// 16 multiplies per tile instead of the 36 of a direct 2x2 block (2.25 times fewer).
// Backward runs the adjoint of every step: dM = A dy A^T, dV = U^T dM, dx += B dV B^T and
// dU = dM V^T, dw = G^T dU G.
//
// A call processes `n` whole images (a unit of work the op runs on one thread); the arithmetic of
// each output never depends on how the batch is split into such calls except for dw, which the
// caller sums over calls in a fixed order.
#include <cstdint>

namespace ember::kernels {

struct WinogradGeometry {
  int64_t C, O;    // input and output channels
  int64_t H, W;    // input size
  int64_t ph, pw;  // zero padding, each in [0, 2]
  int64_t Ho() const { return H + 2 * ph - 2; }
  int64_t Wo() const { return W + 2 * pw - 2; }
  int64_t TH() const { return (Ho() + 1) / 2; }  // tile rows and columns
  int64_t TW() const { return (Wo() + 1) / 2; }
  int64_t tiles() const { return TH() * TW(); }  // per image
};

// Whether the Winograd kernels handle this convolution (3x3, stride 1, dilation 1, one group,
// padding in [0, 2], an output at least 1x1).
bool winograd_applies(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      int64_t groups, int64_t ph, int64_t pw, int64_t H, int64_t W);

// The transformed weights: w [O, C, 3, 3] -> u [16, O, C].
void winograd_weights(const float* w, const WinogradGeometry& g, float* u);

// Scratch floats a call on n images needs (the caller owns it; per thread).
int64_t winograd_scratch_size(const WinogradGeometry& g, int64_t n);

// x: [n, C, H, W], u from winograd_weights, bias: [O] or null -> y: [n, O, Ho, Wo].
// With pool_code (Ho and Wo even): the 2x2 max pool of that output instead, never stored whole:
// y [n, O, Ho/2, Wo/2] and pool_code [n, O, Ho/2, Wo/2] as max_pool2d_2x2_plane writes them
// (each 2x2 output tile is one pooling window).
// relu (pooled only): each pooled value v becomes v > 0 ? v : 0, as ember::relu computes it (the
// codes still name the window's maximum).
void winograd_forward(const float* x, const float* u, const float* bias, const WinogradGeometry& g,
                      int64_t n, float* y, float* scratch, std::uint8_t* pool_code = nullptr,
                      bool relu = false);

// Given dy: [n, O, Ho, Wo]: dx [n, C, H, W] (overwritten; skipped when null) and the
// transformed-weight gradient du [16, O, C] (overwritten, or added to when accumulate; skipped
// when null). x and u as in the forward. With pool_code (from the pooled forward), dy is the
// pooled output's gradient [n, O, Ho/2, Wo/2]: the same results as the pool's backward followed
// by this one, without the full-size gradient. relu_out (pooled only; null: none): the pooled
// forward's output after its ReLU, [n, O, Ho/2, Wo/2]; the pooled gradient then counts only where
// relu_out > 0, as ReLU's backward where(out > 0, dy, 0) followed by this one.
void winograd_backward(const float* x, const float* u, const float* dy, const WinogradGeometry& g,
                       int64_t n, float* dx, float* du, bool accumulate, float* scratch,
                       const std::uint8_t* pool_code = nullptr, const float* relu_out = nullptr);

// The weight gradient from the transformed one: du [16, O, C] -> dw [O, C, 3, 3] (overwritten).
void winograd_weights_backward(const float* du, const WinogradGeometry& g, float* dw);

// For tests: the product kernels the vector path runs. by_isa (the default): the AVX-512 ones
// where active_isa() is avx512, else the AVX2 ones; wide_on_avx2: the AVX-512 geometry compiled
// for AVX2, so that its logic is checked on CPUs without AVX-512. All give the same bits.
enum class WinogradProducts { by_isa, wide_on_avx2 };
void force_winograd_products(WinogradProducts p);

}  // namespace ember::kernels
