#pragma once
// Element-wise ops with NumPy broadcasting and PyTorch's type promotion. Each is differentiable
// where it makes sense; comparisons give u8 (0 or 1) and no gradient.
// A C++ number beside a tensor does not widen its dtype (t_f32 * 2.0 is f32); a floating number
// beside an integer tensor gives f32.
#include <concepts>

#include "ember/core/tensor.hpp"

namespace ember {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // always floating
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor abs(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor floor(const Tensor& a);
Tensor clamp(const Tensor& a, double lo, double hi);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);

// cond ? a : b, element by element, all three broadcast together. cond is any dtype (nonzero =
// true). The gradient flows to a where cond holds and to b elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// A number as a 0-d tensor to combine with `like` (see the promotion note above).
Tensor wrap_scalar(const Tensor& like, double value, bool is_integral);

template <class S>
concept Number = std::is_arithmetic_v<S>;

template <Number S>
Tensor as_operand(const Tensor& like, S v) {
  return wrap_scalar(like, static_cast<double>(v), std::is_integral_v<S>);
}

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
inline Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
inline Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
inline Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
inline Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
inline Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }

#define EMBER_SCALAR_OPERATOR(OP, FN)                                             \
  template <Number S>                                                             \
  Tensor operator OP(const Tensor& a, S b) { return FN(a, as_operand(a, b)); }    \
  template <Number S>                                                             \
  Tensor operator OP(S a, const Tensor& b) { return FN(as_operand(b, a), b); }
EMBER_SCALAR_OPERATOR(+, add)
EMBER_SCALAR_OPERATOR(-, sub)
EMBER_SCALAR_OPERATOR(*, mul)
EMBER_SCALAR_OPERATOR(/, div)
EMBER_SCALAR_OPERATOR(<, lt)
EMBER_SCALAR_OPERATOR(<=, le)
EMBER_SCALAR_OPERATOR(>, gt)
EMBER_SCALAR_OPERATOR(>=, ge)
EMBER_SCALAR_OPERATOR(==, eq)
EMBER_SCALAR_OPERATOR(!=, ne)
#undef EMBER_SCALAR_OPERATOR

template <Number S>
Tensor where(const Tensor& cond, const Tensor& a, S b) {
  return where(cond, a, as_operand(a, b));
}
template <Number S>
Tensor where(const Tensor& cond, S a, const Tensor& b) {
  return where(cond, as_operand(b, a), b);
}

}  // namespace ember
