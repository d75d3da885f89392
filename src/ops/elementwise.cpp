// Element-wise ops: forward (broadcasting, promotion, dispatch to kernels) and, beside each, its
// backward rule.
#include "ember/ops/elementwise.hpp"

#include <cmath>
#include <limits>

#include "ember/core/parallel.hpp"
#include "ember/ops/reduce.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/vmath.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using ops_detail::broadcast_strides;

namespace {

// Elements per parallel chunk of a memory-bound element-wise loop: below about twice this, the
// loop runs inline (waking a worker costs more than the work).
constexpr int64_t kElementwiseGrain = int64_t{1} << 16;

// Applies f elementwise to a and b (broadcast) computed in `compute` dtype, output in `out_dtype`
// (either `compute` or u8 for comparisons).
template <class F>
Tensor binary_apply(const Tensor& a0, const Tensor& b0, DType compute, DType out_dtype,
                    const char* name, F f) {
  const Shape shape = broadcast_shapes(a0.shape(), b0.shape(), name);
  const Tensor a = a0.dtype() == compute ? a0 : a0.detach().to(compute);
  const Tensor b = b0.dtype() == compute ? b0 : b0.detach().to(compute);
  Tensor out = empty(shape, out_dtype);
  const Shape as = broadcast_strides(a, shape);
  const Shape bs = broadcast_strides(b, shape);
  dispatch_dtype(compute, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    if (out_dtype == compute) {
      kernels::binary_loop(shape, pa, as.data(), pb, bs.data(), static_cast<T*>(out.raw_data()),
                           [&](T x, T y) { return static_cast<T>(f(x, y)); });
    } else {
      kernels::binary_loop(shape, pa, as.data(), pb, bs.data(),
                           static_cast<std::uint8_t*>(out.raw_data()),
                           [&](T x, T y) { return static_cast<std::uint8_t>(f(x, y)); });
    }
  });
  return out;
}

template <class F>
Tensor unary_apply(const Tensor& a, DType out_dtype, F f) {
  const Tensor in = a.dtype() == out_dtype ? a : a.detach().to(out_dtype);
  Tensor out = empty(in.shape(), out_dtype);
  dispatch_dtype(out_dtype, [&](auto tag) {
    using T = decltype(tag);
    kernels::unary_loop(in.shape(), static_cast<const T*>(in.raw_data()), in.strides().data(),
                        static_cast<T*>(out.raw_data()), [&](T x) { return static_cast<T>(f(x)); });
  });
  return out;
}

DType arith_dtype(const Tensor& a, const Tensor& b) { return promote_types(a.dtype(), b.dtype()); }

Tensor sign(const Tensor& a) {
  return unary_apply(a, a.dtype(), [](auto x) { return (x > 0) - (x < 0); });
}

// Only floating inputs carry gradients; gradients are summed back to each input's shape.
Tensor grad_for(const Tensor& g, const Tensor& input) {
  return sum_to(g, input.shape());
}

}  // namespace

Tensor wrap_scalar(const Tensor& like, double value, bool is_integral) {
  DType dtype = like.dtype();
  if (!is_integral && !is_floating(dtype)) dtype = DType::f32;
  if (is_integral && dtype == DType::u8 && (value < 0 || value > 255)) dtype = DType::i64;
  return scalar(value, dtype);
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_apply(a, b, arith_dtype(a, b), arith_dtype(a, b), "add",
                            [](auto x, auto y) { return x + y; });
  if (needs_grad({&a, &b})) {
    record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_apply(a, b, arith_dtype(a, b), arith_dtype(a, b), "sub",
                            [](auto x, auto y) { return x - y; });
  if (needs_grad({&a, &b})) {
    record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_apply(a, b, arith_dtype(a, b), arith_dtype(a, b), "mul",
                            [](auto x, auto y) { return x * y; });
  if (needs_grad({&a, &b})) {
    record("mul", out, {a, b},
           [ad = a.detach(), bd = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](
               const Tensor& g) {
             return std::vector<Tensor>{na ? grad_for(g * bd, ad) : Tensor(),
                                        nb ? grad_for(g * ad, bd) : Tensor()};
           });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  DType dt = arith_dtype(a, b);
  if (!is_floating(dt)) dt = DType::f32;
  Tensor out = binary_apply(a, b, dt, dt, "div", [](auto x, auto y) { return x / y; });
  if (needs_grad({&a, &b})) {
    record("div", out, {a, b},
           [ad = a.detach(), bd = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](
               const Tensor& g) {
             return std::vector<Tensor>{na ? grad_for(g / bd, ad) : Tensor(),
                                        nb ? grad_for(neg(g) * ad / (bd * bd), bd) : Tensor()};
           });
  }
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = unary_apply(a, a.dtype(), [](auto x) { return -x; });
  if (needs_grad({&a})) {
    record("neg", out, {a}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  }
  return out;
}

Tensor pow(const Tensor& a, double e) {
  const DType dt = is_floating(a.dtype()) ? a.dtype() : DType::f32;
  Tensor out;
  if (e == 2.0) {
    out = unary_apply(a, dt, [](auto x) { return x * x; });
  } else {
    out = unary_apply(a, dt, [e](auto x) { return std::pow(x, static_cast<decltype(x)>(e)); });
  }
  if (needs_grad({&a})) {
    record("pow", out, {a}, [ad = a.detach(), e](const Tensor& g) {
      if (e == 2.0) return std::vector<Tensor>{g * ad * 2.0};
      return std::vector<Tensor>{g * pow(ad, e - 1.0) * e};
    });
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  DType dt = arith_dtype(a, b);
  if (!is_floating(dt)) dt = DType::f32;
  Tensor out = binary_apply(a, b, dt, dt, "pow", [](auto x, auto y) { return std::pow(x, y); });
  if (needs_grad({&a, &b})) {
    record("pow", out, {a, b}, [ad = a.detach(), bd = b.detach(), od = out.detach()](const Tensor& g) {
      Tensor ga = g * bd * pow(ad, bd - 1.0);
      Tensor gb = g * od * log(ad);
      return std::vector<Tensor>{grad_for(ga, ad), grad_for(gb, bd)};
    });
  }
  return out;
}

Tensor abs(const Tensor& a) {
  Tensor out = unary_apply(a, a.dtype(), [](auto x) { return x < 0 ? -x : x; });
  if (needs_grad({&a})) {
    // d|x|/dx = sign(x), 0 at 0 (as PyTorch)
    record("abs", out, {a}, [ad = a.detach()](const Tensor& g) {
      return std::vector<Tensor>{g * sign(ad)};
    });
  }
  return out;
}

// f32, contiguous: the vectorised kernel; else the generic loop.
template <class F>
Tensor unary_fast(const Tensor& a, DType dt, void (*kernel)(const float*, float*, std::int64_t),
                  F generic) {
  if (dt == DType::f32 && a.dtype() == DType::f32 && a.is_contiguous()) {
    Tensor out = empty(a.shape(), DType::f32);
    kernel(static_cast<const float*>(a.raw_data()), static_cast<float*>(out.raw_data()), a.numel());
    return out;
  }
  return unary_apply(a, dt, generic);
}

Tensor exp(const Tensor& a) {
  const DType dt = is_floating(a.dtype()) ? a.dtype() : DType::f32;
  Tensor out = unary_fast(a, dt, kernels::exp_f32, [](auto x) { return std::exp(x); });
  if (needs_grad({&a})) {
    record("exp", out, {a}, [od = out.detach()](const Tensor& g) {
      return std::vector<Tensor>{g * od};
    });
  }
  return out;
}

Tensor log(const Tensor& a) {
  const DType dt = is_floating(a.dtype()) ? a.dtype() : DType::f32;
  Tensor out = unary_apply(a, dt, [](auto x) { return std::log(x); });
  if (needs_grad({&a})) {
    record("log", out, {a}, [ad = a.detach()](const Tensor& g) {
      return std::vector<Tensor>{g / ad};
    });
  }
  return out;
}

Tensor sqrt(const Tensor& a) {
  const DType dt = is_floating(a.dtype()) ? a.dtype() : DType::f32;
  Tensor out = unary_apply(a, dt, [](auto x) { return std::sqrt(x); });
  if (needs_grad({&a})) {
    record("sqrt", out, {a}, [od = out.detach()](const Tensor& g) {
      return std::vector<Tensor>{g / (od * 2.0)};
    });
  }
  return out;
}

Tensor sigmoid(const Tensor& a) {
  const DType dt = is_floating(a.dtype()) ? a.dtype() : DType::f32;
  Tensor out = unary_fast(a, dt, kernels::sigmoid_f32, [](auto x) {
    using T = decltype(x);
    return T(1) / (T(1) + std::exp(-x));
  });
  if (needs_grad({&a})) {
    record("sigmoid", out, {a}, [od = out.detach()](const Tensor& g) {
      return std::vector<Tensor>{g * od * (1.0 - od)};
    });
  }
  return out;
}

Tensor tanh(const Tensor& a) {
  const DType dt = is_floating(a.dtype()) ? a.dtype() : DType::f32;
  Tensor out = unary_apply(a, dt, [](auto x) { return std::tanh(x); });
  if (needs_grad({&a})) {
    record("tanh", out, {a}, [od = out.detach()](const Tensor& g) {
      return std::vector<Tensor>{g * (1.0 - od * od)};
    });
  }
  return out;
}

Tensor relu(const Tensor& a) {
  Tensor out;
  if (a.dtype() == DType::f32 && a.is_contiguous()) {
    // the common case, split over the pool (element by element: same bits for any split)
    out = empty(a.shape(), a.dtype());
    const float* x = a.data_ptr<float>();
    float* y = out.data_ptr<float>();
    parallel_for(0, a.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    });
  } else {
    out = unary_apply(a, a.dtype(), [](auto x) { return x > 0 ? x : decltype(x)(0); });
  }
  if (needs_grad({&a})) {
    // gradient 0 at the kink x == 0, as PyTorch
    // where(out > 0, g, 0) is the rule; the fused loop below computes the same in one pass
    // when no graph is being built through the gradient.
    record("relu", out, {a}, [od = out.detach()](const Tensor& g) {
      return std::vector<Tensor>{ops_detail::relu_backward(g, od)};
    });
  }
  return out;
}

Tensor ops_detail::relu_backward(const Tensor& g, const Tensor& out) {
  if (g.requires_grad() || g.dtype() != out.dtype() || g.shape() != out.shape() ||
      !g.is_contiguous() || !is_floating(out.dtype())) {
    return where(out > 0, g, 0.0);
  }
  Tensor dx = empty(out.shape(), out.dtype());
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* y = out.data_ptr<T>();
      const T* dy = g.data_ptr<T>();
      T* d = dx.data_ptr<T>();
      // element by element, so any split gives the same bits; small tensors run inline
      parallel_for(0, out.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        kernels::relu_backward(y + b, dy + b, d + b, e - b);
      });
    }
  });
  return dx;
}

Tensor floor(const Tensor& a) {
  Tensor out = unary_apply(a, a.dtype(), [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) return std::floor(x);
    else return x;
  });
  if (needs_grad({&a})) {
    record("floor", out, {a}, [](const Tensor& g) { return std::vector<Tensor>{zeros_like(g)}; });
  }
  return out;
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  if (lo > hi) {
    throw Error("clamp: lower bound " + std::to_string(lo) + " is above upper bound " +
                std::to_string(hi));
  }
  Tensor out = unary_apply(a, a.dtype(), [lo, hi](auto x) {
    using T = decltype(x);
    const double v = static_cast<double>(x);
    return static_cast<T>(v < lo ? lo : (v > hi ? hi : v));
  });
  if (needs_grad({&a})) {
    record("clamp", out, {a}, [ad = a.detach(), lo, hi](const Tensor& g) {
      return std::vector<Tensor>{where((ad >= lo) * (ad <= hi), g, 0.0)};
    });
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_apply(a, b, arith_dtype(a, b), arith_dtype(a, b), "maximum",
                            [](auto x, auto y) { return x > y ? x : y; });
  if (needs_grad({&a, &b})) {
    // ties share the gradient equally, as PyTorch
    record("maximum", out, {a, b}, [ad = a.detach(), bd = b.detach()](const Tensor& g) {
      Tensor wa = where(ad > bd, scalar(1.0, g.dtype()), where(ad == bd, scalar(0.5, g.dtype()), scalar(0.0, g.dtype())));
      return std::vector<Tensor>{grad_for(g * wa, ad), grad_for(g * (1.0 - wa), bd)};
    });
  }
  return out;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_apply(a, b, arith_dtype(a, b), arith_dtype(a, b), "minimum",
                            [](auto x, auto y) { return x < y ? x : y; });
  if (needs_grad({&a, &b})) {
    record("minimum", out, {a, b}, [ad = a.detach(), bd = b.detach()](const Tensor& g) {
      Tensor wa = where(ad < bd, scalar(1.0, g.dtype()), where(ad == bd, scalar(0.5, g.dtype()), scalar(0.0, g.dtype())));
      return std::vector<Tensor>{grad_for(g * wa, ad), grad_for(g * (1.0 - wa), bd)};
    });
  }
  return out;
}

#define EMBER_COMPARISON(NAME, OP)                                                          \
  Tensor NAME(const Tensor& a, const Tensor& b) {                                           \
    return binary_apply(a, b, arith_dtype(a, b), DType::u8, #NAME,                          \
                        [](auto x, auto y) { return x OP y; });                             \
  }
EMBER_COMPARISON(lt, <)
EMBER_COMPARISON(le, <=)
EMBER_COMPARISON(gt, >)
EMBER_COMPARISON(ge, >=)
EMBER_COMPARISON(eq, ==)
EMBER_COMPARISON(ne, !=)
#undef EMBER_COMPARISON

Tensor where(const Tensor& cond, const Tensor& a0, const Tensor& b0) {
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a0.shape(), "where"), b0.shape(), "where");
  const DType dt = arith_dtype(a0, b0);
  const Tensor a = a0.dtype() == dt ? a0 : a0.detach().to(dt);
  const Tensor b = b0.dtype() == dt ? b0 : b0.detach().to(dt);
  const Tensor c = cond.dtype() == DType::u8 ? cond : ne(cond.detach(), scalar(0, cond.dtype()));
  Tensor out = empty(shape, dt);
  const Shape cs = broadcast_strides(c, shape), as = broadcast_strides(a, shape),
              bs = broadcast_strides(b, shape);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::where_loop(shape, static_cast<const std::uint8_t*>(c.raw_data()), cs.data(),
                        static_cast<const T*>(a.raw_data()), as.data(),
                        static_cast<const T*>(b.raw_data()), bs.data(), static_cast<T*>(out.raw_data()));
  });
  if (needs_grad({&a0, &b0})) {
    record("where", out, {a0, b0}, [c, sa = a0.shape(), sb = b0.shape()](const Tensor& g) {
      const Tensor zero = scalar(0.0, g.dtype());
      return std::vector<Tensor>{sum_to(where(c, g, zero), sa), sum_to(where(c, zero, g), sb)};
    });
  }
  return out;
}

}  // namespace ember
