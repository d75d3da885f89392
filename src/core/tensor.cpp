#include "ember/core/tensor.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "ember/core/graph.hpp"
#include "kernels/copy.hpp"

namespace ember {

// ---- basics ----
TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("tensor: use of an undefined tensor");
  return *impl_;
}

std::int64_t Tensor::size(std::int64_t axis) const {
  return shape()[static_cast<std::size_t>(normalize_axis(axis, rank(), "size"))];
}

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  std::int64_t expected = 1;
  for (std::size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void Tensor::check_dtype(DType expected, const char* what) const {
  if (dtype() != expected) {
    throw Error(std::string(what) + ": tensor is " + dtype_name(dtype()) + ", asked for " +
                dtype_name(expected));
  }
}

void* Tensor::raw_data() {
  return static_cast<char*>(impl().storage->data()) +
         impl().offset * static_cast<std::int64_t>(dtype_size(dtype()));
}
const void* Tensor::raw_data() const {
  return static_cast<const char*>(impl().storage->data()) +
         impl().offset * static_cast<std::int64_t>(dtype_size(dtype()));
}

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype) {
  for (auto s : shape)
    if (s < 0) throw Error("tensor: negative size in shape " + shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  const auto n = static_cast<std::size_t>(shape_numel(shape));
  impl->storage = std::make_shared<Storage>(n * dtype_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

// Copies src (any layout, any dtype) into dst (any layout, any dtype) of the same shape.
void copy_into(const Tensor& src, Tensor& dst) {
  dispatch_dtype(src.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_dtype(dst.dtype(), [&](auto d) {
      using D = decltype(d);
      kernels::copy_strided<S, D>(dst.shape(), static_cast<const S*>(src.raw_data()),
                                  src.strides().data(), static_cast<D*>(dst.raw_data()),
                                  dst.strides().data());
    });
  });
}
}  // namespace

Tensor empty(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype)); }

template <class T>
T Tensor::item() const {
  if (numel() != 1) {
    throw Error("item: tensor of shape " + shape_str(shape()) + " has " +
                std::to_string(numel()) + " elements, not one");
  }
  return dispatch_dtype(dtype(), [&](auto tag) -> T {
    using S = decltype(tag);
    return static_cast<T>(*(static_cast<const S*>(raw_data())));
  });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> out(static_cast<std::size_t>(numel()));
  if (out.empty()) return out;
  Tensor view = empty(shape(), dtype_of<T>::value);
  copy_into(*this, view);
  std::memcpy(out.data(), view.raw_data(), out.size() * sizeof(T));
  return out;
}

#define EMBER_INSTANTIATE_ACCESSORS(T)          \
  template T Tensor::item<T>() const;            \
  template std::vector<T> Tensor::to_vector<T>() const;
EMBER_INSTANTIATE_ACCESSORS(std::uint8_t)
EMBER_INSTANTIATE_ACCESSORS(std::int64_t)
EMBER_INSTANTIATE_ACCESSORS(float)
EMBER_INSTANTIATE_ACCESSORS(double)
#undef EMBER_INSTANTIATE_ACCESSORS
template <>
int Tensor::item<int>() const {
  return static_cast<int>(item<std::int64_t>());
}
template <>
std::vector<int> Tensor::to_vector<int>() const {
  auto v = to_vector<std::int64_t>();
  return std::vector<int>(v.begin(), v.end());
}
template <>
bool Tensor::item<bool>() const {
  return item<double>() != 0.0;
}

// ---- conversions and copies (recorded) ----
Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target);
  copy_into(*this, out);
  if (is_floating(target) && is_floating(dtype()) && autograd::needs_grad({this})) {
    const DType source = dtype();
    autograd::record("to", out, {*this},
                     [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
  }
  return out;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  copy_into(*this, out);
  if (autograd::needs_grad({this})) {
    autograd::record("clone", out, {*this},
                     [](const Tensor& g) { return std::vector<Tensor>{g}; });
  }
  return out;
}

// ---- in-place (not recorded) ----
namespace {
void check_inplace(const Tensor& t, const char* op) {
  if (t.requires_grad() && t.is_leaf() && autograd::is_grad_enabled()) {
    throw Error(std::string(op) +
                ": in-place update of a leaf that requires grad; use NoGradGuard (as an "
                "optimizer step does)");
  }
}
}  // namespace

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  Tensor src = full({}, value, dtype());
  return copy_(src);
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  const Shape bshape = broadcast_shapes(src.shape(), shape(), "copy_");
  if (bshape != shape()) {
    throw Error("copy_: source of shape " + shape_str(src.shape()) +
                " does not broadcast to destination " + shape_str(shape()));
  }
  // a broadcast view of src with strides 0 on the new or size-1 axes
  auto view = std::make_shared<TensorImpl>(src.impl());
  view->grad_fn = nullptr;
  view->grad = nullptr;
  view->requires_grad = false;
  Shape st(shape().size(), 0);
  const std::size_t lead = shape().size() - src.shape().size();
  for (std::size_t i = 0; i < src.shape().size(); ++i)
    st[lead + i] = src.shape()[i] == 1 ? 0 : src.strides()[i];
  view->shape = shape();
  view->strides = st;
  Tensor dst = *this;
  copy_into(Tensor(view), dst);
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  dispatch_dtype(dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto* p = static_cast<T*>(raw_data());
    const auto layout = kernels::coalesce<1>(shape(), {strides().data()});
    kernels::strided_for_each<1>(layout, [&](const std::array<std::int64_t, 1>& off,
                                             std::int64_t n, const std::array<std::int64_t, 1>& s) {
      for (std::int64_t i = 0; i < n; ++i)
        p[off[0] + i * s[0]] = static_cast<T>(p[off[0] + i * s[0]] * value);
    });
  });
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  const Shape bshape = broadcast_shapes(other.shape(), shape(), "add_");
  if (bshape != shape()) {
    throw Error("add_: operand of shape " + shape_str(other.shape()) +
                " does not broadcast to " + shape_str(shape()));
  }
  Tensor src = other.dtype() == dtype() ? other : other.detach().to(dtype());
  Shape st(shape().size(), 0);
  const std::size_t lead = shape().size() - src.shape().size();
  for (std::size_t i = 0; i < src.shape().size(); ++i)
    st[lead + i] = src.shape()[i] == 1 ? 0 : src.strides()[i];
  dispatch_dtype(dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(raw_data());
    const T* s = static_cast<const T*>(src.raw_data());
    const auto layout = kernels::coalesce<2>(shape(), {strides().data(), st.data()});
    const T a = static_cast<T>(alpha);
    kernels::strided_for_each<2>(layout, [&](const std::array<std::int64_t, 2>& off,
                                             std::int64_t n, const std::array<std::int64_t, 2>& k) {
      T* dd = d + off[0];
      const T* ss = s + off[1];
      if (k[0] == 1 && k[1] == 1) {
        for (std::int64_t i = 0; i < n; ++i) dd[i] = static_cast<T>(dd[i] + a * ss[i]);
      } else {
        for (std::int64_t i = 0; i < n; ++i)
          dd[i * k[0]] = static_cast<T>(dd[i * k[0]] + a * ss[i * k[1]]);
      }
    });
  });
  return *this;
}

// ---- autograd state ----
Tensor& Tensor::requires_grad_(bool on) {
  if (on && !is_floating(dtype())) {
    throw Error(std::string("requires_grad_: only floating tensors can require gradients, this "
                            "one is ") +
                dtype_name(dtype()));
  }
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) { impl().grad = g.defined() ? g.impl_ptr() : nullptr; }

void Tensor::zero_grad() { impl().grad = nullptr; }

Tensor Tensor::detach() const {
  auto view = std::make_shared<TensorImpl>();
  view->storage = impl().storage;
  view->shape = impl().shape;
  view->strides = impl().strides;
  view->offset = impl().offset;
  view->dtype = impl().dtype;
  return Tensor(view);
}

// ---- creation ----
Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(t.raw_data());
    const T v = static_cast<T>(value);
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i) p[i] = v;
  });
  return t;
}
Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, static_cast<std::size_t>(t.numel()) * dtype_size(dtype));
  return t;
}
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor arange_int(std::int64_t start, std::int64_t end, std::int64_t step, DType dtype) {
  if (step == 0) throw Error("arange: step must not be zero");
  const std::int64_t n = std::max<std::int64_t>(0, (end - start + step - (step > 0 ? 1 : -1)) / step);
  Tensor t = empty({n}, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(t.raw_data());
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + i * step);
  });
  return t;
}
Tensor arange_real(double start, double end, double step, DType dtype) {
  if (step == 0.0) throw Error("arange: step must not be zero");
  const auto n = static_cast<std::int64_t>(std::max(0.0, std::ceil((end - start) / step)));
  Tensor t = empty({n}, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(t.raw_data());
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

namespace detail {
Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype) {
  if (static_cast<std::int64_t>(values.size()) != shape_numel(shape)) {
    throw Error("tensor: " + std::to_string(values.size()) + " values do not fill shape " +
                shape_str(shape));
  }
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(t.raw_data());
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
}
}  // namespace detail

Tensor nested_tensor_impl(const std::vector<double>& flat, const std::vector<Shape>& row_shapes,
                          DType dtype) {
  Shape shape{static_cast<std::int64_t>(row_shapes.size())};
  for (std::size_t i = 0; i < row_shapes.size(); ++i) {
    for (auto s : row_shapes[i]) {
      if (s < 0) throw Error("tensor: ragged nested list (rows of different lengths)");
    }
    if (row_shapes[i] != row_shapes[0]) {
      throw Error("tensor: ragged nested list: row 0 has shape " + shape_str(row_shapes[0]) +
                  ", row " + std::to_string(i) + " has " + shape_str(row_shapes[i]));
    }
  }
  if (!row_shapes.empty()) shape.insert(shape.end(), row_shapes[0].begin(), row_shapes[0].end());
  return detail::from_doubles(flat, shape, dtype);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, DType dtype) {
  if (static_cast<std::int64_t>(values.size()) != shape_numel(shape)) {
    throw Error("from_vector: " + std::to_string(values.size()) + " values do not fill shape " +
                shape_str(shape));
  }
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using D = decltype(tag);
    D* p = static_cast<D*>(t.raw_data());
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<D>(values[i]);
  });
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, DType);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, DType);
template Tensor from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&, DType);
template Tensor from_vector<int>(const std::vector<int>&, const Shape&, DType);
template Tensor from_vector<std::uint8_t>(const std::vector<std::uint8_t>&, const Shape&, DType);

// ---- printing ----
std::string Tensor::str() const {
  std::ostringstream os;
  os << "tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (requires_grad()) os << ", requires_grad";
  os << ")\n";
  const auto values = to_vector<double>();
  const auto& sh = shape();
  const int r = static_cast<int>(sh.size());
  const bool integral = !is_floating(dtype());
  auto fmt = [&](double v) {
    std::ostringstream s;
    if (integral) s << static_cast<long long>(v);
    else s << std::setprecision(4) << v;
    return s.str();
  };
  if (r == 0) {
    os << fmt(values[0]);
    return os.str();
  }
  // Prints nested brackets; along each axis shows the first and last 3 of more than 6 entries.
  const auto st = contiguous_strides(sh);
  std::function<void(int, std::int64_t)> rec = [&](int axis, std::int64_t base) {
    os << "[";
    const std::int64_t n = sh[static_cast<std::size_t>(axis)];
    for (std::int64_t i = 0; i < n; ++i) {
      if (n > 6 && i == 3) {
        os << (axis == r - 1 ? "..., " : "...,\n" + std::string(static_cast<std::size_t>(axis + 1), ' '));
        i = n - 3;
      }
      const std::int64_t off = base + i * st[static_cast<std::size_t>(axis)];
      if (axis == r - 1) os << fmt(values[static_cast<std::size_t>(off)]);
      else rec(axis + 1, off);
      if (i + 1 < n) os << (axis == r - 1 ? ", " : ",\n" + std::string(static_cast<std::size_t>(axis + 1), ' '));
    }
    os << "]";
  };
  rec(0, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ember
