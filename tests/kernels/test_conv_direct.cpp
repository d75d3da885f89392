// The direct one-channel 3x3 convolution kernels (conv_direct) against the reference loops
// (conv2d_reference and conv2d_backward_reference, in double), on odd and even sizes, every
// padding 0..2, widths that are not multiples of 8, on both instruction-set paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/conv_direct.hpp"
#include "kernels/gemm.hpp"

using namespace ember::kernels;

TEST(ConvDirect, MatchesReferenceForwardAndWeightGradient) {
  struct Case {
    int64_t n, O, H, W, ph, pw;
  };
  const std::vector<Case> cases = {
      {1, 1, 3, 3, 0, 0},   {2, 16, 28, 28, 1, 1}, {3, 5, 7, 9, 2, 2},  {1, 3, 1, 1, 1, 1},
      {2, 7, 13, 17, 0, 2}, {1, 4, 5, 41, 1, 0},   {2, 2, 30, 6, 2, 1}, {1, 9, 4, 8, 1, 1},
  };
  const Isa saved = active_isa();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (Isa isa : {Isa::generic, Isa::avx2}) {
    force_isa(isa);
    for (const Case& c : cases) {
      ASSERT_TRUE(conv3x3_single_channel_applies(1, 1, 3, 3, 1, 1, 1, 1, c.ph, c.pw, c.H, c.W));
      const DirectGeometry g{c.O, c.H, c.W, c.ph, c.pw};
      const int64_t Ho = g.Ho(), Wo = g.Wo();
      std::vector<float> x(static_cast<size_t>(c.n * c.H * c.W)), w(static_cast<size_t>(c.O * 9)),
          b(static_cast<size_t>(c.O)), dy(static_cast<size_t>(c.n * c.O * Ho * Wo));
      for (auto* v : {&x, &w, &b, &dy})
        for (float& e : *v) e = dist(rng);
      const ConvGeometry rg{1, c.H, c.W, 3, 3, 1, 1, c.ph, c.pw, 1, 1, Ho, Wo};
      const std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()),
          bd(b.begin(), b.end()), dyd(dy.begin(), dy.end());
      std::vector<double> y_ref(dy.size()), dw_ref(w.size()), db_ref(b.size());
      conv2d_reference(xd.data(), wd.data(), bd.data(), c.n, c.O, 1, rg, y_ref.data());
      conv2d_backward_reference(xd.data(), wd.data(), dyd.data(), c.n, c.O, 1, rg,
                                static_cast<double*>(nullptr), dw_ref.data(), db_ref.data());
      std::vector<float> scratch(static_cast<size_t>(conv3x3_single_channel_scratch_size(g, c.n)));
      std::vector<float> y(dy.size() + 1, -9.f), dwb(static_cast<size_t>(c.O * 10) + 1, -9.f);
      conv3x3_single_channel_forward(x.data(), w.data(), b.data(), g, c.n, y.data(),
                                     scratch.data());
      conv3x3_single_channel_backward(x.data(), dy.data(), g, c.n, dwb.data(), scratch.data());
      const auto where = [&](size_t i) {
        return ::testing::Message()
               << "at " << i << ": isa " << static_cast<int>(isa) << " n " << c.n << " O " << c.O
               << " H " << c.H << " W " << c.W << " pad " << c.ph << "," << c.pw;
      };
      for (size_t i = 0; i < y_ref.size(); ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-5) << where(i);
      EXPECT_EQ(y.back(), -9.f);  // nothing written past the end (masked tails)
      const double tol = 1e-5 * std::sqrt(static_cast<double>(c.n * Ho * Wo));
      for (int64_t o = 0; o < c.O; ++o) {
        for (int k = 0; k < 9; ++k)
          ASSERT_NEAR(dwb[static_cast<size_t>(o * 10 + k)], dw_ref[static_cast<size_t>(o * 9 + k)],
                      tol)
              << where(static_cast<size_t>(o * 10 + k));
        ASSERT_NEAR(dwb[static_cast<size_t>(o * 10 + 9)], db_ref[static_cast<size_t>(o)], tol)
            << where(static_cast<size_t>(o));
      }
      EXPECT_EQ(dwb.back(), -9.f);
    }
  }
  force_isa(saved);
}

TEST(ConvDirect, AppliesOnlyToOneChannel3x3Stride1) {
  EXPECT_TRUE(conv3x3_single_channel_applies(1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 28, 28));
  EXPECT_FALSE(conv3x3_single_channel_applies(2, 1, 3, 3, 1, 1, 1, 1, 1, 1, 28, 28));  // 2 channels
  EXPECT_FALSE(conv3x3_single_channel_applies(1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 28, 28));  // groups
  EXPECT_FALSE(conv3x3_single_channel_applies(1, 1, 3, 3, 2, 2, 1, 1, 1, 1, 28, 28));  // stride
  EXPECT_FALSE(conv3x3_single_channel_applies(1, 1, 5, 5, 1, 1, 1, 1, 2, 2, 28, 28));  // 5x5
  EXPECT_FALSE(conv3x3_single_channel_applies(1, 1, 3, 3, 1, 1, 1, 1, 3, 3, 28, 28));  // pad 3
  EXPECT_FALSE(conv3x3_single_channel_applies(1, 1, 3, 3, 1, 1, 1, 1, 0, 0, 2, 9));    // no row
}
