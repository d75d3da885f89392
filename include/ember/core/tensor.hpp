#pragma once
// Tensor: a view (shape + strides + offset, in elements) of a Storage, with a dtype, and, when it
// takes part in automatic differentiation, a gradient and the graph node that produced it.
// Copying a Tensor copies a handle: both refer to the same data (as in PyTorch).
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ember/core/dtype.hpp"
#include "ember/core/error.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"

namespace ember {

namespace autograd {
struct Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;             // accumulated gradient (leaves)
  std::shared_ptr<autograd::Node> grad_fn;      // the op that produced this tensor, if recorded
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  std::int64_t offset() const { return impl().offset; }
  std::int64_t size(std::int64_t axis) const;
  std::int64_t rank() const { return static_cast<std::int64_t>(impl().shape.size()); }
  std::int64_t dim() const { return rank(); }
  std::int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;

  // Typed pointer to the first element of this view (checks the dtype).
  template <class T>
  T* data_ptr() {
    check_dtype(dtype_of<T>::value, "data_ptr");
    return static_cast<T*>(impl().storage->data()) + impl().offset;
  }
  template <class T>
  const T* data_ptr() const {
    check_dtype(dtype_of<T>::value, "data_ptr");
    return static_cast<const T*>(impl().storage->data()) + impl().offset;
  }
  void* raw_data();
  const void* raw_data() const;

  // The single value of a one-element tensor, converted to T.
  template <class T>
  T item() const;
  // All values in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  Tensor to(DType dtype) const;  // a converted copy (or *this when the dtype already matches)
  Tensor contiguous() const;     // *this when contiguous, else a row-major copy
  Tensor clone() const;          // always a copy (recorded by autograd)

  // ---- views (no copy; recorded by autograd) ----
  Tensor reshape(const Shape& shape) const;  // one -1 allowed; copies only when not viewable
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(std::int64_t start_axis = 0, std::int64_t end_axis = -1) const;
  Tensor slice(std::int64_t axis, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(std::int64_t axis, std::int64_t index) const;
  Tensor operator[](std::int64_t index) const { return select(0, index); }
  Tensor transpose(std::int64_t a, std::int64_t b) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor permute(const Shape& order) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t axis) const;
  Tensor unsqueeze(std::int64_t axis) const;
  Tensor expand(const Shape& shape) const;

  // ---- common ops as methods (the free functions in ember/ops are the reference) ----
  Tensor sum(const Axes& axes = {}, bool keepdim = false) const;
  Tensor mean(const Axes& axes = {}, bool keepdim = false) const;
  Tensor max(const Axes& axes = {}, bool keepdim = false) const;
  Tensor min(const Axes& axes = {}, bool keepdim = false) const;
  Tensor argmax(std::int64_t axis = -1, bool keepdim = false) const;
  Tensor softmax(std::int64_t axis) const;
  Tensor log_softmax(std::int64_t axis) const;
  Tensor matmul(const Tensor& other) const;
  Tensor pow(double exponent) const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor tanh() const;
  Tensor floor() const;
  Tensor clamp(double lo, double hi) const;

  // ---- in-place updates (not recorded by autograd; for optimizers and data) ----
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);                      // src broadcasts to this shape
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha * other
  Tensor& sub_(const Tensor& other, double alpha = 1.0) { return add_(other, -alpha); }
  Tensor& mul_(double value);

  // ---- automatic differentiation ----
  Tensor& requires_grad_(bool on = true);
  bool requires_grad() const { return defined() && impl().requires_grad; }
  // The accumulated gradient (undefined before the first backward()).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (as PyTorch's set_to_none)
  // Backpropagates from this tensor: a scalar, or give `gradient` of the same shape.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // shares the data, cut from the graph
  bool is_leaf() const { return !impl().grad_fn; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  std::string str() const;  // shape, dtype and values, shortened for big tensors

 private:
  void check_dtype(DType expected, const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::ostream& operator<<(std::ostream& os, DType t);

// ---- creation ----
// An uninitialised tensor.
Tensor empty(const Shape& shape, DType dtype = DType::f32);
Tensor zeros(const Shape& shape, DType dtype = DType::f32);
Tensor ones(const Shape& shape, DType dtype = DType::f32);
Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor arange_int(std::int64_t start, std::int64_t end, std::int64_t step, DType dtype);
Tensor arange_real(double start, double end, double step, DType dtype);
// [start, end) in steps: i64 when all three are integers, else f32 (as torch.arange).
template <class A, class B, class C = int>
  requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B> && std::is_arithmetic_v<C>
Tensor arange(A start, B end, C step = 1) {
  if constexpr (std::is_integral_v<A> && std::is_integral_v<B> && std::is_integral_v<C>) {
    return arange_int(start, end, step, DType::i64);
  } else {
    return arange_real(static_cast<double>(start), static_cast<double>(end),
                       static_cast<double>(step), DType::f32);
  }
}
template <class A, class B, class C>
  requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B> && std::is_arithmetic_v<C>
Tensor arange(A start, B end, C step, DType dtype) {
  if (is_floating(dtype) || !(std::is_integral_v<A> && std::is_integral_v<B> && std::is_integral_v<C>)) {
    return arange_real(static_cast<double>(start), static_cast<double>(end),
                       static_cast<double>(step), dtype);
  }
  return arange_int(static_cast<std::int64_t>(start), static_cast<std::int64_t>(end),
                    static_cast<std::int64_t>(step), dtype);
}
template <class A>
  requires std::is_arithmetic_v<A>
Tensor arange(A end) {
  return arange(A(0), end, 1);
}
// A scalar (rank-0) tensor.
Tensor scalar(double value, DType dtype = DType::f32);

// From a flat list of values plus a shape; the dtype follows T (float->f32, double->f64,
// integers->i64, uint8_t->u8) unless given.
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, DType dtype);

namespace detail {
Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype);
template <class T>
constexpr DType default_dtype_for() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return DType::u8;
  else if constexpr (std::is_integral_v<T>) return DType::i64;
  else if constexpr (std::is_same_v<T, double>) return DType::f32;  // floating literals: f32
  else return DType::f32;
}
template <class T>
void flatten_into(std::vector<double>& out, const T& v) {
  out.push_back(static_cast<double>(v));
}
template <class T>
void flatten_into(std::vector<double>& out, std::initializer_list<T> list) {
  for (const auto& v : list) flatten_into(out, v);
}
}  // namespace detail

// tensor({{1, 2, 3}, {4, 5, 6}}) is a 2x3 i64 tensor; tensor({1.5, 2.0}) is f32.
template <class T>
  requires std::is_arithmetic_v<T>
Tensor tensor(T value, DType dtype = detail::default_dtype_for<T>()) {
  return detail::from_doubles({static_cast<double>(value)}, {}, dtype);
}
template <class T>
Tensor tensor(std::initializer_list<T> v, DType dtype = detail::default_dtype_for<T>()) {
  std::vector<double> flat;
  detail::flatten_into(flat, v);
  return detail::from_doubles(flat, {static_cast<std::int64_t>(v.size())}, dtype);
}
Tensor nested_tensor_impl(const std::vector<double>& flat, const std::vector<Shape>& row_shapes,
                          DType dtype);
template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> v,
              DType dtype = detail::default_dtype_for<T>()) {
  std::vector<double> flat;
  std::vector<Shape> rows;
  for (const auto& row : v) {
    rows.push_back({static_cast<std::int64_t>(row.size())});
    detail::flatten_into(flat, row);
  }
  return nested_tensor_impl(flat, rows, dtype);
}
template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<std::initializer_list<T>>> v,
              DType dtype = detail::default_dtype_for<T>()) {
  std::vector<double> flat;
  std::vector<Shape> rows;
  for (const auto& mat : v) {
    Shape s{static_cast<std::int64_t>(mat.size())};
    std::int64_t inner = -1;
    for (const auto& row : mat) {
      const auto n = static_cast<std::int64_t>(row.size());
      if (inner >= 0 && n != inner) inner = -2;
      if (inner != -2) inner = n;
      detail::flatten_into(flat, row);
    }
    s.push_back(inner);
    rows.push_back(s);
  }
  return nested_tensor_impl(flat, rows, dtype);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  return from_vector(values, shape,
                     std::is_same_v<T, double> ? DType::f64 : detail::default_dtype_for<T>());
}

}  // namespace ember
