#pragma once
// Reverse-mode automatic differentiation: PyTorch style (requires_grad_, backward, grad) and Nx
// style (grad(f)(x), value_and_grad(f)(params)), on one engine.
#include <functional>
#include <utility>
#include <vector>

#include "ember/core/graph.hpp"
#include "ember/core/tensor.hpp"

namespace ember {

namespace autograd {
// Backpropagates `grad_output` (ones for a scalar root when undefined) from `root` into the
// .grad() of every leaf that requires one. Frees the graph unless retain_graph.
void backward(const Tensor& root, const Tensor& grad_output = Tensor(), bool retain_graph = false);
}  // namespace autograd

// grad(f)(x): the gradient of a scalar function of one tensor, at x.
std::function<Tensor(const Tensor&)> grad(std::function<Tensor(const Tensor&)> f);

// value_and_grad(f)(params): f's value and one gradient per parameter.
std::function<std::pair<Tensor, std::vector<Tensor>>(const std::vector<Tensor>&)> value_and_grad(
    std::function<Tensor(const std::vector<Tensor>&)> f);

}  // namespace ember
