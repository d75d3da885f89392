// Reductions, softmax and sum_to, each with its backward rule beside it.
#include "ember/ops/reduce.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "ember/ops/elementwise.hpp"
#include "ember/ops/movement.hpp"
#include "kernels/reduce.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;

namespace {

struct ReducePlan {
  std::vector<bool> reduced;  // per input axis
  Shape keep_shape;           // output shape with reduced axes kept as 1
  Shape out_shape;            // output shape as asked (keepdim or not)
  std::int64_t count = 1;     // elements folded into each output
};

ReducePlan plan_reduce(const Tensor& t, const Axes& axes, bool keepdim, const char* op) {
  ReducePlan p;
  const auto r = t.rank();
  p.reduced.assign(static_cast<std::size_t>(r), axes.empty());
  for (auto a : axes.axes) {
    if (r == 0) {
      normalize_axis(a, r, op);
      continue;
    }
    const auto ax = static_cast<std::size_t>(normalize_axis(a, r, op));
    if (p.reduced[ax] && !axes.empty()) {
      throw Error(std::string(op) + ": axis " + std::to_string(a) + " appears twice");
    }
    p.reduced[ax] = true;
  }
  for (std::size_t i = 0; i < p.reduced.size(); ++i) {
    const auto s = t.shape()[i];
    if (p.reduced[i]) {
      p.count *= s;
      p.keep_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.keep_shape.push_back(s);
      p.out_shape.push_back(s);
    }
  }
  return p;
}

// Runs a reduction: Acc-typed accumulation, `op(acc, x)`, result of `out_dtype` in keep_shape.
template <class Op>
Tensor reduce_apply(const Tensor& t, const ReducePlan& p, DType acc_dtype, double init, Op op) {
  Tensor out = empty(p.keep_shape, acc_dtype);
  const auto r = static_cast<std::size_t>(t.rank());
  // leading reduced axes of a contiguous tensor: reduce down the columns
  std::size_t lead = 0;
  while (lead < r && p.reduced[lead]) ++lead;
  bool rest_kept = true;
  for (std::size_t i = lead; i < r; ++i) rest_kept = rest_kept && !p.reduced[i];
  Tensor src;
  bool by_columns = false;
  std::int64_t outer = 1, inner = 1;
  if (rest_kept && lead > 0 && lead < r && t.is_contiguous()) {
    by_columns = true;
    src = t;
    for (std::size_t i = 0; i < lead; ++i) inner *= t.shape()[i];
    for (std::size_t i = lead; i < r; ++i) outer *= t.shape()[i];
  } else if (t.is_contiguous() && [&] {
               // reduced axes already trailing: the rows are in place
               std::size_t first = r;
               while (first > 0 && p.reduced[first - 1]) --first;
               for (std::size_t i = 0; i < first; ++i)
                 if (p.reduced[i]) return false;
               return true;
             }()) {
    src = t;
    for (std::size_t i = 0; i < r; ++i) (p.reduced[i] ? inner : outer) *= t.shape()[i];
  } else {
    // kept axes first, reduced last, then rows of a contiguous copy
    Shape order;
    for (std::size_t i = 0; i < r; ++i)
      if (!p.reduced[i]) order.push_back(static_cast<std::int64_t>(i));
    for (std::size_t i = 0; i < r; ++i)
      if (p.reduced[i]) order.push_back(static_cast<std::int64_t>(i));
    src = (r == 0 ? t.detach() : t.detach().permute(order)).contiguous();
    for (std::size_t i = 0; i < r; ++i) (p.reduced[i] ? inner : outer) *= t.shape()[i];
  }
  dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(src.raw_data());
    dispatch_dtype(acc_dtype, [&](auto acc_tag) {
      using A = decltype(acc_tag);
      A* o = static_cast<A*>(out.raw_data());
      if (by_columns) {
        kernels::reduce_cols<T, A>(x, inner, outer, static_cast<A>(init), op, o);
      } else if constexpr (std::is_same_v<A, float>) {
        // rows of f32 accumulate in f64, then round once
        std::vector<double> tmp(static_cast<std::size_t>(outer));
        kernels::reduce_rows<T, double>(x, outer, inner, init, op, tmp.data());
        for (std::int64_t i = 0; i < outer; ++i) o[i] = static_cast<float>(tmp[static_cast<std::size_t>(i)]);
      } else {
        kernels::reduce_rows<T, A>(x, outer, inner, static_cast<A>(init), op, o);
      }
    });
  });
  return out;
}

Tensor finish(Tensor keep, const ReducePlan& p) {
  return keep.shape() == p.out_shape ? keep : keep.reshape(p.out_shape);
}

}  // namespace

Tensor sum(const Tensor& t, const Axes& axes, bool keepdim) {
  const ReducePlan p = plan_reduce(t, axes, keepdim, "sum");
  const DType acc = is_floating(t.dtype()) ? t.dtype() : DType::i64;
  Tensor out = finish(reduce_apply(t, p, acc, 0.0, [](auto a, auto x) { return a + x; }), p);
  if (needs_grad({&t})) {
    record("sum", out, {t}, [p, shape = t.shape()](const Tensor& g) {
      return std::vector<Tensor>{g.reshape(p.keep_shape).expand(shape)};
    });
  }
  return out;
}

Tensor mean(const Tensor& t, const Axes& axes, bool keepdim) {
  const ReducePlan p = plan_reduce(t, axes, keepdim, "mean");
  if (p.count == 0) throw Error("mean: reducing an empty axis of shape " + shape_str(t.shape()));
  const DType dt = is_floating(t.dtype()) ? t.dtype() : DType::f32;
  // integers are summed exactly in f64, then divided and rounded to f32 once
  Tensor total = reduce_apply(t, p, is_floating(t.dtype()) ? t.dtype() : DType::f64, 0.0,
                              [](auto a, auto x) { return a + x; });
  Tensor keep = div(total, scalar(static_cast<double>(p.count), total.dtype())).to(dt);
  Tensor out = finish(keep, p);
  if (needs_grad({&t})) {
    record("mean", out, {t}, [p, shape = t.shape()](const Tensor& g) {
      return std::vector<Tensor>{
          (g / static_cast<double>(p.count)).reshape(p.keep_shape).expand(shape)};
    });
  }
  return out;
}

namespace {
Tensor extreme(const Tensor& t, const Axes& axes, bool keepdim, bool want_max) {
  const char* name = want_max ? "max" : "min";
  const ReducePlan p = plan_reduce(t, axes, keepdim, name);
  if (p.count == 0) throw Error(std::string(name) + ": reducing an empty axis of shape " + shape_str(t.shape()));
  Tensor keep = dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const double init = want_max ? -std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::infinity();
    if (want_max) return reduce_apply(t, p, t.dtype(), init, [](auto a, auto x) { return x > a || x != x ? x : a; });
    (void)sizeof(T);
    return reduce_apply(t, p, t.dtype(), init, [](auto a, auto x) { return x < a || x != x ? x : a; });
  });
  Tensor out = finish(keep, p);
  if (needs_grad({&t})) {
    // gradient shared equally among the tied extremes
    record(name, out, {t}, [p, td = t.detach(), kd = keep.detach()](const Tensor& g) {
      Tensor mask = (td == kd).to(g.dtype());
      Tensor count = sum(mask, [&] {
        std::vector<std::int64_t> ax;
        for (std::size_t i = 0; i < p.reduced.size(); ++i)
          if (p.reduced[i]) ax.push_back(static_cast<std::int64_t>(i));
        return Axes(ax);
      }(), true);
      return std::vector<Tensor>{mask * (g.reshape(p.keep_shape) / count)};
    });
  }
  return out;
}

Tensor arg_extreme(const Tensor& t, std::int64_t axis, bool keepdim, bool want_min) {
  const char* name = want_min ? "argmin" : "argmax";
  if (t.numel() == 0) throw Error(std::string(name) + ": empty tensor of shape " + shape_str(t.shape()));
  const auto r = t.rank();
  const auto ax = normalize_axis(axis, r, name);
  Tensor src = r == 0 ? t.detach().reshape({1}) : t.detach().transpose(ax, -1).contiguous();
  const std::int64_t inner = src.shape().back();
  const std::int64_t outer = src.numel() / inner;
  Shape keep = t.shape();
  if (r > 0) keep[static_cast<std::size_t>(ax)] = 1;
  // rows are in transposed order: compute in that order, then transpose back
  Shape tshape = src.shape();
  tshape.back() = 1;
  Tensor out = empty(tshape, DType::i64);
  dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::arg_extreme_rows(static_cast<const T*>(src.raw_data()), outer, inner, want_min,
                              out.data_ptr<std::int64_t>());
  });
  if (r == 0) return out.reshape({});
  out = out.transpose(ax, -1).contiguous();
  if (!keepdim) out = out.squeeze(ax);
  return out;
}

Tensor softmax_impl(const Tensor& t0, std::int64_t axis, bool log_space) {
  const char* name = log_space ? "log_softmax" : "softmax";
  const Tensor t = ops_detail::as_floating(t0);
  const auto r = t.rank();
  const auto ax = normalize_axis(axis, r, name);
  const bool last = r == 0 || ax == r - 1;
  Tensor src = last ? t.detach().contiguous() : t.detach().transpose(ax, -1).contiguous();
  const std::int64_t n = r == 0 ? 1 : src.shape().back();
  Tensor res = empty(src.shape(), t.dtype());
  if (n > 0) {
    dispatch_dtype(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        kernels::softmax_rows(static_cast<const T*>(src.raw_data()), src.numel() / n, n, log_space,
                              static_cast<T*>(res.raw_data()));
      }
    });
  }
  Tensor out = last ? res : res.transpose(ax, -1).contiguous();
  if (needs_grad({&t})) {
    record(name, out, {t}, [od = out.detach(), ax, log_space](const Tensor& g) {
      if (log_space) return std::vector<Tensor>{g - exp(od) * sum(g, ax, true)};
      return std::vector<Tensor>{od * (g - sum(g * od, ax, true))};
    });
  }
  return out;
}
}  // namespace

Tensor max(const Tensor& t, const Axes& axes, bool keepdim) { return extreme(t, axes, keepdim, true); }
Tensor min(const Tensor& t, const Axes& axes, bool keepdim) { return extreme(t, axes, keepdim, false); }
Tensor argmax(const Tensor& t, std::int64_t axis, bool keepdim) { return arg_extreme(t, axis, keepdim, false); }
Tensor argmin(const Tensor& t, std::int64_t axis, bool keepdim) { return arg_extreme(t, axis, keepdim, true); }
Tensor softmax(const Tensor& t, std::int64_t axis) { return softmax_impl(t, axis, false); }
Tensor log_softmax(const Tensor& t, std::int64_t axis) { return softmax_impl(t, axis, true); }

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const auto lead = static_cast<std::int64_t>(t.rank()) - static_cast<std::int64_t>(shape.size());
  if (lead < 0) {
    throw Error("sum_to: cannot sum " + shape_str(t.shape()) + " to the larger shape " + shape_str(shape));
  }
  std::vector<std::int64_t> axes;
  for (std::int64_t i = 0; i < lead; ++i) axes.push_back(i);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto s = t.shape()[static_cast<std::size_t>(lead) + i];
    if (shape[i] == 1 && s != 1) axes.push_back(lead + static_cast<std::int64_t>(i));
    else if (shape[i] != s) {
      throw Error("sum_to: shape " + shape_str(t.shape()) + " was not broadcast from " + shape_str(shape));
    }
  }
  if (axes.empty()) return t.reshape(shape);
  return sum(t, Axes(axes), true).reshape(shape);
}

}  // namespace ember
