#pragma once
// The weight and input gradients of a 3x3, stride-1 convolution whose output went through a 2x2
// max pool (and optionally ReLU), from the pooled gradient, on raw pointers: no Tensor, no
// autograd.
//
// The pool's backward passes each window's gradient to the one element its code names, so at
// most one element in four of the full-size output gradient is not zero:
//   dw[o][c][k] = sum over the windows of channel o, with gradient g (0 where ReLU stops it), of
//                 g * x[c] at tap k of the element the window's code names;
//   dx[c] at tap k of that element += g * w[o][c][k], for the same windows (the transposed
//                 convolution, scattered from the windows rather than gathered).
// Each is 9 C multiply-adds per window and output channel, where Winograd's dU = dM V^T and
// dV = U^T dM take 16 C each, plus the transforms around them (the gradient output transform,
// the input transform, V's transposition, the gradient input transform) that these do not need.
// (Their 0 * x and 0 * w terms for the other three elements are not there, nor those of windows
// whose gradient is 0, a quarter of the MNIST CNN's where ReLU stops them: where the input or the
// weights hold an infinity, the dense product can be NaN where this is not, never the other way
// round.)
//
// Image by image, the input is laid out channels last and zero-bordered, [Hp][Wp][round8(C)],
// so one tap of 8 channels is one vector load; the input gradient is summed in a copy of the same
// layout, then written out as [C][H][W]. Per image, three passes over the output channels: every
// channel's windows listed (gradient, and where their element's taps start), then dw's taps over
// the input's copy, then dx's scatter into its copy (so that each pass has its copy in L1 to
// itself), each 8 channels at a time: for dw with the 9 taps' sums in registers, for dx with the
// channel's 9 weight vectors in registers and a load-FMA-store per tap. Each dw sum runs over the
// windows in order, and the images' sums are
// added in order; each dx element is summed over the output channels in order and their windows
// in order. So the results depend on the call's images only, never on threads.
//
// On AVX2 each FMA takes its own load (the windows' elements differ from one output channel to
// the next, so no load is shared), which bounds dw: about 10 cycles per window and 8 channels on
// the development machine's Zen 3 (one-thread profile of the CNN), about what Winograd's 16
// products of 8 channels take at its 80% of the FMA peak. dx's stores bound it the same way.
// The gain is what they no longer need: for dw the backward's input transform and V's
// transposition (CNN: 6.08 -> 5.65 s); for dx the whole Winograd backward.
//
// conv2d_reference's backward (after the pool's and ReLU's) stays the reference; the tests
// compare this against it. Without AVX2 the same sums run as plain loops.
#include <cstdint>

#include "kernels/winograd.hpp"  // WinogradGeometry: the 3x3 stride-1 shapes

namespace ember::kernels {

// Scratch floats a call needs (the caller owns it; per thread): one image's channels-last copies
// of the input and of its gradient, and room to start them on 64-byte boundaries wherever the
// scratch starts.
int64_t pooled_conv_grad_scratch_size(const WinogradGeometry& g);

// The weights w [O, C, 3, 3] as the input gradient reads them, wt [O][9][round8(C)] (each tap's
// channels in a row, 0 past C; pooled_conv_grad_weights_size floats): once per backward, for
// every call.
int64_t pooled_conv_grad_weights_size(const WinogradGeometry& g);
void pooled_conv_grad_weights(const float* w, const WinogradGeometry& g, float* wt);

// Floats of a partial sum: the weight and bias gradients in the kernel's own layout, which the
// caller sums element by element over calls and then turns into dw and db
// (pooled_conv_grad_finish).
int64_t pooled_conv_grad_partial_size(const WinogradGeometry& g);

// dy: the pooled gradient [n, O, Ho/2, Wo/2] (Ho and Wo even) and code its windows' codes as
// max_pool2d_2x2_plane writes them; relu_out: null, or the pooled output after its ReLU
// [n, O, Ho/2, Wo/2], the gradient then counting only where relu_out > 0 (ReLU's backward).
// partial: null (no weight gradient), or (x: [n, C, H, W]) the weight and bias gradients'
// partial sum (pooled_conv_grad_partial_size floats), overwritten, or added to when accumulate.
// dx: null (no input gradient), or (wt: the weights from pooled_conv_grad_weights) the input
// gradient [n, C, H, W], overwritten. The images' copies must index in int32 (Hp Wp round8(C) <
// 2^31; the op checks).
void pooled_conv_grad(const float* x, const float* wt, const float* dy, const std::uint8_t* code,
                      const float* relu_out, const WinogradGeometry& g, int64_t n, float* partial,
                      bool accumulate, float* dx, float* scratch);

// The partial as dw [O, C, 3, 3] and, when db is not null, the bias gradient db [O] (both
// overwritten): per output channel the sum of its windows' gradients (0 where ReLU stops them),
// the same windows dw sums over, so the bias needs no pass over the pooled gradient of its own.
void pooled_conv_grad_finish(const float* partial, const WinogradGeometry& g, float* dw,
                             float* db = nullptr);

}  // namespace ember::kernels
