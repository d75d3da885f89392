#pragma once
#include "ember/core/tensor.hpp"

namespace ember {

// Matrix product as torch.matmul: 1-D x 1-D is a dot product; [M,K] x [K,N] -> [M,N];
// 1-D operands are treated as a row (left) or a column (right) and that axis dropped;
// batched [..., M, K] x [..., K, N] broadcasts the leading axes.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: [B, in], w: [out, in], bias: [out] or undefined -> [B, out]  (x @ w.T + bias, fused)
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace ember
