#pragma once
// The autograd graph as data: every op that sees an input requiring a gradient records a Node on
// its output, holding its inputs and its backward rule (written beside the op's forward, in ops/).
// The engine that walks the graph (backward(), grad, value_and_grad) is in ember/autograd.
#include <functional>
#include <initializer_list>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::autograd {

// Given the gradient of the op's output, returns one gradient per input (an undefined Tensor
// where an input needs none). Runs with gradient recording off.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;
  BackwardFn backward;
  bool released = false;  // set once backward() has freed it
};

// Whether ops record the graph now (false under NoGradGuard). Per thread.
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// True when recording is on and any of `inputs` requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Makes `out` the result of a recorded op: out.requires_grad() becomes true and its grad_fn a
// new Node over `inputs`.
void record(const char* name, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace ember::autograd

namespace ember {

// While alive, ops record nothing (validation, optimizer steps). RAII; nests.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(autograd::is_grad_enabled()) { autograd::set_grad_enabled(false); }
  ~NoGradGuard() { autograd::set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace ember
