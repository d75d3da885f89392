#pragma once
// Test helpers: a finite-difference gradient check (central differences in f64) and tensor
// comparison. The expected gradient comes from the definition of the derivative, independently
// of the backward rules under test.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include <ember/ember.hpp>

namespace ember::testing {

// Checks d(sum(f(inputs) * w))/d(inputs) against central differences, where w is a fixed random
// weight tensor (so every output element's gradient path is exercised). Inputs must be f64.
::testing::AssertionResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                     const std::vector<Tensor>& inputs, double eps = 1e-6,
                                     double atol = 1e-6, double rtol = 1e-5);

// All values equal within atol + rtol * |expected|, and the shapes equal.
::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected,
                                    double atol = 1e-6, double rtol = 1e-5);

// A random f64 tensor with values in [lo, hi).
Tensor random_f64(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0);

}  // namespace ember::testing
