#pragma once
// Loss functions: free functions of (predictions, targets) returning a scalar (mean over the
// batch), differentiable in the predictions. Shapes must match exactly where both are given
// element by element: a [B, 1] prediction against a [B] target would otherwise broadcast to
// [B, B], the classic silent bug, so it throws Error naming both shapes.
#include "ember/core/tensor.hpp"

namespace ember::nn {

// mean(|pred - target|).  pred: [...], target: same shape -> scalar
Tensor l1_loss(const Tensor& pred, const Tensor& target);
// mean((pred - target)^2).  pred: [...], target: same shape -> scalar
Tensor mse_loss(const Tensor& pred, const Tensor& target);

// The chapter's loss: p = sigmoid(predictions); where(targets == 1, 1 - p, p).mean(), i.e. how
// far each prediction is from being right, in [0, 1]. A fused op: one pass computes the sigmoid
// and the mean (summed in a fixed order); the backward is (t == 1 ? -1 : 1) p (1 - p) / N. The
// targets get no gradient. Empty input throws Error.
// predictions: f32/f64 [B, 1] (or any shape), targets: same shape (any dtype), values 0 or 1
// -> scalar
Tensor mnist_loss(const Tensor& predictions, const Tensor& targets);
// The same composed from primitives (sigmoid, then mnist_loss_from_probs: where, mean): the
// reference for the fused op, kept for tests and for reading. Unlike the fused op it also takes
// integer predictions (sigmoid promotes them to f32).
Tensor mnist_loss_reference(const Tensor& predictions, const Tensor& targets);
// The where() half of mnist_loss, on values that are already probabilities (the chapter's first
// example, mnist_loss([0.9, 0.4, 0.2], [1, 0, 1]) = 0.4333, works on these).
// probs: [...] in [0, 1], targets: same shape -> scalar
Tensor mnist_loss_from_probs(const Tensor& probs, const Tensor& targets);

// Binary cross-entropy on logits, computed stably: mean(max(x, 0) - x * t + log(1 + exp(-|x|))).
// A fused op with its own backward ((sigmoid(x) - t) / N), exact at x == 0 too.
// logits: [...], targets: same shape, values in [0, 1] (any dtype) -> scalar
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);
// The same written from primitives (relu, abs, exp, log): the reference the fused op is tested
// against. Its gradient differs at exactly x == 0 (relu and abs have gradient 0 at their kinks).
Tensor binary_cross_entropy_with_logits_reference(const Tensor& logits, const Tensor& targets);

// Cross-entropy from class scores and integer labels: mean over the batch of -log_softmax(logits)
// picked at each label. A fused op: the forward computes log-sum-exp per row with the max
// subtracted; the backward is (softmax(logits) - one_hot(labels)) / B. A label outside [0, C)
// throws Error naming it.
// logits: f32/f64 [B, C], labels: integer [B] -> scalar
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
// The same composed from primitives (log_softmax, one_hot, mul, sum): the reference for the fused
// op, kept for tests and for reading.
Tensor cross_entropy_reference(const Tensor& logits, const Tensor& labels);

}  // namespace ember::nn
