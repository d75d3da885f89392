#pragma once
// Metrics: how often the model is right, as an f32 scalar in [0, 1]. Not differentiable (they are
// computed without recording gradients).
#include "ember/core/tensor.hpp"

namespace ember::nn {

// The chapter's accuracy for one output per image: (sigmoid(x) > 0.5) == target, averaged.
// logits: [B, 1] or [B], targets: 0/1 of the same number of elements (any dtype) -> f32 scalar
Tensor batch_accuracy(const Tensor& logits, const Tensor& targets);

// Accuracy for class scores: argmax over the classes == label, averaged.
// logits: [B, C], labels: integer [B] -> f32 scalar
Tensor accuracy(const Tensor& logits, const Tensor& labels);

}  // namespace ember::nn
