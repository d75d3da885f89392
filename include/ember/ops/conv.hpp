#pragma once
// Convolution, pooling, batch normalisation and dropout on NCHW tensors (f32 or f64; integer
// inputs are taken as f32), each differentiable, with PyTorch's semantics and defaults.
// Shape errors throw ember::Error naming the op and the shapes.
#include <array>
#include <cstdint>

#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"

namespace ember {

// x: [N, C, H, W], weight: [O, C/groups, kh, kw], bias: [O] or undefined -> [N, O, Ho, Wo] with
// Ho = (H + 2*padding[0] - dilation[0]*(kh-1) - 1) / stride[0] + 1, likewise Wo.
// Output channel o sees input channels of group o / (O/groups) only.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              std::array<std::int64_t, 2> stride = {1, 1},
              std::array<std::int64_t, 2> padding = {0, 0},
              std::array<std::int64_t, 2> dilation = {1, 1}, std::int64_t groups = 1);

// max_pool2d(conv2d(x, weight, bias, {1, 1}, padding), {2, 2}), with relu() between the two when
// with_relu: the same values and input and weight gradients to the bit, NaN and infinities
// included (the bias gradient within rounding: it may be summed in another order). For
// f32 3x3 convolutions whose output has an even height and width (the MNIST CNN's layers), the
// convolution's output is pooled as it is computed and never stored whole, and the backward
// starts from the pooled gradient: one op instead of passes over the largest tensors of the
// step, forward and backward. Other shapes run the separate ops.
// x: [N, C, H, W], weight: [O, C, kh, kw] -> [N, O, Ho/2, Wo/2]
Tensor conv2d_max_pool2x2(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                          std::array<std::int64_t, 2> padding = {0, 0}, bool with_relu = false);

// x: [N, C, H, W] -> [N, C, Ho, Wo], Ho = (H + 2*padding[0] - kernel[0]) / stride[0] + 1.
// stride {0, 0} means stride = kernel; padding is at most half the kernel and never wins. The
// gradient goes to the first maximum of each window (a NaN counts as the maximum), as PyTorch.
Tensor max_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel,
                  std::array<std::int64_t, 2> stride = {0, 0},
                  std::array<std::int64_t, 2> padding = {0, 0});

// x: [N, C, H, W] -> [N, C, Ho, Wo] (sizes as max_pool2d); the zero padding counts in every
// window's average (count_include_pad = true, PyTorch's default).
Tensor avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel,
                  std::array<std::int64_t, 2> stride = {0, 0},
                  std::array<std::int64_t, 2> padding = {0, 0});

// x: [N, C, H, W] -> [N, C, output_size[0], output_size[1]]: output row i averages input rows
// [floor(i*H/out), ceil((i+1)*H/out)), likewise columns (PyTorch's windows).
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> output_size);

// x: [N, C, H, W] or [N, C]; running_mean, running_var, weight, bias: [C] or undefined.
// training: normalise by the batch's mean and biased variance over N (and H, W), and update
// running_mean / running_var in place (not recorded) as (1 - momentum) * running + momentum *
// batch statistic, the variance unbiased (as PyTorch). Eval: normalise by the running statistics
// (or by the batch's when they are undefined). Then y = x_hat * weight + bias (weight 1 and bias 0
// when undefined). Gradients flow to x, weight and bias.
Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)) as one op, the same values and gradients: the ReLU is applied as each
// value is normalised, and its backward is folded into the batch norm's (no separate pass over
// the activation either way). nn::Sequential and nn::ResBlock run BatchNorm2d + ReLU this way.
Tensor batch_norm_relu(const Tensor& x, Tensor running_mean, Tensor running_var,
                       const Tensor& weight, const Tensor& bias, bool training,
                       double momentum = 0.1, double eps = 1e-5);

// Inverted dropout: in training, each element is zeroed with probability p (drawn from gen) and
// the kept ones are scaled by 1/(1-p); x itself when !training or p == 0; zeros when p == 1.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace ember
