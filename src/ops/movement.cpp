// Views (reshape, slice, select, transpose, permute, squeeze, unsqueeze, expand) and the copying
// shape ops (stack, concat, index_select, one_hot), each with its backward rule.
#include "ember/ops/movement.hpp"

#include <algorithm>
#include <cstring>

#include "ember/core/random.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/ops/reduce.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using ops_detail::make_view;

namespace {

// Strides for viewing `t` as `shape` without a copy: always for a contiguous tensor; otherwise
// when the new shape only adds or drops axes of size 1 (squeeze, unsqueeze). Else false (copy).
bool view_strides(const Tensor& t, const Shape& shape, Shape& out) {
  if (t.is_contiguous()) {
    out = contiguous_strides(shape);
    return true;
  }
  Shape old_sizes, old_strides;
  for (std::size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] != 1) {
      old_sizes.push_back(t.shape()[i]);
      old_strides.push_back(t.strides()[i]);
    }
  }
  out.assign(shape.size(), 0);
  std::size_t k = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (k >= old_sizes.size() || old_sizes[k] != shape[i]) return false;
    out[i] = old_strides[k++];
  }
  if (k != old_sizes.size()) return false;
  for (std::size_t i = shape.size(); i-- > 0;) {  // size-1 axes: any stride; keep them tidy
    if (shape[i] == 1) out[i] = i + 1 < shape.size() ? out[i + 1] * shape[i + 1] : 1;
  }
  return true;
}

Shape infer_shape(const Shape& asked, std::int64_t numel, const Shape& from) {
  Shape shape = asked;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw Error("reshape: only one -1 allowed in " + shape_str(asked));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw Error("reshape: invalid size in " + shape_str(asked));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0) {
      throw Error("reshape: cannot reshape " + shape_str(from) + " (" + std::to_string(numel) +
                  " elements) to " + shape_str(asked));
    }
    shape[static_cast<std::size_t>(infer)] = numel / known;
  } else if (known != numel) {
    throw Error("reshape: cannot reshape " + shape_str(from) + " (" + std::to_string(numel) +
                " elements) to " + shape_str(asked));
  }
  return shape;
}

Tensor record_view(Tensor out, const Tensor& in, const char* name, autograd::BackwardFn fn) {
  if (needs_grad({&in})) record(name, out, {in}, std::move(fn));
  return out;
}

}  // namespace

Tensor Tensor::reshape(const Shape& asked) const {
  const Shape shape = infer_shape(asked, numel(), this->shape());
  Shape st;
  Tensor out = view_strides(*this, shape, st) ? make_view(*this, shape, st, offset())
                                              : detach().contiguous().reshape(shape);
  return record_view(out, *this, "reshape", [from = this->shape()](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(from)};
  });
}

Tensor Tensor::flatten(std::int64_t start_axis, std::int64_t end_axis) const {
  if (rank() == 0) return reshape({1});
  const auto s = normalize_axis(start_axis, rank(), "flatten");
  const auto e = normalize_axis(end_axis, rank(), "flatten");
  if (s > e) throw Error("flatten: start axis after end axis");
  Shape shape;
  for (std::int64_t i = 0; i < s; ++i) shape.push_back(this->shape()[static_cast<std::size_t>(i)]);
  std::int64_t n = 1;
  for (std::int64_t i = s; i <= e; ++i) n *= this->shape()[static_cast<std::size_t>(i)];
  shape.push_back(n);
  for (std::int64_t i = e + 1; i < rank(); ++i) shape.push_back(this->shape()[static_cast<std::size_t>(i)]);
  return reshape(shape);
}

Tensor Tensor::slice(std::int64_t axis, std::int64_t start, std::int64_t end, std::int64_t step) const {
  if (rank() == 0) throw Error("slice: cannot slice a scalar");
  const auto ax = static_cast<std::size_t>(normalize_axis(axis, rank(), "slice"));
  if (step <= 0) throw Error("slice: step must be positive, got " + std::to_string(step));
  const std::int64_t n = shape()[ax];
  auto clampi = [n](std::int64_t i) {
    if (i < 0) i += n;
    return std::clamp<std::int64_t>(i, 0, n);
  };
  const std::int64_t s = clampi(start), e = std::max(clampi(end), clampi(start));
  Shape sh = shape(), st = strides();
  sh[ax] = (e - s + step - 1) / step;
  st[ax] = strides()[ax] * step;
  Tensor out = make_view(*this, sh, st, offset() + s * strides()[ax]);
  return record_view(out, *this, "slice", [from = shape(), ax, s, e, step](const Tensor& g) {
    Tensor full = zeros(from, g.dtype());
    full.slice(static_cast<std::int64_t>(ax), s, e, step).copy_(g);
    return std::vector<Tensor>{full};
  });
}

Tensor Tensor::select(std::int64_t axis, std::int64_t index) const {
  if (rank() == 0) throw Error("select: cannot index a scalar");
  const auto ax = static_cast<std::size_t>(normalize_axis(axis, rank(), "select"));
  const std::int64_t n = shape()[ax];
  if (index < -n || index >= n) {
    throw Error("select: index " + std::to_string(index) + " is out of range for axis " +
                std::to_string(axis) + " of size " + std::to_string(n) + " (shape " +
                shape_str(shape()) + ")");
  }
  const std::int64_t i = index < 0 ? index + n : index;
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + static_cast<std::ptrdiff_t>(ax));
  st.erase(st.begin() + static_cast<std::ptrdiff_t>(ax));
  Tensor out = make_view(*this, sh, st, offset() + i * strides()[ax]);
  return record_view(out, *this, "select", [from = shape(), ax, i](const Tensor& g) {
    Tensor full = zeros(from, g.dtype());
    full.select(static_cast<std::int64_t>(ax), i).copy_(g);
    return std::vector<Tensor>{full};
  });
}

Tensor Tensor::transpose(std::int64_t a, std::int64_t b) const {
  if (rank() < 2 && (a == 0 || a == -1) && (b == 0 || b == -1)) return *this;
  const auto x = static_cast<std::size_t>(normalize_axis(a, rank(), "transpose"));
  const auto y = static_cast<std::size_t>(normalize_axis(b, rank(), "transpose"));
  Shape sh = shape(), st = strides();
  std::swap(sh[x], sh[y]);
  std::swap(st[x], st[y]);
  Tensor out = make_view(*this, sh, st, offset());
  return record_view(out, *this, "transpose", [x, y](const Tensor& g) {
    return std::vector<Tensor>{g.transpose(static_cast<std::int64_t>(x), static_cast<std::int64_t>(y))};
  });
}

Tensor Tensor::t() const {
  if (rank() > 2) throw Error("t: expects a tensor of rank <= 2, got shape " + shape_str(shape()));
  return rank() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::permute(const Shape& order) const {
  if (static_cast<std::int64_t>(order.size()) != rank()) {
    throw Error("permute: order " + shape_str(order) + " does not match rank " + std::to_string(rank()));
  }
  Shape sh(order.size()), st(order.size()), inverse(order.size());
  std::vector<bool> used(order.size(), false);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto ax = static_cast<std::size_t>(normalize_axis(order[i], rank(), "permute"));
    if (used[ax]) throw Error("permute: axis repeated in " + shape_str(order));
    used[ax] = true;
    sh[i] = shape()[ax];
    st[i] = strides()[ax];
    inverse[ax] = static_cast<std::int64_t>(i);
  }
  Tensor out = make_view(*this, sh, st, offset());
  return record_view(out, *this, "permute", [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Tensor Tensor::squeeze() const {
  Shape sh;
  for (auto s : shape())
    if (s != 1) sh.push_back(s);
  return reshape(sh);
}

Tensor Tensor::squeeze(std::int64_t axis) const {
  if (rank() == 0) return *this;
  const auto ax = static_cast<std::size_t>(normalize_axis(axis, rank(), "squeeze"));
  if (shape()[ax] != 1) return *this;
  Shape sh = shape();
  sh.erase(sh.begin() + static_cast<std::ptrdiff_t>(ax));
  return reshape(sh);
}

Tensor Tensor::unsqueeze(std::int64_t axis) const {
  const auto ax = static_cast<std::size_t>(normalize_axis(axis, rank() + 1, "unsqueeze"));
  Shape sh = shape();
  sh.insert(sh.begin() + static_cast<std::ptrdiff_t>(ax), 1);
  return reshape(sh);
}

Tensor Tensor::expand(const Shape& asked) const {
  if (asked.size() < shape().size()) {
    throw Error("expand: cannot expand " + shape_str(shape()) + " to fewer axes " + shape_str(asked));
  }
  Shape sh = asked;
  const std::size_t lead = asked.size() - shape().size();
  Shape st(asked.size(), 0);
  for (std::size_t i = 0; i < asked.size(); ++i) {
    if (i < lead) {
      if (sh[i] < 0) throw Error("expand: -1 not allowed for a new axis in " + shape_str(asked));
      continue;
    }
    const auto s = shape()[i - lead];
    if (sh[i] == -1) sh[i] = s;
    if (s == sh[i]) st[i] = strides()[i - lead];
    else if (s != 1) {
      throw Error("expand: cannot expand " + shape_str(shape()) + " to " + shape_str(asked));
    }
  }
  Tensor out = make_view(*this, sh, st, offset());
  return record_view(out, *this, "expand", [from = shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, from)};
  });
}

// ---- free-function forms ----
Tensor reshape(const Tensor& t, const Shape& shape) { return t.reshape(shape); }
Tensor flatten(const Tensor& t, std::int64_t s, std::int64_t e) { return t.flatten(s, e); }
Tensor transpose(const Tensor& t, std::int64_t a, std::int64_t b) { return t.transpose(a, b); }
Tensor permute(const Tensor& t, const Shape& order) { return t.permute(order); }
Tensor squeeze(const Tensor& t) { return t.squeeze(); }
Tensor squeeze(const Tensor& t, std::int64_t axis) { return t.squeeze(axis); }
Tensor unsqueeze(const Tensor& t, std::int64_t axis) { return t.unsqueeze(axis); }
Tensor expand(const Tensor& t, const Shape& shape) { return t.expand(shape); }
Tensor slice(const Tensor& t, std::int64_t axis, std::int64_t start, std::int64_t end, std::int64_t step) {
  return t.slice(axis, start, end, step);
}
Tensor select(const Tensor& t, std::int64_t axis, std::int64_t index) { return t.select(axis, index); }
Tensor contiguous(const Tensor& t) { return t.contiguous(); }

// ---- copying ops ----
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis) {
  if (tensors.empty()) throw Error("concat: no tensors given");
  const Tensor& first = tensors[0];
  if (first.rank() == 0) throw Error("concat: cannot concatenate scalars (use stack)");
  const auto ax = static_cast<std::size_t>(normalize_axis(axis, first.rank(), "concat"));
  Shape shape = first.shape();
  DType dt = first.dtype();
  std::int64_t total = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& t = tensors[k];
    Shape a = t.shape(), b = first.shape();
    if (a.size() == b.size()) {
      a[ax] = 0;
      b[ax] = 0;
    }
    if (a != b) {
      throw Error("concat: tensor " + std::to_string(k) + " has shape " + shape_str(t.shape()) +
                  ", tensor 0 has " + shape_str(first.shape()) + " (they must agree off axis " +
                  std::to_string(axis) + ")");
    }
    total += t.shape()[ax];
    dt = promote_types(dt, t.dtype());
  }
  shape[ax] = total;
  Tensor out = empty(shape, dt);
  std::int64_t at = 0;
  for (const Tensor& t : tensors) {
    const auto n = t.shape()[ax];
    Tensor dst = out.slice(static_cast<std::int64_t>(ax), at, at + n);
    dst.copy_(t.detach());
    at += n;
  }
  if (needs_grad(tensors)) {
    std::vector<std::int64_t> sizes;
    for (const Tensor& t : tensors) sizes.push_back(t.shape()[ax]);
    record("concat", out, tensors, [sizes, ax](const Tensor& g) {
      std::vector<Tensor> grads;
      std::int64_t at2 = 0;
      for (auto n : sizes) {
        grads.push_back(g.slice(static_cast<std::int64_t>(ax), at2, at2 + n));
        at2 += n;
      }
      return grads;
    });
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t axis) { return concat(tensors, axis); }

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis) {
  if (tensors.empty()) throw Error("stack: no tensors given");
  const auto ax = normalize_axis(axis, tensors[0].rank() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    if (tensors[k].shape() != tensors[0].shape()) {
      throw Error("stack: tensor " + std::to_string(k) + " has shape " + shape_str(tensors[k].shape()) +
                  ", tensor 0 has " + shape_str(tensors[0].shape()));
    }
    parts.push_back(tensors[k].unsqueeze(ax));
  }
  return concat(parts, ax);
}

Tensor index_select(const Tensor& t, std::int64_t axis, const Tensor& index) {
  if (is_floating(index.dtype()) || index.rank() > 1) {
    throw Error("index_select: index must be a 1-D integer tensor, got " +
                std::string(dtype_name(index.dtype())) + " of shape " + shape_str(index.shape()));
  }
  if (t.rank() == 0) throw Error("index_select: cannot index a scalar");
  const auto ax = normalize_axis(axis, t.rank(), "index_select");
  const auto idx = index.to_vector<std::int64_t>();
  const std::int64_t n = t.shape()[static_cast<std::size_t>(ax)];
  for (auto i : idx) {
    if (i < 0 || i >= n) {
      throw Error("index_select: index " + std::to_string(i) + " out of range for axis " +
                  std::to_string(axis) + " of size " + std::to_string(n));
    }
  }
  // move the axis first, gather contiguous rows, move it back
  Tensor src = (ax == 0 ? t.detach() : t.detach().transpose(0, ax)).contiguous();
  Shape sh = src.shape();
  sh[0] = static_cast<std::int64_t>(idx.size());
  Tensor out = empty(sh, t.dtype());
  const std::size_t row_bytes =
      static_cast<std::size_t>(src.numel() / std::max<std::int64_t>(n, 1)) * dtype_size(t.dtype());
  const auto* s = static_cast<const char*>(src.raw_data());
  auto* d = static_cast<char*>(out.raw_data());
  for (std::size_t k = 0; k < idx.size(); ++k)
    std::memcpy(d + k * row_bytes, s + static_cast<std::size_t>(idx[k]) * row_bytes, row_bytes);
  if (ax != 0) out = out.transpose(0, ax).contiguous();
  if (needs_grad({&t})) {
    record("index_select", out, {t}, [from = t.shape(), ax, idx](const Tensor& g) {
      // scatter-add the rows back
      Tensor gg = (ax == 0 ? g : g.transpose(0, ax)).contiguous();
      Shape fs = from;
      std::swap(fs[0], fs[static_cast<std::size_t>(ax)]);
      Tensor full = zeros(fs, g.dtype());
      const std::int64_t row = full.numel() / std::max<std::int64_t>(fs[0], 1);
      dispatch_dtype(g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* dst = static_cast<T*>(full.raw_data());
        const T* src2 = static_cast<const T*>(gg.raw_data());
        for (std::size_t k = 0; k < idx.size(); ++k) {
          T* r = dst + idx[k] * row;
          const T* q = src2 + static_cast<std::int64_t>(k) * row;
          for (std::int64_t j = 0; j < row; ++j) r[j] += q[j];
        }
      });
      if (ax != 0) full = full.transpose(0, ax).contiguous();
      return std::vector<Tensor>{full};
    });
  }
  return out;
}

Tensor one_hot(const Tensor& labels, std::int64_t num_classes, DType dtype) {
  if (is_floating(labels.dtype())) {
    throw Error("one_hot: labels must be integers, got " + std::string(dtype_name(labels.dtype())));
  }
  if (num_classes <= 0) throw Error("one_hot: num_classes must be positive");
  const auto v = labels.to_vector<std::int64_t>();
  Shape sh = labels.shape();
  sh.push_back(num_classes);
  Tensor out = zeros(sh, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(out.raw_data());
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] >= num_classes) {
        throw Error("one_hot: label " + std::to_string(v[i]) + " is outside [0, " +
                    std::to_string(num_classes) + ")");
      }
      p[static_cast<std::int64_t>(i) * num_classes + v[i]] = T(1);
    }
  });
  return out;
}

Tensor shuffle(const Tensor& t, Generator& gen) {
  if (t.rank() == 0) throw Error("shuffle: cannot shuffle a scalar");
  return index_select(t, 0, randperm(t.shape()[0], gen));
}

}  // namespace ember
