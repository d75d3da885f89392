// The vectorised exp and sigmoid against the C library, over the whole useful float range,
// including the limits (overflow to inf, underflow to 0, NaN passing through).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/vmath.hpp"

using namespace ember::kernels;

TEST(Vmath, ExpAndSigmoidMatchLibm) {
  std::vector<float> x;
  for (float v = -100.f; v <= 100.f; v += 0.0137f) x.push_back(v);
  x.push_back(0.f);
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  std::vector<float> y(x.size()), s(x.size());
  for (Isa isa : {Isa::generic, Isa::avx2}) {
    force_isa(isa);
    exp_f32(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
    sigmoid_f32(x.data(), s.data(), static_cast<std::int64_t>(x.size()));
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double e = std::exp(static_cast<double>(x[i]));
      const double sg = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
      if (std::isnan(x[i])) {
        EXPECT_TRUE(std::isnan(y[i]));
        continue;
      }
      if (e > std::numeric_limits<float>::max())
        EXPECT_TRUE(std::isinf(y[i])) << x[i];
      else if (e < 1.2e-38)
        EXPECT_LE(y[i], 1.2e-38f) << x[i];  // denormal range: 0 is fine
      else
        EXPECT_NEAR(y[i], e, 4e-7 * e) << x[i];  // a few ulp
      EXPECT_NEAR(s[i], sg, 3e-7) << x[i];
    }
  }
  force_isa(detected_isa());
}
