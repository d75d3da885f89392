// Accuracy metrics, computed without recording gradients.
#include "ember/nn/metrics.hpp"

#include <string>

#include "ember/core/graph.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/ops/reduce.hpp"

namespace ember::nn {

Tensor batch_accuracy(const Tensor& logits, const Tensor& targets) {
  if (logits.numel() != targets.numel() || logits.numel() == 0 ||
      (logits.rank() > 0 && targets.rank() > 0 && logits.size(0) != targets.size(0))) {
    throw Error("batch_accuracy: predictions " + shape_str(logits.shape()) + " and targets " +
                shape_str(targets.shape()) + " must hold one value per item");
  }
  NoGradGuard no_grad;
  const Tensor preds = sigmoid(logits.detach().reshape({-1})) > 0.5;
  const Tensor correct = preds == targets.detach().reshape({-1});
  return correct.to(DType::f32).mean();
}

Tensor accuracy(const Tensor& logits, const Tensor& labels) {
  if (logits.rank() != 2 || labels.rank() != 1 || labels.size(0) != logits.size(0) ||
      logits.size(0) == 0) {
    throw Error("accuracy: expects logits [B, C] and labels [B], got " + shape_str(logits.shape()) +
                " and " + shape_str(labels.shape()));
  }
  NoGradGuard no_grad;
  const Tensor predicted = argmax(logits.detach(), 1);
  return (predicted == labels.detach()).to(DType::f32).mean();
}

}  // namespace ember::nn
