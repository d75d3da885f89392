#pragma once
// Convolution kernels on raw pointers (no Tensor, no autograd): im2col / col2im, which lower a
// convolution onto gemm, and the direct seven-loop definitions kept as the references.
//
// One image's input is x[C, H, W] (row-major). The columns of a convolution are
// cols[C*kh*kw, Ho*Wo]: row (c*kh + i)*kw + j holds, for every output pixel (oh, ow), the input
// value x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], or 0 where that falls in the padding. Then
// y[O, Ho*Wo] = w[O, C*kh*kw] * cols, one gemm. The rows of cols may be spaced `ld` elements
// apart (ld >= Ho*Wo), so several images' columns can sit side by side in one wide buffer.
#include <cstdint>

namespace ember::kernels {

struct ConvGeometry {
  int64_t C, H, W;  // channels (of one group) and size of the input image
  int64_t kh, kw;   // kernel size
  int64_t sh, sw;   // stride
  int64_t ph, pw;   // zero padding on each side
  int64_t dh, dw;   // dilation
  int64_t Ho, Wo;   // output size: (H + 2*ph - dh*(kh-1) - 1) / sh + 1, likewise Wo

  int64_t rows() const { return C * kh * kw; }  // rows of cols
  int64_t pixels() const { return Ho * Wo; }    // columns of cols
};

// The output size along one axis, as PyTorch (floor); <= 0 when the kernel does not fit.
inline int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                             int64_t dilation) {
  const int64_t span = dilation * (kernel - 1) + 1;
  if (in + 2 * pad < span) return 0;
  return (in + 2 * pad - span) / stride + 1;
}

// x: [C, H, W] -> cols: [C*kh*kw, Ho*Wo], rows ld apart. The fast variant copies the image into
// `padded` (im2col_padded_size(g) elements; unused without padding) with its zero border first,
// so the copies need no bounds checks; the reference checks every position.
template <class T>
void im2col(const T* x, const ConvGeometry& g, T* cols, int64_t ld, T* padded);
template <class T>
void im2col_reference(const T* x, const ConvGeometry& g, T* cols, int64_t ld);
inline int64_t im2col_padded_size(const ConvGeometry& g) {
  return g.C * (g.H + 2 * g.ph) * (g.W + 2 * g.pw);
}

// The adjoint of im2col: dx[C, H, W] += every entry of cols[C*kh*kw, Ho*Wo] (rows ld apart) at
// the input position it was read from. Positions in the padding are dropped.
template <class T>
void col2im_add(const T* cols, const ConvGeometry& g, T* dx, int64_t ld);

// ---- the definition, as plain loops over a whole batch (the references for tests) ----

// x: [N, groups*C, H, W], w: [O, C, kh, kw], bias: [O] or null -> y: [N, O, Ho, Wo], with O a
// multiple of groups: output channel o reads input channels (o / (O/groups)) * C + [0, C).
template <class T>
void conv2d_reference(const T* x, const T* w, const T* bias, int64_t N, int64_t O, int64_t groups,
                      const ConvGeometry& g, T* y);

// The gradients of conv2d_reference given dy: [N, O, Ho, Wo]. Any of dx [N, groups*C, H, W],
// dw [O, C, kh, kw], dbias [O] may be null; the others are overwritten.
template <class T>
void conv2d_backward_reference(const T* x, const T* w, const T* dy, int64_t N, int64_t O,
                               int64_t groups, const ConvGeometry& g, T* dx, T* dw, T* dbias);

}  // namespace ember::kernels
