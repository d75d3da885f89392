// The Winograd F(2x2, 3x3) kernels against the reference convolution loops (conv2d_reference and
// conv2d_backward_reference, in double), on odd and even sizes, every padding 0..2, one and
// several images per call, on every instruction-set path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/gemm.hpp"
#include "kernels/winograd.hpp"

using namespace ember::kernels;

namespace {

struct Case {
  int64_t n, C, O, H, W, ph, pw;
};

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// |a - b| <= tol * (1 + max |b|), per element
void expect_close(const std::vector<float>& a, const std::vector<double>& b, double tol,
                  const char* what, const Case& c) {
  ASSERT_EQ(a.size(), b.size());
  double scale = 1.0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tol * scale)
        << what << " at " << i << ": n " << c.n << " C " << c.C << " O " << c.O << " H " << c.H
        << " W " << c.W << " pad " << c.ph << "," << c.pw;
}

}  // namespace

TEST(Winograd, MatchesReferenceForwardAndBackward) {
  const std::vector<Case> cases = {
      {1, 1, 1, 3, 3, 0, 0},    {2, 3, 5, 6, 7, 1, 1},
      {1, 4, 4, 5, 5, 2, 2},    {3, 16, 32, 14, 14, 1, 1},
      {2, 5, 3, 9, 4, 0, 2},    {1, 2, 7, 1, 1, 1, 1},
      {2, 8, 6, 11, 13, 2, 0},  {1, 17, 9, 4, 3, 1, 1},
      {2, 9, 10, 21, 37, 1, 1},  // more than 16 tiles a row: whole vectors and a masked tail
      {3, 5, 13, 16, 16, 2, 1},  // tile columns a multiple of 8
  };
  const Isa saved = active_isa();  // EMBER_ISA may have chosen it
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {  // avx512: clamped to avx2 without it
    force_isa(isa);
    for (const Case& c : cases) {
      const WinogradGeometry g{c.C, c.O, c.H, c.W, c.ph, c.pw};
      ASSERT_TRUE(winograd_applies(3, 3, 1, 1, 1, 1, 1, c.ph, c.pw, c.H, c.W));
      const int64_t Ho = g.Ho(), Wo = g.Wo();
      std::vector<float> x(static_cast<size_t>(c.n * c.C * c.H * c.W)),
          w(static_cast<size_t>(c.O * c.C * 9)), b(static_cast<size_t>(c.O)),
          dy(static_cast<size_t>(c.n * c.O * Ho * Wo));
      for (auto* v : {&x, &w, &b, &dy})
        for (float& e : *v) e = dist(rng);
      // the reference, in double
      const ConvGeometry rg{c.C, c.H, c.W, 3, 3, 1, 1, c.ph, c.pw, 1, 1, Ho, Wo};
      const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
      std::vector<double> y_ref(dy.size()), dx_ref(x.size()), dw_ref(w.size()), db_ref(b.size());
      conv2d_reference(xd.data(), wd.data(), bd.data(), c.n, c.O, 1, rg, y_ref.data());
      conv2d_backward_reference(xd.data(), wd.data(), dyd.data(), c.n, c.O, 1, rg, dx_ref.data(),
                                dw_ref.data(), db_ref.data());
      // Winograd, one call for all images (forward) and one per image (backward, accumulating)
      std::vector<float> u(static_cast<size_t>(16 * c.O * c.C));
      winograd_weights(w.data(), g, u.data());
      std::vector<float> scratch(static_cast<size_t>(winograd_scratch_size(g, c.n)));
      std::vector<float> y(dy.size(), -9.f), dx(x.size(), -9.f), du(u.size(), -9.f),
          dw(w.size(), -9.f);
      winograd_forward(x.data(), u.data(), b.data(), g, c.n, y.data(), scratch.data());
      const int64_t in = c.C * c.H * c.W, out = c.O * Ho * Wo;
      for (int64_t i = 0; i < c.n; ++i)
        winograd_backward(x.data() + i * in, u.data(), dy.data() + i * out, g, 1,
                          dx.data() + i * in, du.data(), i > 0, scratch.data());
      winograd_weights_backward(du.data(), g, dw.data());
      // float error of sums of ~9 C (forward, dx) or 9 n Ho Wo (dw) products of values in [-1, 1]
      const double tol = 1e-5 * std::sqrt(static_cast<double>(9 * std::max(c.C, c.O)));
      expect_close(y, y_ref, tol, "y", c);
      expect_close(dx, dx_ref, tol, "dx", c);
      expect_close(dw, dw_ref, 1e-5 * std::sqrt(static_cast<double>(c.n * Ho * Wo)), "dw", c);
      // the whole batch in one backward call gives the same dx and close dw
      std::vector<float> dx_all(x.size(), -9.f), du_all(u.size(), -9.f);
      winograd_backward(x.data(), u.data(), dy.data(), g, c.n, dx_all.data(), du_all.data(), false,
                        scratch.data());
      EXPECT_EQ(dx_all, dx);
      std::vector<float> dw_all(w.size());
      winograd_weights_backward(du_all.data(), g, dw_all.data());
      expect_close(dw_all, dw_ref, 1e-5 * std::sqrt(static_cast<double>(c.n * Ho * Wo)), "dw all",
                   c);
    }
  }
  force_isa(saved);
}

TEST(Winograd, AppliesOnlyTo3x3Stride1) {
  EXPECT_TRUE(winograd_applies(3, 3, 1, 1, 1, 1, 1, 1, 1, 28, 28));
  EXPECT_FALSE(winograd_applies(3, 3, 2, 2, 1, 1, 1, 1, 1, 28, 28));  // stride 2
  EXPECT_FALSE(winograd_applies(3, 3, 1, 1, 2, 2, 1, 1, 1, 28, 28));  // dilation 2
  EXPECT_FALSE(winograd_applies(5, 5, 1, 1, 1, 1, 1, 2, 2, 28, 28));  // 5x5
  EXPECT_FALSE(winograd_applies(3, 3, 1, 1, 1, 1, 2, 1, 1, 28, 28));  // groups
  EXPECT_FALSE(winograd_applies(3, 3, 1, 1, 1, 1, 1, 3, 3, 28, 28));  // padding 3
  EXPECT_FALSE(winograd_applies(3, 3, 1, 1, 1, 1, 1, 0, 0, 2, 5));    // no output row
}

namespace {

// A random forward and backward problem for case c, values in [-1, 1].
struct Problem {
  Case c;
  WinogradGeometry g;
  std::vector<float> x, w, b, dy, u, scratch;
  Problem(const Case& cs, std::mt19937& rng)
      : c(cs),
        g{cs.C, cs.O, cs.H, cs.W, cs.ph, cs.pw},
        x(static_cast<size_t>(cs.n * cs.C * cs.H * cs.W)),
        w(static_cast<size_t>(cs.O * cs.C * 9)),
        b(static_cast<size_t>(cs.O)),
        dy(static_cast<size_t>(cs.n * cs.O * g.Ho() * g.Wo())),
        u(static_cast<size_t>(16 * cs.O * cs.C)),
        scratch(static_cast<size_t>(winograd_scratch_size(g, cs.n))) {
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (auto* v : {&x, &w, &b, &dy})
      for (float& e : *v) e = dist(rng);
    winograd_weights(w.data(), g, u.data());
  }
  // y, dx and du on the path chosen now; with twice, du accumulates a second backward's sums
  std::vector<float> y_, dx_, du_;
  void run(bool twice) {
    y_.assign(dy.size(), -9.f);
    dx_.assign(x.size(), -9.f);
    du_.assign(u.size(), -9.f);
    winograd_forward(x.data(), u.data(), b.data(), g, c.n, y_.data(), scratch.data());
    winograd_backward(x.data(), u.data(), dy.data(), g, c.n, dx_.data(), du_.data(), false,
                      scratch.data());
    if (twice)
      winograd_backward(x.data(), u.data(), dy.data(), g, c.n, nullptr, du_.data(), true,
                        scratch.data());
  }
};

}  // namespace

// The AVX2 path (vectorised transforms, small products straight on the transformed layout)
// against the generic one (scalar transforms, sgemm products), which keeps the old arithmetic.
TEST(Winograd, SmallProductsMatchSgemmPath) {
  const Isa saved = active_isa();
  std::mt19937 rng(5);
  for (const Case c :
       {Case{2, 16, 32, 14, 14, 1, 1}, Case{3, 7, 5, 19, 23, 0, 2}, Case{1, 4, 9, 2, 40, 2, 2}}) {
    Problem p(c, rng);
    std::vector<float> y[2], dx[2], du[2];
    for (int k = 0; k < 2; ++k) {
      force_isa(k == 0 ? Isa::generic : Isa::avx2);
      p.run(false);
      y[k] = p.y_, dx[k] = p.dx_, du[k] = p.du_;
    }
    const std::vector<double> y0 = to_double(y[0]), dx0 = to_double(dx[0]), du0 = to_double(du[0]);
    expect_close(y[1], y0, 1e-5, "y", c);
    expect_close(dx[1], dx0, 1e-5, "dx", c);
    expect_close(du[1], du0, 1e-5 * std::sqrt(static_cast<double>(c.n * p.g.tiles())), "du", c);
  }
  force_isa(saved);
}

// The product kernels' geometries against each other, bit for bit: AVX2 (4 rows x 3 vectors of
// 8), the AVX-512 geometry (8 rows x 3 vectors of 16, a last 8 columns in a vector of 8) compiled
// for AVX2, and, on CPUs with AVX-512F, that geometry on AVX-512. Each element is one chain of
// fused multiply-adds over the same k (or tile) order in all of them (winograd_products.hpp), so
// any difference is a block computing or writing the wrong rows or columns (reads past the
// operands: GuardPages.WinogradProductsMatchFmaChains). The cases cover rows ld = round8(n tiles)
// of 16 (one vector), 88 (48 + 32 + 8), 104 (48 + 48 + 8), 152 and 216 (three-vector blocks and
// the 16- and 8-column tails), row counts (O forward, C backward) off multiples of 8 and 4, and
// du's columns C = 8, 13, 17, 24, 33 (one, two and partial vectors, the 8-column tail).
TEST(Winograd, ProductGeometriesAgreeBitwise) {
  const Isa saved = active_isa();
  std::mt19937 rng(23);
  const bool avx512 = detected_isa() == Isa::avx512;
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "no AVX2 on this CPU: no vector path";
  for (const Case c :
       {Case{2, 16, 32, 14, 14, 1, 1}, Case{1, 13, 11, 6, 7, 1, 1}, Case{3, 17, 9, 16, 16, 2, 1},
        Case{1, 33, 20, 9, 9, 0, 0}, Case{2, 24, 6, 10, 30, 1, 1}, Case{2, 8, 6, 11, 13, 2, 0}}) {
    Problem p(c, rng);
    std::vector<float> y[3], dx[3], du[3];
    const int runs = avx512 ? 3 : 2;
    for (int k = 0; k < runs; ++k) {
      force_isa(k == 2 ? Isa::avx512 : Isa::avx2);
      force_winograd_products(k == 1 ? WinogradProducts::wide_on_avx2 : WinogradProducts::by_isa);
      p.run(true);  // du accumulated too: the same sums added to the first
      y[k] = p.y_, dx[k] = p.dx_, du[k] = p.du_;
    }
    force_winograd_products(WinogradProducts::by_isa);
    for (int k = 1; k < runs; ++k) {
      const char* what = k == 1 ? "the AVX-512 geometry on AVX2" : "AVX-512";
      EXPECT_EQ(y[k], y[0]) << what << ", y: C " << c.C << " O " << c.O << " H " << c.H;
      EXPECT_EQ(dx[k], dx[0]) << what << ", dx: C " << c.C << " O " << c.O << " H " << c.H;
      EXPECT_EQ(du[k], du[0]) << what << ", du: C " << c.C << " O " << c.O << " H " << c.H;
    }
  }
  force_isa(saved);
  if (!avx512) std::printf("(no AVX-512F on this CPU: the AVX-512 geometry ran on AVX2 only)\n");
}
