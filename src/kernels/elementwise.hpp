#pragma once
// Element-wise loops over strided operands (strides 0 where broadcast) into a contiguous output.
// Header-only templates: ops instantiate them per dtype with the element functor.
#include <cstdint>
#include <vector>

#include "kernels/strided.hpp"

namespace ember::kernels {

// out[i] = f(a[i]); out is contiguous with `shape`, a has strides `as`.
template <class T, class R, class F>
void unary_loop(const std::vector<std::int64_t>& shape, const T* a, const std::int64_t* as, R* out,
                F f) {
  const auto out_strides = [&] {
    std::vector<std::int64_t> s(shape.size());
    std::int64_t st = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
      s[i] = st;
      st *= shape[i];
    }
    return s;
  }();
  const auto layout = coalesce<2>(shape, {out_strides.data(), as});
  strided_for_each<2>(layout, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                                  const std::array<std::int64_t, 2>& st) {
    R* o = out + off[0];
    const T* x = a + off[1];
    if (st[1] == 1) {
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i * st[1]]);
    }
  });
}

// out[i] = f(a[i], b[i]) over the broadcast shape.
template <class T, class R, class F>
void binary_loop(const std::vector<std::int64_t>& shape, const T* a, const std::int64_t* as,
                 const T* b, const std::int64_t* bs, R* out, F f) {
  std::vector<std::int64_t> out_strides(shape.size());
  std::int64_t st = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    out_strides[i] = st;
    st *= shape[i];
  }
  const auto layout = coalesce<3>(shape, {out_strides.data(), as, bs});
  strided_for_each<3>(layout, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                                  const std::array<std::int64_t, 3>& s) {
    R* o = out + off[0];
    const T* x = a + off[1];
    const T* y = b + off[2];
    if (s[1] == 1 && s[2] == 1) {
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[1] == 1 && s[2] == 0) {
      const T yv = *y;
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[1] == 0 && s[2] == 1) {
      const T xv = *x;
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i * s[1]], y[i * s[2]]);
    }
  });
}

// out[i] = c[i] ? a[i] : b[i] over the broadcast shape.
template <class C, class T>
void where_loop(const std::vector<std::int64_t>& shape, const C* c, const std::int64_t* cs,
                const T* a, const std::int64_t* as, const T* b, const std::int64_t* bs, T* out) {
  std::vector<std::int64_t> out_strides(shape.size());
  std::int64_t st = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    out_strides[i] = st;
    st *= shape[i];
  }
  const auto layout = coalesce<4>(shape, {out_strides.data(), cs, as, bs});
  strided_for_each<4>(layout, [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                                  const std::array<std::int64_t, 4>& s) {
    T* o = out + off[0];
    const C* cc = c + off[1];
    const T* x = a + off[2];
    const T* y = b + off[3];
    for (std::int64_t i = 0; i < n; ++i) o[i] = cc[i * s[1]] ? x[i * s[2]] : y[i * s[3]];
  });
}

// ReLU's backward: dx[i] = y[i] > 0 ? dy[i] : 0 (y the forward output), contiguous, n elements.
// A select, not a multiply, so an infinite or NaN dy where y <= 0 still gives 0.
template <class T>
void relu_backward(const T* __restrict y, const T* __restrict dy, T* __restrict dx,
                   std::int64_t n) {
  // both loads unconditional, so the compiler turns the select into vector blends
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = dy[i];
    const T v = y[i];
    dx[i] = v > T(0) ? d : T(0);
  }
}

}  // namespace ember::kernels
