#pragma once
#include "ember/core/tensor.hpp"

namespace ember {

// Matrix product as torch.matmul: 1-D x 1-D is a dot product; [M,K] x [K,N] -> [M,N];
// 1-D operands are treated as a row (left) or a column (right) and that axis dropped;
// batched [..., M, K] x [..., K, N] broadcasts the leading axes.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: [..., in], w: [out, in], bias: [out] or undefined -> [..., out]  (x @ w.T + bias, fused:
// the bias added to the product's tiles as they are finished)
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// relu(linear(x, weight, bias)) as one op, the same values and gradients: the ReLU is applied to
// each tile of the product while it is in cache, and the backward masks the gradient once
// (where(out > 0, g, 0)) instead of through a node of its own. nn::Sequential runs a Linear
// followed by a ReLU this way. x: [..., in], w: [out, in], bias: [out] or undefined -> [..., out]
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace ember
