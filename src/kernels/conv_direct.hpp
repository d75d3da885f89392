#pragma once
// Direct 3x3 convolution of a one-channel input (a network's first layer on grey images), on raw
// pointers: no Tensor, no autograd. Stride 1, dilation 1, one group, padding in [0, 2].
//
// With only 9 products per output, im2col + gemm spends most of its time writing and reading the
// 9-row columns; here each output row is 9 FMAs over shifted rows of the zero-bordered image,
// 8 pixels per AVX2 vector, the bias fused. The weight gradient is 9 dot products per output
// channel over the image (and the bias gradient the sum of dy), each kept in lanes and summed
// lane by lane in a fixed order at the end of the call.
//
// conv2d_reference / conv2d_backward_reference (conv.hpp) stay the references; the tests compare
// these against them. Without AVX2 the same arithmetic runs as plain loops; the pooled weight
// gradient on AVX2 sums only the windows whose gradient is not 0, in another order (see
// conv3x3_single_channel_backward).
#include <cstdint>

namespace ember::kernels {

struct DirectGeometry {
  int64_t O;       // output channels
  int64_t H, W;    // input size
  int64_t ph, pw;  // zero padding, each in [0, 2]
  int64_t Ho() const { return H + 2 * ph - 2; }
  int64_t Wo() const { return W + 2 * pw - 2; }
};

// Whether these kernels handle the convolution: one input channel per group and one group,
// 3x3, stride 1, dilation 1, padding in [0, 2], an output at least 1x1.
bool conv3x3_single_channel_applies(int64_t C, int64_t groups, int64_t kh, int64_t kw, int64_t sh,
                                    int64_t sw, int64_t dh, int64_t dw, int64_t ph, int64_t pw,
                                    int64_t H, int64_t W);

// Scratch floats a call on n images needs (the caller owns it; per thread).
int64_t conv3x3_single_channel_scratch_size(const DirectGeometry& g, int64_t n);

// x: [n, 1, H, W], w: [O, 1, 3, 3], bias: [O] or null -> y: [n, O, Ho, Wo].
// With pool_code (Ho and Wo even): the 2x2 max pool of that output instead, computed a row pair
// at a time and never stored whole: y [n, O, Ho/2, Wo/2] and pool_code [n, O, Ho/2, Wo/2] as
// max_pool2d_2x2_plane writes them.
// relu (pooled only): each pooled value v becomes v > 0 ? v : 0, as ember::relu computes it.
void conv3x3_single_channel_forward(const float* x, const float* w, const float* bias,
                                    const DirectGeometry& g, int64_t n, float* y, float* scratch,
                                    std::uint8_t* pool_code = nullptr, bool relu = false);

// x: [n, 1, H, W], dy: [n, O, Ho, Wo] -> dwb: [O, 10] (overwritten): per output channel its 9
// weight gradients, then its bias gradient, summed over the n images in a fixed order. With
// pool_code (from the pooled forward), dy is the pooled output's gradient [n, O, Ho/2, Wo/2]:
// the sums of the pool's backward followed by this one (the plain loops: the same sums; AVX2:
// only each window's one element with a gradient that is not 0, in window order, so within
// rounding, and where x holds an infinity the dense sums can be NaN where these are not).
// relu_out (pooled only; null: none): the pooled forward's output after its ReLU,
// [n, O, Ho/2, Wo/2]; the pooled gradient then counts only where relu_out > 0, as ReLU's backward
// where(out > 0, dy, 0) followed by this one.
void conv3x3_single_channel_backward(const float* x, const float* dy, const DirectGeometry& g,
                                     int64_t n, float* dwb, float* scratch,
                                     const std::uint8_t* pool_code = nullptr,
                                     const float* relu_out = nullptr);

}  // namespace ember::kernels
