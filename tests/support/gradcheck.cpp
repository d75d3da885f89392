#include "support/gradcheck.hpp"

#include <cmath>
#include <sstream>

namespace ember::testing {

Tensor random_f64(const Shape& shape, std::uint64_t seed, double lo, double hi) {
  Generator gen(seed);
  return uniform(shape, lo, hi, gen, f64);
}

::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected, double atol,
                                    double rtol) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " != expected "
                                         << shape_str(expected.shape());
  }
  const auto a = actual.to_vector<double>();
  const auto e = expected.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    if (!both_nan && !(std::abs(a[i] - e[i]) <= atol + rtol * std::abs(e[i]))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " != expected "
                                           << e[i] << " (shape " << shape_str(actual.shape()) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                     const std::vector<Tensor>& inputs, double eps, double atol,
                                     double rtol) {
  std::vector<Tensor> xs;
  for (const Tensor& in : inputs) {
    if (in.dtype() != f64) return ::testing::AssertionFailure() << "gradcheck needs f64 inputs";
    xs.push_back(in.detach().clone().requires_grad_());
  }
  Tensor out = f(xs);
  const Tensor w = random_f64(out.shape(), 1234, 0.5, 1.5);
  Tensor loss = (out * w).sum();
  loss.backward();

  auto scalar_at = [&]() {
    NoGradGuard no_grad;
    return (f(xs) * w).sum().item<double>();
  };
  for (std::size_t k = 0; k < xs.size(); ++k) {
    Tensor analytic = xs[k].grad().defined() ? xs[k].grad() : zeros_like(xs[k]);
    const auto ga = analytic.to_vector<double>();
    double* p = xs[k].data_ptr<double>();
    for (std::int64_t i = 0; i < xs[k].numel(); ++i) {
      const double old = p[i];
      p[i] = old + eps;
      const double up = scalar_at();
      p[i] = old - eps;
      const double down = scalar_at();
      p[i] = old;
      const double numeric = (up - down) / (2 * eps);
      const double a = ga[static_cast<std::size_t>(i)];
      if (!(std::abs(a - numeric) <= atol + rtol * std::abs(numeric))) {
        return ::testing::AssertionFailure()
               << "input " << k << " element " << i << ": analytic " << a << " vs numeric "
               << numeric << " (input shape " << shape_str(xs[k].shape()) << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ember::testing
