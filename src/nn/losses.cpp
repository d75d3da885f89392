// Loss functions. l1, mse and mnist_loss_from_probs are composites of primitives (their gradients
// come from the primitives' rules). mnist_loss, binary_cross_entropy_with_logits and cross_entropy
// are fused ops, each with its backward rule beside its forward and its composite kept as the
// reference.
#include "ember/nn/losses.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "ember/core/graph.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/ops/movement.hpp"
#include "ember/ops/reduce.hpp"
#include "kernels/vmath.hpp"

namespace ember::nn {

using autograd::needs_grad;
using autograd::record;

namespace {

void require_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* an,
                        const char* bn) {
  if (a.shape() != b.shape()) {
    throw Error(std::string(op) + ": " + an + " " + shape_str(a.shape()) + " and " + bn + " " +
                shape_str(b.shape()) + " differ in shape (reshape one so they match)");
  }
}

void require_floating(const Tensor& t, const char* op, const char* what) {
  if (!is_floating(t.dtype())) {
    throw Error(std::string(op) + ": " + what + " must be f32 or f64, got " +
                dtype_name(t.dtype()));
  }
}

// ---- the chapter's mnist_loss: raw loops ----

// x: n values -> s = sigmoid(x), n values, computed as the sigmoid op computes it (f32 through the
// vectorised kernel, f64 as 1 / (1 + exp(-x))), so the fused loss agrees with its reference.
void sigmoid_values(const float* x, float* s, std::int64_t n) { kernels::sigmoid_f32(x, s, n); }
void sigmoid_values(const double* x, double* s, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) s[i] = 1.0 / (1.0 + std::exp(-x[i]));
}

// x: n values, t: n values (same type as x, or double) -> the sum of (t == 1 ? 1 - s : s) with
// s = sigmoid(x), each term rounded to T as the composite rounds it, accumulated in double in
// index order (the same for any thread count). When slope is not null it receives each term's
// derivative, (t == 1 ? -1 : 1) * s * (1 - s) (kept for the backward).
template <class T, class U>
double mnist_loss_forward(const T* x, const U* t, std::int64_t n, T* slope) {
  constexpr std::int64_t kBlock = 256;  // sigmoid a block at a time into a stack buffer
  T s[kBlock];
  double total = 0.0;
  for (std::int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const std::int64_t m = std::min(kBlock, n - i0);
    sigmoid_values(x + i0, s, m);
    for (std::int64_t j = 0; j < m; ++j) {
      const T si = s[j];
      const bool one = t[i0 + j] == U(1);
      total += static_cast<double>(one ? T(1) - si : si);
      if (slope) slope[i0 + j] = (one ? -si : si) * (T(1) - si);
    }
  }
  return total;
}

// slope: n values from mnist_loss_forward -> dx = slope * scale, n values.
template <class T>
void mnist_loss_backward(const T* slope, std::int64_t n, double scale, T* dx) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] = static_cast<T>(slope[i] * scale);
}

// ---- binary cross-entropy on logits: raw loops ----

// x, t: n values -> the sum of max(x, 0) - x t + log(1 + exp(-|x|)), accumulated in double.
template <class T>
double bce_logits_forward(const T* x, const T* t, std::int64_t n) {
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double xi = x[i], ti = t[i];
    total += (xi > 0 ? xi : 0.0) - xi * ti + std::log1p(std::exp(-std::abs(xi)));
  }
  return total;
}

// dx = (sigmoid(x) - t) * scale, dt = -x * scale (either may be null).
template <class T>
void bce_logits_backward(const T* x, const T* t, std::int64_t n, double scale, T* dx, T* dt) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double xi = x[i];
    if (dx) dx[i] = static_cast<T>((1.0 / (1.0 + std::exp(-xi)) - t[i]) * scale);
    if (dt) dt[i] = static_cast<T>(-xi * scale);
  }
}

// ---- cross-entropy: raw loops ----

// logits: [B, C] rows, labels: [B] in [0, C) -> the sum over rows of logsumexp(row) - row[label].
// When probs is not null it receives softmax(row) (kept for the backward).
template <class T>
double cross_entropy_forward(const T* logits, const std::int64_t* labels, std::int64_t B,
                             std::int64_t C, T* probs) {
  double total = 0.0;
  for (std::int64_t b = 0; b < B; ++b) {
    const T* row = logits + b * C;
    T m = row[0];
    for (std::int64_t c = 1; c < C; ++c) m = row[c] > m ? row[c] : m;
    // each exp in T's precision (for f32, a double exp per logit was 2% of the MLP workload),
    // summed in double; softmax from the same exps (e / s), not a second exp per logit
    T* p = probs != nullptr ? probs + b * C : nullptr;
    double s = 0.0;
    for (std::int64_t c = 0; c < C; ++c) {
      const T e = std::exp(row[c] - m);
      s += static_cast<double>(e);
      if (p) p[c] = e;
    }
    const double lse = std::log(s) + static_cast<double>(m);
    total += lse - static_cast<double>(row[labels[b]]);
    if (p) {
      const double inv = 1.0 / s;
      for (std::int64_t c = 0; c < C; ++c) p[c] = static_cast<T>(static_cast<double>(p[c]) * inv);
    }
  }
  return total;
}

// probs: softmax [B, C] -> dlogits = (probs - one_hot(labels)) * scale, [B, C].
template <class T>
void cross_entropy_backward(const T* probs, const std::int64_t* labels, std::int64_t B,
                            std::int64_t C, double scale, T* dlogits) {
  const T s = static_cast<T>(scale);
  for (std::int64_t b = 0; b < B; ++b) {
    const T* p = probs + b * C;
    T* d = dlogits + b * C;
    for (std::int64_t c = 0; c < C; ++c) d[c] = p[c] * s;
    d[labels[b]] -= s;
  }
}

// Labels as contiguous i64, each checked against [0, C).
Tensor checked_labels(const Tensor& logits, const Tensor& labels, const char* op) {
  if (logits.rank() != 2) {
    throw Error(std::string(op) + ": logits must be [B, C], got " + shape_str(logits.shape()));
  }
  require_floating(logits, op, "logits");
  if (is_floating(labels.dtype())) {
    throw Error(std::string(op) + ": labels must be integers (class indices), got " +
                dtype_name(labels.dtype()));
  }
  if (labels.rank() != 1 || labels.size(0) != logits.size(0)) {
    throw Error(std::string(op) + ": labels " + shape_str(labels.shape()) +
                " must be [B] for logits " + shape_str(logits.shape()));
  }
  if (logits.size(1) == 0) throw Error(std::string(op) + ": logits have no classes");
  Tensor l = labels.dtype() == DType::i64 ? labels.detach().contiguous() : labels.to(DType::i64);
  const std::int64_t* p = l.data_ptr<std::int64_t>();
  const std::int64_t C = logits.size(1);
  for (std::int64_t i = 0; i < l.numel(); ++i) {
    if (p[i] < 0 || p[i] >= C) {
      throw Error(std::string(op) + ": label " + std::to_string(p[i]) + " (row " +
                  std::to_string(i) + ") is out of range for " + std::to_string(C) + " classes");
    }
  }
  return l;
}

}  // namespace

Tensor l1_loss(const Tensor& pred, const Tensor& target) {
  require_same_shape(pred, target, "l1_loss", "pred", "target");
  return abs(pred - target).mean();
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  require_same_shape(pred, target, "mse_loss", "pred", "target");
  return pow(pred - target, 2.0).mean();
}

Tensor mnist_loss_from_probs(const Tensor& probs, const Tensor& targets) {
  require_same_shape(probs, targets, "mnist_loss", "predictions", "targets");
  return where(targets == 1, 1 - probs, probs).mean();
}

Tensor mnist_loss_reference(const Tensor& predictions, const Tensor& targets) {
  return mnist_loss_from_probs(sigmoid(predictions), targets);
}

Tensor mnist_loss(const Tensor& predictions, const Tensor& targets) {
  const char* op = "mnist_loss";
  require_same_shape(predictions, targets, op, "predictions", "targets");
  require_floating(predictions, op, "predictions");
  const DType dt = predictions.dtype();
  const std::int64_t n = predictions.numel();
  if (n == 0) throw Error(std::string(op) + ": empty input " + shape_str(predictions.shape()));
  const Tensor x = predictions.detach().contiguous();
  // targets compared with 1 in their own dtype, or in f64, which holds every f32 and integer
  // target exactly (so a target near 1 never rounds to 1, as it could in f32)
  const Tensor t =
      targets.dtype() == dt ? targets.detach().contiguous() : targets.detach().to(DType::f64);
  // the targets get no gradient: the composite uses them only in where()'s condition
  const bool want_grad = needs_grad({&predictions});
  Tensor slope = want_grad ? empty(x.shape(), dt) : Tensor();
  Tensor out = dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x.data_ptr<T>();
      T* ps = want_grad ? slope.data_ptr<T>() : nullptr;
      const double total = t.dtype() == dt ? mnist_loss_forward(px, t.data_ptr<T>(), n, ps)
                                           : mnist_loss_forward(px, t.data_ptr<double>(), n, ps);
      return scalar(total / static_cast<double>(n), dt);
    } else {
      return Tensor();  // unreachable: checked floating above
    }
  });
  if (want_grad) {
    record("mnist_loss", out, {predictions}, [slope, n](const Tensor& g) {
      const double scale = g.item<double>() / static_cast<double>(n);
      Tensor dx = empty(slope.shape(), slope.dtype());
      dispatch_dtype(slope.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
          mnist_loss_backward(slope.data_ptr<T>(), n, scale, dx.data_ptr<T>());
        }
      });
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

Tensor binary_cross_entropy_with_logits_reference(const Tensor& logits, const Tensor& targets) {
  require_same_shape(logits, targets, "binary_cross_entropy_with_logits", "logits", "targets");
  return (relu(logits) - logits * targets + log(1 + exp(-abs(logits)))).mean();
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
  const char* op = "binary_cross_entropy_with_logits";
  require_same_shape(logits, targets, op, "logits", "targets");
  require_floating(logits, op, "logits");
  const DType dt = logits.dtype();
  const Tensor x = logits.detach().contiguous();
  const Tensor t = targets.dtype() == dt ? targets.detach().contiguous() : targets.to(dt);
  const std::int64_t n = x.numel();
  if (n == 0) throw Error(std::string(op) + ": empty input");
  Tensor out = dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const double total = bce_logits_forward(x.data_ptr<T>(), t.data_ptr<T>(), n);
      return scalar(total / static_cast<double>(n), dt);
    } else {
      return Tensor();  // unreachable: checked floating above
    }
  });
  if (needs_grad({&logits, &targets})) {
    const bool want_t = targets.requires_grad();
    record("binary_cross_entropy_with_logits", out, {logits, targets},
           [x, t, n, want_t](const Tensor& g) {
             const double scale = g.item<double>() / static_cast<double>(n);
             Tensor dx = empty(x.shape(), x.dtype());
             Tensor dt = want_t ? empty(x.shape(), x.dtype()) : Tensor();
             dispatch_dtype(x.dtype(), [&](auto tag) {
               using T = decltype(tag);
               if constexpr (std::is_floating_point_v<T>) {
                 bce_logits_backward(x.data_ptr<T>(), t.data_ptr<T>(), n, scale, dx.data_ptr<T>(),
                                     want_t ? dt.data_ptr<T>() : static_cast<T*>(nullptr));
               }
             });
             return std::vector<Tensor>{dx, dt};
           });
  }
  return out;
}

Tensor cross_entropy_reference(const Tensor& logits, const Tensor& labels) {
  const Tensor l = checked_labels(logits, labels, "cross_entropy");
  const Tensor picked = log_softmax(logits, 1) * one_hot(l, logits.size(1), logits.dtype());
  return -picked.sum() / static_cast<double>(logits.size(0));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  const Tensor l = checked_labels(logits, labels, "cross_entropy");
  const std::int64_t B = logits.size(0), C = logits.size(1);
  if (B == 0) throw Error("cross_entropy: empty batch");
  const Tensor x = logits.detach().contiguous();
  const bool want_grad = needs_grad({&logits});
  Tensor probs = want_grad ? empty({B, C}, x.dtype()) : Tensor();
  Tensor out = dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const double total = cross_entropy_forward(x.data_ptr<T>(), l.data_ptr<std::int64_t>(), B, C,
                                                 want_grad ? probs.data_ptr<T>() : nullptr);
      return scalar(total / static_cast<double>(B), x.dtype());
    } else {
      return Tensor();  // unreachable: checked floating above
    }
  });
  if (want_grad) {
    record("cross_entropy", out, {logits}, [probs, l, B, C](const Tensor& g) {
      Tensor d = empty({B, C}, probs.dtype());
      const double scale = g.item<double>() / static_cast<double>(B);
      dispatch_dtype(probs.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
          cross_entropy_backward(probs.data_ptr<T>(), l.data_ptr<std::int64_t>(), B, C, scale,
                                 d.data_ptr<T>());
        }
      });
      return std::vector<Tensor>{d};
    });
  }
  return out;
}

}  // namespace ember::nn
