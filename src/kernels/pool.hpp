#pragma once
// Pooling kernels on raw pointers (no Tensor, no autograd), one image plane x[H, W] at a time;
// the ops run planes in parallel. Windows follow PyTorch: window (oh, ow) covers rows
// oh*sh - ph + [0, kh) and columns ow*sw - pw + [0, kw), clipped to the image.
//
// Max pooling: padding never wins (it is -inf); the window's maximum is its first largest value
// in row-major order, except that a NaN always wins (as PyTorch). The backward sends each output's
// gradient to that position. The general loops are the references; the 2x2 stride-2 kernels
// (the common case) are the fast variants, tested against them.
#include <cstdint>

namespace ember::kernels {

struct PoolGeometry {
  int64_t H, W;    // input plane
  int64_t kh, kw;  // window
  int64_t sh, sw;  // stride
  int64_t ph, pw;  // padding
  int64_t Ho, Wo;  // output plane
};

// x: [H, W] -> y: [Ho, Wo]
template <class T>
void max_pool2d_plane(const T* x, const PoolGeometry& g, T* y);
// dy: [Ho, Wo] -> dx: [H, W] (overwritten), from the same x.
template <class T>
void max_pool2d_backward_plane(const T* x, const T* dy, const PoolGeometry& g, T* dx);
// The fast 2x2, stride 2, no padding variants (same results as the general ones). The forward
// can also record, per output, which element of its window a b / c d won (code 0..3, [Ho, Wo]);
// the backward works from those codes, so it never reads x again (a training step keeps a byte
// per output instead of the whole input).
template <class T>
void max_pool2d_2x2_plane(const T* x, int64_t H, int64_t W, T* y, std::uint8_t* code = nullptr);
template <class T>
void max_pool2d_2x2_backward_plane(const std::uint8_t* code, const T* dy, int64_t H, int64_t W,
                                   T* dx);

// Average pooling with count_include_pad: every window divides by kh*kw, clipped to the padded
// image (PyTorch's divisor). x: [H, W] -> y: [Ho, Wo]; backward overwrites dx [H, W].
template <class T>
void avg_pool2d_plane(const T* x, const PoolGeometry& g, T* y);
template <class T>
void avg_pool2d_backward_plane(const T* dy, const PoolGeometry& g, T* dx);

// Adaptive average pooling: output row i averages input rows [floor(i*H/Ho), ceil((i+1)*H/Ho)),
// likewise columns. x: [H, W] -> y: [Ho, Wo]; backward overwrites dx [H, W].
template <class T>
void adaptive_avg_pool2d_plane(const T* x, int64_t H, int64_t W, int64_t Ho, int64_t Wo, T* y);
template <class T>
void adaptive_avg_pool2d_backward_plane(const T* dy, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                        T* dx);

}  // namespace ember::kernels
