#pragma once
// Batch normalisation's per-channel loops on raw pointers (no Tensor, no autograd).
//
// x and g are [N, C, S] contiguous: channel c of image n is the S values at (n * C + c) * S.
// Each function handles the channels [c0, c1), so callers can split channels among threads.
// Sums are in double, in a fixed order that depends only on N and S: element i of a row goes to
// lane i % 16 while 16 remain in the row, the rest to a scalar; lanes are combined in a fixed
// tree. The AVX2 path and the portable path do the same double operations and give the same bits.
#include <cstdint>

namespace ember::kernels {

// mean[c] = sum(x) / (N * S); var[c] = sum((x - mean[c])^2) / (N * S) (biased).
void batch_norm_stats(const float* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                      double* mean, double* var);
void batch_norm_stats(const double* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                      double* mean, double* var);

// The backward pass per channel: sum_g[c] = sum(g) and sum_gx[c] = sum(g * x_hat) with
// x_hat = (x - mean[c]) * invstd[c]; then, when dx is not null,
//   training: dx = w[c] * invstd[c] * (g - sum_g[c] / (N*S) - x_hat * sum_gx[c] / (N*S))
//   else:     dx = w[c] * invstd[c] * g
// each double element computed in double, each float one in float from coefficients rounded
// once (and the mean held as two floats); see dx_float. A channel's sums and dx run back to
// back, while its values are still in cache.
// relu_y (null: none): the output of a ReLU after the batch norm, [N, C, S]; g is then that
// ReLU's output gradient, and each element counts as relu_y > 0 ? g : 0 (ReLU's backward, folded
// in: the same bits as masking g first).
void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S,
                         int64_t c0, int64_t c1, const double* mean, const double* invstd,
                         const double* w, bool training, double* sum_g, double* sum_gx, float* dx,
                         const float* relu_y = nullptr);
void batch_norm_backward(const double* x, const double* g, int64_t N, int64_t C, int64_t S,
                         int64_t c0, int64_t c1, const double* mean, const double* invstd,
                         const double* w, bool training, double* sum_g, double* sum_gx, double* dx,
                         const double* relu_y = nullptr);

}  // namespace ember::kernels
