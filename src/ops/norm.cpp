// batch_norm and batch_norm_relu (fused, their backward beside them) and dropout (a composite:
// x * a seeded mask).
//
// batch_norm sees x as [N, C, S] with S the product of the axes after C (1 for [N, C]). Each
// channel's statistics are summed in double, in a fixed order, and channels run in parallel, so
// the results never depend on the thread count.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/ops/conv.hpp"
#include "ember/ops/elementwise.hpp"
#include "kernels/batch_norm.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;

namespace {

using ops_detail::dispatch_real;
using ops_detail::pair_str;

// A per-channel parameter or statistic: undefined, or [C].
void check_channel_vector(const char* op, const Tensor& t, int64_t C, const Tensor& x,
                          const char* name) {
  if (t.defined() && (t.rank() != 1 || t.size(0) != C)) {
    throw Error(std::string(op) + ": " + name + " " + shape_str(t.shape()) +
                " does not match input " + shape_str(x.shape()) + " (expected [" +
                std::to_string(C) + "])");
  }
}

// The values of a 1-D tensor as doubles; `fallback` for each when undefined.
std::vector<double> channel_values(const Tensor& t, int64_t C, double fallback) {
  if (!t.defined()) return std::vector<double>(static_cast<size_t>(C), fallback);
  return t.to_vector<double>();
}

// t[c] = (1 - momentum) * t[c] + momentum * value[c], in place, not recorded.
void update_running(const char* op, Tensor& t, const std::vector<double>& value,
                    double momentum) {
  if (!is_floating(t.dtype())) {
    throw Error(std::string(op) + ": running statistics must be floating, got " +
                std::string(dtype_name(t.dtype())));
  }
  dispatch_real(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data_ptr<T>();
    const int64_t stride = t.strides()[0];
    for (size_t c = 0; c < value.size(); ++c) {
      T& r = p[static_cast<int64_t>(c) * stride];
      r = static_cast<T>((1.0 - momentum) * static_cast<double>(r) + momentum * value[c]);
    }
  });
}

struct Layout {
  int64_t N, C, S;
};

// Per-channel mean and biased variance of x: [N, C, S], channels split among threads.
template <class T>
void channel_stats(const T* x, const Layout& l, std::vector<double>& mean,
                   std::vector<double>& var) {
  parallel_for(0, l.C, 1, [&](int64_t c0, int64_t c1) {
    kernels::batch_norm_stats(x, l.N, l.C, l.S, c0, c1, mean.data(), var.data());
  });
}

// y = (x - mean[c]) * invstd[c] * w[c] + b[c]; with relu, then y > 0 ? y : 0 (ember::relu)
template <class T>
void normalize(const T* x, const Layout& l, const std::vector<double>& mean,
               const std::vector<double>& invstd, const std::vector<double>& w,
               const std::vector<double>& b, bool relu, T* y) {
  parallel_for(0, l.N * l.C, std::max<int64_t>(1, 16384 / std::max<int64_t>(l.S, 1)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const auto c = static_cast<size_t>(r % l.C);
                   const T scale = static_cast<T>(invstd[c] * w[c]);
                   const T shift = static_cast<T>(b[c] - mean[c] * invstd[c] * w[c]);
                   const T* in = x + r * l.S;
                   T* out = y + r * l.S;
                   for (int64_t i = 0; i < l.S; ++i) out[i] = in[i] * scale + shift;
                   if (relu)
                     for (int64_t i = 0; i < l.S; ++i) out[i] = out[i] > T(0) ? out[i] : T(0);
                 }
               });
}

// Gradients of normalize. training: mean and invstd are the batch's own, so they depend on x.
// dx [N, C, S] (or null), dw and db [C] (sums of g * x_hat and of g). relu_y (or null): the
// fused ReLU's output, whose backward is folded in.
template <class T>
void normalize_backward(const T* x, const T* g, const Layout& l, const std::vector<double>& mean,
                        const std::vector<double>& invstd, const std::vector<double>& w,
                        bool training, T* dx, std::vector<double>& dw, std::vector<double>& db,
                        const T* relu_y) {
  parallel_for(0, l.C, 1, [&](int64_t c0, int64_t c1) {
    kernels::batch_norm_backward(x, g, l.N, l.C, l.S, c0, c1, mean.data(), invstd.data(), w.data(),
                                 training, db.data(), dw.data(), dx, relu_y);
  });
}

Tensor channel_tensor(const std::vector<double>& v, DType dt) {
  return from_vector(v, {static_cast<int64_t>(v.size())}, dt);
}

Tensor batch_norm_impl(const Tensor& x0, Tensor running_mean, Tensor running_var,
                       const Tensor& weight0, const Tensor& bias0, bool training, double momentum,
                       double eps, bool relu) {
  const char* op = relu ? "batch_norm_relu" : "batch_norm";  // the op the errors name
  if (x0.rank() < 2) {
    throw Error(std::string(op) + ": input must be [N, C] or [N, C, ...], got " +
                shape_str(x0.shape()));
  }
  const int64_t N = x0.size(0), C = x0.size(1);
  const Layout l{N, C, C == 0 || N == 0 ? 0 : x0.numel() / (N * C)};
  check_channel_vector(op, running_mean, C, x0, "running_mean");
  check_channel_vector(op, running_var, C, x0, "running_var");
  check_channel_vector(op, weight0, C, x0, "weight");
  check_channel_vector(op, bias0, C, x0, "bias");
  if (running_mean.defined() != running_var.defined()) {
    throw Error(std::string(op) + ": give both running_mean and running_var, or neither");
  }
  const bool batch_stats = training || !running_mean.defined();
  if (batch_stats && l.N * l.S <= 1) {
    throw Error(std::string(op) + ": input " + shape_str(x0.shape()) +
                " has at most one value per channel: batch statistics need more");
  }
  DType dt = x0.dtype();
  if (weight0.defined()) dt = promote_types(dt, weight0.dtype());
  if (bias0.defined()) dt = promote_types(dt, bias0.dtype());
  if (!is_floating(dt)) dt = DType::f32;
  const Tensor x = x0.dtype() == dt ? x0 : x0.to(dt);
  const Tensor weight = !weight0.defined() || weight0.dtype() == dt ? weight0 : weight0.to(dt);
  const Tensor bias = !bias0.defined() || bias0.dtype() == dt ? bias0 : bias0.to(dt);

  const Tensor xc = x.detach().contiguous();
  const auto cs = static_cast<size_t>(C);
  std::vector<double> mean(cs), var(cs), invstd(cs);
  if (batch_stats) {
    dispatch_real(dt, [&](auto tag) {
      using T = decltype(tag);
      channel_stats<T>(xc.data_ptr<T>(), l, mean, var);
    });
  } else {
    mean = running_mean.to_vector<double>();
    var = running_var.to_vector<double>();
  }
  for (size_t c = 0; c < cs; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + eps);
  if (training && running_mean.defined()) {
    const double count = static_cast<double>(l.N * l.S);
    std::vector<double> unbiased(cs);
    for (size_t c = 0; c < cs; ++c) unbiased[c] = var[c] * count / (count - 1.0);
    update_running(op, running_mean, mean, momentum);
    update_running(op, running_var, unbiased, momentum);
  }
  const std::vector<double> w = channel_values(weight, C, 1.0);
  const std::vector<double> b = channel_values(bias, C, 0.0);
  Tensor out = empty(x.shape(), dt);
  dispatch_real(dt, [&](auto tag) {
    using T = decltype(tag);
    normalize<T>(xc.data_ptr<T>(), l, mean, invstd, w, b, relu, out.data_ptr<T>());
  });

  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs)) {
    record(relu ? "batch_norm_relu" : "batch_norm", out, inputs,
           [xc, l, mean, invstd, w, batch_stats, dt, need_x = x.requires_grad(),
            has_w = weight.defined(), has_b = bias.defined(),
            y = relu ? out.detach() : Tensor()](const Tensor& g) {
             const Tensor gc = (g.dtype() == dt ? g : g.to(dt)).contiguous();
             Tensor dx = need_x ? empty(xc.shape(), dt) : Tensor();
             std::vector<double> dw(mean.size()), db(mean.size());
             dispatch_real(dt, [&](auto tag) {
               using T = decltype(tag);
               normalize_backward<T>(xc.data_ptr<T>(), gc.data_ptr<T>(), l, mean, invstd, w,
                                     batch_stats, need_x ? dx.data_ptr<T>() : nullptr, dw, db,
                                     y.defined() ? y.data_ptr<T>() : nullptr);
             });
             std::vector<Tensor> grads{dx};
             if (has_w) grads.push_back(channel_tensor(dw, dt));
             if (has_b) grads.push_back(channel_tensor(db, dt));
             return grads;
           });
  }
  return out;
}

}  // namespace

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  return batch_norm_impl(x, std::move(running_mean), std::move(running_var), weight, bias, training,
                         momentum, eps, false);
}

Tensor batch_norm_relu(const Tensor& x, Tensor running_mean, Tensor running_var,
                       const Tensor& weight, const Tensor& bias, bool training, double momentum,
                       double eps) {
  return batch_norm_impl(x, std::move(running_mean), std::move(running_var), weight, bias, training,
                         momentum, eps, true);
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw Error("dropout: probability must be in [0, 1], got " + std::to_string(p));
  }
  if (!training || p == 0.0) return x;
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::f32;
  Tensor mask = empty(x.shape(), dt);
  const double scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);
  dispatch_real(dt, [&](auto tag) {
    using T = decltype(tag);
    T* m = mask.data_ptr<T>();
    const T keep = static_cast<T>(scale);
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < p ? T(0) : keep;
  });
  return mul(x, mask);
}

}  // namespace ember
