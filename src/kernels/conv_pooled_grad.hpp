#pragma once
// The weight gradient of a 3x3, stride-1 convolution whose output went through a 2x2 max pool
// (and optionally ReLU), from the pooled gradient, on raw pointers: no Tensor, no autograd.
//
// The pool's backward passes each window's gradient to the one element its code names, so at
// most one element in four of the full-size output gradient is not zero:
//   dw[o][c][k] = sum over the windows of channel o, with gradient g (0 where ReLU stops it), of
//                 g * x[c] at tap k of the element the window's code names.
// That is 9 C multiply-adds per window and output channel, where Winograd's dU = dM V^T takes
// 16 C, plus the input transform and V's transposition that only dU needed. (Its 0 * x terms
// for the other three elements are not there, nor those of windows whose gradient is 0, a
// quarter of the MNIST CNN's where ReLU stops them: where the input holds an infinity, the dense
// product can be NaN where this is not, never the other way round.)
//
// Image by image, the input is laid out channels last and zero-bordered, [Hp][Wp][round8(C)],
// so one tap of 8 channels is one vector load; each output channel's windows are listed
// (gradient, and where their element's taps start), then run through 8 channels at a time with
// the 9 taps' sums in registers. Each such sum runs over the windows in order, and the images'
// sums are added in order, so the result depends on the call's images only, never on threads.
//
// On AVX2 each FMA takes its own load (the windows' elements differ from one output channel to
// the next, so no load is shared), which bounds it: about 10 cycles per window and 8 channels on
// the development machine's Zen 3 (one-thread profile of the CNN), about what Winograd's 16
// products of 8 channels take at its 80% of the FMA peak. The gain is what it no longer needs:
// the backward's input transform and V's transposition (CNN: 6.08 -> 5.65 s).
//
// conv2d_reference's backward (after the pool's and ReLU's) stays the reference; the tests
// compare this against it. Without AVX2 the same sums run as plain loops.
#include <cstdint>

#include "kernels/winograd.hpp"  // WinogradGeometry: the 3x3 stride-1 shapes

namespace ember::kernels {

// Scratch floats a call needs (the caller owns it; per thread): one image's channels-last copy,
// and room to start it on a 64-byte boundary wherever the scratch starts.
int64_t pooled_weight_grad_scratch_size(const WinogradGeometry& g);

// Floats of a partial sum: the weight and bias gradients in the kernel's own layout, which the
// caller sums element by element over calls and then turns into dw and db
// (pooled_weight_grad_finish).
int64_t pooled_weight_grad_partial_size(const WinogradGeometry& g);

// x: [n, C, H, W]; dy: the pooled gradient [n, O, Ho/2, Wo/2] (Ho and Wo even) and code its
// windows' codes as max_pool2d_2x2_plane writes them; relu_out: null, or the pooled output after
// its ReLU [n, O, Ho/2, Wo/2], the gradient then counting only where relu_out > 0 (ReLU's
// backward) -> partial (pooled_weight_grad_partial_size floats), overwritten, or added to when
// accumulate. The image's copy must index in int32 (Hp Wp round8(C) < 2^31; the op checks).
void pooled_weight_grad(const float* x, const float* dy, const std::uint8_t* code,
                        const float* relu_out, const WinogradGeometry& g, int64_t n, float* partial,
                        bool accumulate, float* scratch);

// The partial as dw [O, C, 3, 3] and, when db is not null, the bias gradient db [O] (both
// overwritten): per output channel the sum of its windows' gradients (0 where ReLU stops them),
// the same windows dw sums over, so the bias needs no pass over the pooled gradient of its own.
void pooled_weight_grad_finish(const float* partial, const WinogradGeometry& g, float* dw,
                               float* db = nullptr);

}  // namespace ember::kernels
