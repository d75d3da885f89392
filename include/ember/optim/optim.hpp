#pragma once
// Optimizers: they update parameters in place from their gradients, as torch.optim does.
//
//   optim::SGD opt(model->parameters(), /*lr=*/0.1);
//   loss.backward();
//   opt.step();       // p -= lr * p.grad(), for every parameter that has a gradient
//   opt.zero_grad();
//
// A step runs under NoGradGuard and writes the parameters' data directly (plain loops over
// float*/double*, no allocation after the first step). Parameters without a gradient are skipped.
// Parameters must be contiguous f32 or f64 tensors (as a module's are).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Drops every parameter's gradient (as PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& params() const { return params_; }

  // The optimizer's state as named tensors (copies): "lr", and per parameter i what the optimizer
  // keeps ("<i>.momentum_buffer"; "<i>.exp_avg", "<i>.exp_avg_sq", "<i>.step"). Enough to put
  // the optimizer back as it was (lr_find does) or to save it next to the weights.
  virtual std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Restores a state from state_dict() (copies it in). Throws Error when it does not fit.
  virtual void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 protected:
  // p's gradient, contiguous and of p's dtype (the gradient itself in the usual case), or an
  // undefined tensor when p has none.
  static Tensor grad_of(const Tensor& p);

 private:
  std::vector<Tensor> params_;
  double lr_;
};

// Stochastic gradient descent, with PyTorch's semantics:
//   g = grad + weight_decay * p
//   buf = g on the first step, then momentum * buf + g   (only when momentum != 0)
//   p -= lr * buf   (or lr * g without momentum)
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0);
  void step() override;
  double momentum() const { return momentum_; }
  void set_momentum(double m) { momentum_ = m; }
  double weight_decay() const { return weight_decay_; }
  std::vector<std::pair<std::string, Tensor>> state_dict() const override;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) override;

 private:
  double momentum_, weight_decay_;
  std::vector<Tensor> buf_;  // momentum buffers, undefined until a parameter's first step
};

// Adam (Kingma and Ba), as torch.optim.Adam: weight decay is L2 added to the gradient.
//   g = grad + weight_decay * p;  t += 1
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8, double weight_decay = 0);
  void step() override;
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  void set_betas(double beta1, double beta2);
  double weight_decay() const { return weight_decay_; }
  std::vector<std::pair<std::string, Tensor>> state_dict() const override;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) override;

 protected:
  // decoupled: AdamW's decay (p *= 1 - lr * weight_decay before the update) instead of L2.
  Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps,
       double weight_decay, bool decoupled);

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;        // first and second moments, undefined until first step
  std::vector<std::int64_t> steps_;  // per parameter
};

// AdamW (Loshchilov and Hutter), as torch.optim.AdamW: decoupled weight decay,
// p *= 1 - lr * weight_decay, then Adam's update without L2.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2);
};

}  // namespace ember::optim
