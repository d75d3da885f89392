// The pooled weight and input gradients (conv_pooled_grad) against the dense reference: the
// pool's and ReLU's backward written out here as the full-size gradient (each window's gradient
// at the element its code names, 0 where ReLU stops it), then conv2d_backward_reference's dw, db
// and dx in double (db: the full-size gradient's sum per output channel).
// Channel counts around 8 (the kernel's vectors), widths under 8 (its column blocks), every
// padding, on both instruction-set paths; split calls against one call, and each gradient asked
// for alone against both together, to the bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/conv_pooled_grad.hpp"
#include "kernels/gemm.hpp"

using namespace ember::kernels;

namespace {

struct Case {
  int64_t n, C, O, H, W, ph, pw;
};

struct Data {
  std::vector<float> x, w, dp, relu;
  std::vector<std::uint8_t> code;
};

Data make(const Case& c, const WinogradGeometry& g, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const auto pooled = static_cast<std::size_t>(c.n * c.O * (g.Ho() / 2) * (g.Wo() / 2));
  Data d{std::vector<float>(static_cast<std::size_t>(c.n * c.C * c.H * c.W)),
         std::vector<float>(static_cast<std::size_t>(c.O * c.C * 9)), std::vector<float>(pooled),
         std::vector<float>(pooled), std::vector<std::uint8_t>(pooled)};
  for (auto* v : {&d.x, &d.w, &d.dp, &d.relu})
    for (float& e : *v) e = dist(rng);
  for (auto& k : d.code) k = static_cast<std::uint8_t>(rng() % 4);
  return d;
}

// dw [O, C, 3, 3], db [O] then dx [n, C, H, W], through the dense gradient and the reference
// loops, in double.
std::vector<double> reference(const Case& c, const WinogradGeometry& g, const Data& d,
                              bool with_relu) {
  const int64_t Ho = g.Ho(), Wo = g.Wo(), PH = Ho / 2, PW = Wo / 2;
  std::vector<double> dense(static_cast<std::size_t>(c.n * c.O * Ho * Wo), 0.0);
  for (int64_t p = 0; p < c.n * c.O; ++p)
    for (int64_t r = 0; r < PH; ++r)
      for (int64_t j = 0; j < PW; ++j) {
        const auto at = static_cast<std::size_t>((p * PH + r) * PW + j);
        const int k = d.code[at];
        const double v = !with_relu || d.relu[at] > 0.f ? d.dp[at] : 0.0;
        dense[static_cast<std::size_t>((p * Ho + 2 * r + k / 2) * Wo + 2 * j + k % 2)] = v;
      }
  const ConvGeometry rg{c.C, c.H, c.W, 3, 3, 1, 1, c.ph, c.pw, 1, 1, Ho, Wo};
  const std::vector<double> xd(d.x.begin(), d.x.end()), w(d.w.begin(), d.w.end());
  std::vector<double> dw(w.size()), db(static_cast<std::size_t>(c.O)), dx(xd.size());
  conv2d_backward_reference(xd.data(), w.data(), dense.data(), c.n, c.O, 1, rg, dx.data(),
                            dw.data(), db.data());
  dw.insert(dw.end(), db.begin(), db.end());
  dw.insert(dw.end(), dx.begin(), dx.end());
  return dw;
}

// The kernel on images [0, split) then (accumulating) [split, n), then finished into dw, then db,
// then dx. want_dw / want_dx false: that one not asked for (and left out of the result).
std::vector<float> run(const Case& c, const WinogradGeometry& g, const Data& d, bool with_relu,
                       int64_t split, bool want_dw = true, bool want_dx = true) {
  std::vector<float> scratch(static_cast<std::size_t>(pooled_conv_grad_scratch_size(g)), NAN);
  std::vector<float> partial(static_cast<std::size_t>(pooled_conv_grad_partial_size(g)), NAN);
  const int64_t in = c.C * c.H * c.W, out = c.O * (g.Ho() / 2) * (g.Wo() / 2);
  std::vector<float> dx(static_cast<std::size_t>(c.n * in) + 1, NAN);
  std::vector<float> wt(static_cast<std::size_t>(pooled_conv_grad_weights_size(g)) + 1, NAN);
  pooled_conv_grad_weights(d.w.data(), g, wt.data());
  EXPECT_TRUE(std::isnan(wt.back()));  // nothing written past wt
  for (const auto& [n0, n1] : {std::pair{int64_t{0}, split}, std::pair{split, c.n}}) {
    if (n1 == n0) continue;
    pooled_conv_grad(want_dw ? d.x.data() + n0 * in : nullptr, wt.data(), d.dp.data() + n0 * out,
                     d.code.data() + n0 * out, with_relu ? d.relu.data() + n0 * out : nullptr, g,
                     n1 - n0, want_dw ? partial.data() : nullptr, n0 > 0,
                     want_dx ? dx.data() + n0 * in : nullptr, scratch.data());
  }
  EXPECT_TRUE(std::isnan(dx.back()));  // nothing written past dx
  dx.pop_back();
  std::vector<float> dw(static_cast<std::size_t>(c.O * c.C * 9) + 1, -9.f),
      db(static_cast<std::size_t>(c.O) + 1, -9.f), dw_alone(dw.size(), -9.f);
  if (want_dw) {
    pooled_conv_grad_finish(partial.data(), g, dw.data(), db.data());
    pooled_conv_grad_finish(partial.data(), g, dw_alone.data());
    EXPECT_EQ(dw.back(), -9.f);  // nothing written past dw or db
    EXPECT_EQ(db.back(), -9.f);
    EXPECT_EQ(dw_alone, dw);  // db or not, the same dw
    dw.pop_back();
    dw.insert(dw.end(), db.begin(), db.end() - 1);
  } else {
    dw.clear();
  }
  if (want_dx) dw.insert(dw.end(), dx.begin(), dx.end());
  return dw;
}

}  // namespace

TEST(ConvPooledGrad, MatchesDenseReferenceAndSplitsToTheBit) {
  const std::vector<Case> cases = {
      {2, 16, 32, 14, 14, 1, 1},  // the MNIST CNN's second layer
      {1, 1, 1, 4, 4, 1, 1},     {3, 3, 5, 6, 10, 0, 0}, {2, 9, 4, 8, 6, 2, 2},
      {1, 17, 3, 12, 4, 1, 1},   {2, 8, 2, 2, 2, 2, 2},  {1, 5, 3, 10, 20, 1, 0},
      {3, 24, 2, 8, 6, 0, 2},
  };
  const Isa saved = active_isa();
  std::mt19937 rng(41);
  for (Isa isa : {Isa::generic, Isa::avx2}) {
    if (isa != Isa::generic && detected_isa() == Isa::generic) continue;
    force_isa(isa);
    for (const Case& c : cases) {
      const WinogradGeometry g{c.C, c.O, c.H, c.W, c.ph, c.pw};
      ASSERT_EQ(g.Ho() % 2, 0);
      ASSERT_EQ(g.Wo() % 2, 0);
      const Data d = make(c, g, rng);
      for (const bool with_relu : {false, true}) {
        const std::string where = "isa " + std::to_string(static_cast<int>(isa)) + " n " +
                                  std::to_string(c.n) + " C " + std::to_string(c.C) + " O " +
                                  std::to_string(c.O) + " H " + std::to_string(c.H) + " W " +
                                  std::to_string(c.W) + " pad " + std::to_string(c.ph) + "," +
                                  std::to_string(c.pw) + (with_relu ? " relu" : "");
        const std::vector<double> want = reference(c, g, d, with_relu);
        const std::vector<float> got = run(c, g, d, with_relu, c.n);
        // f32 sums of products of size <= 1 against double: dw and db n * Ho * Wo / 4 of them,
        // each element of dx at most 9 O
        const std::size_t weights = static_cast<std::size_t>(c.O * (c.C * 9 + 1));
        const double tol_w = 1e-6 * static_cast<double>(c.n * g.Ho() * g.Wo() / 4 + 1),
                     tol_x = 1e-6 * static_cast<double>(9 * c.O + 1);
        ASSERT_EQ(got.size(), want.size()) << where;
        for (std::size_t k = 0; k < got.size(); ++k)
          ASSERT_NEAR(got[k], want[k], k < weights ? tol_w : tol_x) << where << " at " << k;
        // images added in order whatever the calls: a split gives the same bits
        for (int64_t split = 1; split < c.n; ++split)
          EXPECT_EQ(run(c, g, d, with_relu, split), got) << where << " split " << split;
        // each gradient alone: the same bits as both together
        const std::vector<float> dw_only = run(c, g, d, with_relu, c.n, true, false),
                                 dx_only = run(c, g, d, with_relu, c.n, false, true);
        EXPECT_EQ(dw_only, std::vector<float>(got.begin(), got.begin() + weights)) << where;
        EXPECT_EQ(dx_only, std::vector<float>(got.begin() + weights, got.end())) << where;
      }
    }
  }
  force_isa(saved);
}
