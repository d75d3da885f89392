// The backward pass: sort the graph topologically, walk it in reverse, hand each node the
// gradient of its output, and accumulate what it returns into its inputs (micrograd's shape).
#include <unordered_map>
#include <unordered_set>

#include "ember/autograd/autograd.hpp"
#include "ember/ops/elementwise.hpp"

namespace ember {

namespace autograd {

namespace {

// Whether g can become leaf's gradient without a copy: nothing but this handle holds it or its
// storage (a gradient may be a view of something the graph still uses, or the same tensor handed
// to two inputs), and it is all of its storage, contiguous, of the leaf's dtype and size.
bool sole_whole(const Tensor& g, const Tensor& leaf) {
  const auto& impl = g.impl_ptr();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && g.dtype() == leaf.dtype() &&
         g.numel() == leaf.numel() && g.offset() == 0 && g.is_contiguous() &&
         impl->storage->nbytes() == static_cast<std::size_t>(g.numel()) * dtype_size(g.dtype());
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  if (!root.requires_grad()) {
    throw Error("backward: the tensor does not require grad (no input had requires_grad_(true), "
                "or it was computed under NoGradGuard)");
  }
  Tensor seed = grad_output;
  if (!seed.defined()) {
    if (root.numel() != 1) {
      throw Error("backward: a gradient can be implied only for a scalar, this tensor has shape " +
                  shape_str(root.shape()) + "; pass one of that shape");
    }
    seed = ones(root.shape(), root.dtype());
  } else if (seed.shape() != root.shape()) {
    throw Error("backward: gradient of shape " + shape_str(seed.shape()) +
                " for a tensor of shape " + shape_str(root.shape()));
  }

  NoGradGuard no_grad;
  auto accumulate_leaf = [](const Tensor& leaf, const Tensor& g) {
    if (!leaf.grad().defined() && sole_whole(g, leaf)) {
      // a fresh result that nothing else holds (a product's weight gradient): taken as it is
      leaf.impl().grad = g.detach().reshape(leaf.shape()).impl_ptr();
      return;
    }
    Tensor gg = g.dtype() == leaf.dtype() ? g : g.to(leaf.dtype());
    if (gg.shape() != leaf.shape()) gg = gg.reshape(leaf.shape());
    Tensor existing = leaf.grad();
    if (!existing.defined()) {
      // own the memory: a gradient may be a view of something the graph still uses
      leaf.impl().grad = gg.clone().impl_ptr();
    } else {
      existing.add_(gg);
    }
  };

  Node* root_node = root.grad_fn().get();
  if (!root_node) {  // the root is itself a leaf
    accumulate_leaf(root, seed);
    return;
  }
  if (root_node->released) {
    throw Error("backward: the graph was already freed by an earlier backward(); call "
                "backward(gradient, /*retain_graph=*/true) the first time to go through it twice");
  }

  // Iterative depth-first topological sort. `order` owns the nodes while backward runs: freeing a
  // node's inputs would otherwise destroy the nodes below it before they are visited.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack{{root.grad_fn(), 0}};
  seen.insert(root_node);
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      const std::shared_ptr<Node> child =
          in.defined() && in.requires_grad() ? in.grad_fn() : nullptr;
      if (child && !seen.count(child.get())) {
        if (child->released) {
          throw Error("backward: part of the graph was already freed by an earlier backward()");
        }
        seen.insert(child.get());
        stack.push_back({child, 0});
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  std::unordered_map<Node*, Tensor> grads;
  grads[root_node] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    auto found = grads.find(node);
    if (found == grads.end()) continue;
    Tensor g = std::move(found->second);
    grads.erase(found);
    std::vector<Tensor> input_grads = node->backward(g);
    for (std::size_t i = 0; i < node->inputs.size() && i < input_grads.size(); ++i) {
      const Tensor& in = node->inputs[i];
      const Tensor& ig = input_grads[i];
      if (!in.defined() || !in.requires_grad() || !ig.defined()) continue;
      if (Node* child = in.grad_fn().get()) {
        auto slot = grads.find(child);
        if (slot == grads.end()) grads.emplace(child, ig);
        else slot->second = slot->second + ig;
      } else {
        accumulate_leaf(in, ig);
      }
    }
    if (!retain_graph) {
      node->backward = nullptr;
      node->inputs.clear();
      node->released = true;
    }
  }
}

}  // namespace autograd

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward(*this, gradient, retain_graph);
}

std::function<Tensor(const Tensor&)> grad(std::function<Tensor(const Tensor&)> f) {
  return [f = std::move(f)](const Tensor& x) {
    Tensor input = x.detach();
    if (!is_floating(input.dtype())) input = input.to(DType::f32);
    input.requires_grad_(true);
    Tensor y;
    {
      // grad works under an outer NoGradGuard too
      struct Enable {
        bool prev = autograd::is_grad_enabled();
        Enable() { autograd::set_grad_enabled(true); }
        ~Enable() { autograd::set_grad_enabled(prev); }
      } enable;
      y = f(input);
    }
    if (y.numel() != 1) {
      throw Error("grad: the function must return a scalar, it returned shape " +
                  shape_str(y.shape()));
    }
    if (!y.requires_grad()) return zeros_like(input);
    y.backward();
    return input.grad();
  };
}

std::function<std::pair<Tensor, std::vector<Tensor>>(const std::vector<Tensor>&)> value_and_grad(
    std::function<Tensor(const std::vector<Tensor>&)> f) {
  return [f = std::move(f)](const std::vector<Tensor>& params) {
    std::vector<Tensor> inputs;
    inputs.reserve(params.size());
    for (const Tensor& p : params) {
      Tensor in = p.detach();
      if (!is_floating(in.dtype())) in = in.to(DType::f32);
      in.requires_grad_(true);
      inputs.push_back(in);
    }
    Tensor y;
    {
      struct Enable {
        bool prev = autograd::is_grad_enabled();
        Enable() { autograd::set_grad_enabled(true); }
        ~Enable() { autograd::set_grad_enabled(prev); }
      } enable;
      y = f(inputs);
    }
    if (y.numel() != 1) {
      throw Error("value_and_grad: the function must return a scalar, it returned shape " +
                  shape_str(y.shape()));
    }
    std::vector<Tensor> grads;
    if (y.requires_grad()) y.backward();
    for (const Tensor& in : inputs) grads.push_back(in.grad().defined() ? in.grad() : zeros_like(in));
    return std::make_pair(y.detach(), grads);
  };
}

}  // namespace ember
