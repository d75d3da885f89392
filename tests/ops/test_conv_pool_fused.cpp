// conv2d_max_pool2x2 against what it replaces, max_pool2d(conv2d(...), {2, 2}) and relu() of
// that: the fused kernels compute the same convolution outputs and pool them with the same 2x2
// kernel, so values must agree to the bit (the comparison is exact). The Winograd path's dx and
// dw (kernels/conv_pooled_grad) and the direct one-channel path's dw on AVX2
// (kernels/conv_direct) are summed from the pooled gradient's windows, within rounding
// (expect_close); the rest to the bit; db within rounding (see below).
// Shapes cover the Winograd path (several channels), the direct one-channel path, widths that are
// not multiples of 8, and shapes the fused path does not take (odd output, stride 2, f64), on the
// AVX2 and the plain instruction-set paths. Inputs are small integers as well as Gaussian values,
// so windows hold ties and all-negative values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ember/ember.hpp"
#include "kernels/conv_direct.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::random_f64;

namespace {

struct Case {
  Shape x, w;
  std::array<int64_t, 2> padding;
  bool bias;
  const char* what;
  bool fuses;  // whether f32 on AVX2 takes the fused kernels (else the op runs the two ops)
};

struct Result {
  std::vector<double> y, dx, dw, db;
  std::string node;  // the op that recorded y
};

enum class Values { gaussian, integers, nonfinite };

Result run(const Case& c, bool fused, Values values, DType dt, bool with_relu) {
  Tensor x = random_f64(c.x, 3), w = random_f64(c.w, 4);
  if (values == Values::integers) {
    x = floor(x * 2.0 + 0.5);
    w = floor(w * 2.0 + 0.5) * 0.25;
  }
  x = x.to(dt);
  if (values == Values::nonfinite) {  // a NaN and infinities: max_pool2d lets a NaN win, relu()
    // makes it 0, so the order of the two matters
    const double specials[3] = {std::nan(""), std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity()};
    Tensor flat = x.reshape({-1});
    for (int k = 0; k < 3; ++k) flat[(k * 7 + 5) * (flat.size(0) / 23)].fill_(specials[k]);
  }
  x.requires_grad_();
  w = w.to(dt).requires_grad_();
  Tensor b = c.bias ? random_f64({c.w[0]}, 5).to(dt).requires_grad_() : Tensor();
  Tensor y;
  if (fused) {
    y = conv2d_max_pool2x2(x, w, b, c.padding, with_relu);
  } else {
    y = conv2d(x, w, b, {1, 1}, c.padding);
    y = max_pool2d(with_relu ? relu(y) : y, {2, 2});
  }
  const std::string node = y.grad_fn() ? y.grad_fn()->name : "";
  const Tensor up = random_f64(y.shape(), 6).to(dt);  // a fixed upstream gradient
  (y * up).sum().backward();
  Result r{y.to(DType::f64).to_vector<double>(),
           x.grad().to(DType::f64).to_vector<double>(),
           w.grad().to(DType::f64).to_vector<double>(),
           {},
           node};
  if (c.bias) r.db = b.grad().to(DType::f64).to_vector<double>();
  return r;
}

// Equal element by element, a NaN equal to a NaN.
void expect_same(const std::vector<double>& a, const std::vector<double>& b,
                 const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (!(std::isnan(a[k]) && std::isnan(b[k]))) {
      ASSERT_EQ(a[k], b[k]) << where << " at " << k;
    }
}

// The fused Winograd path's dw and dx (kernels/conv_pooled_grad) sum the one element of each
// window that has a gradient directly, where the two ops run Winograd's transformed products over
// the full-size gradient: the same sums rounded differently, so equal within f32 rounding of a sum
// of `terms` products of size up to ~4 (1e-6 each: 8 ulps of 2^-23 and more): dw's N * Ho * Wo /
// 4, each dx element's at most 9 O. It skips windows without gradient, whose 0 * x terms the
// full-size product keeps: where the input holds an infinity, the two ops' dw can be NaN where the
// fused one is not, never the other way round.
void expect_close(const std::vector<double>& fused, const std::vector<double>& ref, double terms,
                  const std::string& where) {
  ASSERT_EQ(fused.size(), ref.size()) << where;
  for (std::size_t k = 0; k < fused.size(); ++k) {
    if (!std::isfinite(fused[k])) {
      EXPECT_FALSE(std::isfinite(ref[k])) << where << " at " << k << ": " << fused[k];
    } else if (std::isfinite(ref[k])) {
      EXPECT_NEAR(fused[k], ref[k], 1e-6 * terms) << where << " at " << k;
    }
  }
}

}  // namespace

TEST(ConvMaxPool2x2, SameBitsAsConvThenPool) {
  const std::vector<Case> cases = {
      {{3, 6, 14, 14}, {8, 6, 3, 3}, {1, 1}, true, "Winograd, MNIST layer 2 size", true},
      {{2, 4, 10, 6}, {5, 4, 3, 3}, {1, 1}, true, "Winograd, odd channel count", true},
      {{2, 4, 12, 8}, {4, 4, 3, 3}, {0, 0}, false, "Winograd, no padding, no bias", true},
      {{2, 4, 36, 36}, {4, 4, 3, 3}, {1, 1}, true, "Winograd, wide rows", true},
      {{5, 1, 28, 28}, {16, 1, 3, 3}, {1, 1}, true, "direct, MNIST layer 1", true},
      {{3, 1, 12, 10}, {3, 1, 3, 3}, {1, 1}, true, "direct, width 10 (masked tail)", true},
      {{2, 1, 8, 22}, {2, 1, 3, 3}, {0, 2}, false, "direct, padding 0 x 2", true},
      {{2, 4, 9, 9}, {4, 4, 3, 3}, {1, 1}, true, "odd output: the two ops", false},
      {{2, 3, 8, 8}, {4, 3, 5, 5}, {2, 2}, true, "5x5: the two ops", false},
  };
  const kernels::Isa saved = kernels::active_isa();
  for (kernels::Isa isa : {kernels::Isa::avx2, kernels::Isa::generic}) {
    kernels::force_isa(isa);
    for (const Case& c : cases)
      for (Values values : {Values::integers, Values::gaussian, Values::nonfinite})
        for (DType dt : {DType::f32, DType::f64})
          for (bool with_relu : {false, true}) {
            const Result a = run(c, true, values, dt, with_relu),
                         b = run(c, false, values, dt, with_relu);
            const std::string where = std::string(c.what) +
                                      (values == Values::integers   ? ", integers"
                                       : values == Values::gaussian ? ", gaussian"
                                                                    : ", nan and inf") +
                                      (with_relu ? ", relu" : "") +
                                      (dt == DType::f32 ? ", f32" : ", f64") +
                                      (isa == kernels::Isa::generic ? ", generic" : ", avx2");
            expect_same(a.y, b.y, where + ": y");
            // the fused Winograd path's dx and dw, the fused direct path's dw: within rounding
            // (expect_close); else to the bit
            const bool winograd = c.fuses && dt == DType::f32 && c.x[1] > 1;
            const bool direct_dw =
                c.fuses && dt == DType::f32 && c.x[1] == 1 && isa != kernels::Isa::generic;
            const double terms = static_cast<double>(c.x[0] * (c.x[2] + 2 * c.padding[0] - 2) *
                                                     (c.x[3] + 2 * c.padding[1] - 2)) /
                                 4;
            if (winograd) {
              expect_close(a.dx, b.dx, 9.0 * static_cast<double>(c.w[0]), where + ": dx");
            } else {
              expect_same(a.dx, b.dx, where + ": dx");
            }
            if (winograd || direct_dw) {
              expect_close(a.dw, b.dw, terms, where + ": dw");
            } else {
              expect_same(a.dw, b.dw, where + ": dw");
            }
            // db: the fused Winograd path sums the pooled gradient, the reference the full-size one
            // (whose other entries are zeros) in another order: equal within f32 rounding of a sum
            // of about N * Ho * Wo / 4 terms of size ~1
            ASSERT_EQ(a.db.size(), b.db.size()) << where;
            for (std::size_t k = 0; k < a.db.size(); ++k)
              if (!(std::isnan(a.db[k]) && std::isnan(b.db[k])) && a.db[k] != b.db[k]) {
                EXPECT_NEAR(a.db[k], b.db[k], 1e-5 * (1 + std::abs(b.db[k]))) << where;
              }
            // the fused path really ran where it should (the plain ISA has Winograd, not direct)
            const bool direct = c.x[1] == 1;
            const bool fuses = c.fuses && dt == DType::f32 &&
                               (kernels::active_isa() != kernels::Isa::generic || !direct);
            EXPECT_EQ(a.node, fuses ? "conv2d_max_pool2x2" : "max_pool2d") << where;
          }
  }
  kernels::force_isa(saved);
}

TEST(ConvMaxPool2x2, WeightOnlyAndInputOnlyGradients) {
  // the node keeps only what its backward reads: the input for dw, the weight for dx; with a ReLU,
  // its backward is folded into the kernels where they alone read the gradient (Winograd; the
  // direct kernel when only dw and db are wanted), else a pass of its own
  for (const Shape& xs : {Shape{2, 1, 8, 8}, Shape{2, 4, 8, 8}}) {
    Tensor x = random_f64(xs, 8).to(DType::f32), w = random_f64({4, xs[1], 3, 3}, 9).to(DType::f32);
    Tensor b = random_f64({4}, 10).to(DType::f32);
    for (bool with_relu : {false, true})
      for (int which = 0; which < 3; ++which) {
        Tensor xx = x.clone(), ww = w.clone(), bb = b.clone();
        Tensor x2 = x.clone(), w2 = w.clone(), b2 = b.clone();
        Tensor* grads[3][2] = {{&xx, &x2}, {&ww, &w2}, {&bb, &b2}};
        grads[which][0]->requires_grad_();
        grads[which][1]->requires_grad_();
        const Tensor g = random_f64({2, 4, 4, 4}, 11).to(DType::f32);  // the pooled gradient
        (conv2d_max_pool2x2(xx, ww, bb, {1, 1}, with_relu) * g).sum().backward();
        const Tensor y2 = conv2d(x2, w2, b2, {1, 1}, {1, 1});
        (max_pool2d(with_relu ? relu(y2) : y2, {2, 2}) * g).sum().backward();
        const std::vector<float> got = grads[which][0]->grad().to_vector<float>(),
                                 want = grads[which][1]->grad().to_vector<float>();
        const std::string where = "channels " + std::to_string(xs[1]) + ", gradient of input " +
                                  std::to_string(which) + (with_relu ? ", relu" : "");
        // the fused Winograd path's dx and dw, the fused direct path's dw: see expect_close
        if ((which < 2 && xs[1] > 1) || which == 1) {
          expect_close(std::vector<double>(got.begin(), got.end()),
                       std::vector<double>(want.begin(), want.end()),
                       which == 0 ? 9 * 4 : 2 * 8 * 8 / 4, where);
        } else if (which < 2) {
          EXPECT_EQ(got, want) << where;
        } else {  // db: the pooled gradient summed in another order than the full-size one
          ASSERT_EQ(got.size(), want.size()) << where;
          for (std::size_t k = 0; k < got.size(); ++k)
            EXPECT_NEAR(got[k], want[k], 1e-5 * (1 + std::abs(want[k]))) << where;
        }
      }
  }
}

TEST(ConvMaxPool2x2, BadShapesNameTheOp) {
  Tensor x = zeros({1, 2, 8, 8}), w = zeros({3, 4, 3, 3});
  try {
    (void)conv2d_max_pool2x2(x, w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
  }
}

TEST(Sequential, ConvReluPoolRunsFusedWithTheSameOutputs) {
  // Sequential runs Conv2d [ReLU] MaxPool2d(2) as conv2d_max_pool2x2 (then ReLU); the reference
  // runs each child in turn by hand.
  Generator gen(5);
  auto model = nn::make_sequential(
      {nn::make_conv2d(1, 4, {3, 3}, gen, {1, 1}, {1, 1}), nn::make_relu(),
       nn::make_max_pool2d({2, 2}), nn::make_conv2d(4, 8, {3, 3}, gen, {1, 1}, {1, 1}),
       nn::make_max_pool2d({2, 2}), nn::make_flatten(), nn::make_linear(8 * 7 * 7, 3, gen)});
  Tensor x = randn({4, 1, 28, 28}, gen);
  const Tensor y1 = (*model)(x);
  y1.sum().backward();
  std::vector<std::vector<float>> g1;
  for (Tensor& p : model->parameters()) g1.push_back(p.grad().to_vector<float>());
  model->zero_grad();
  Tensor h = x;
  for (std::size_t i = 0; i < model->size(); ++i) h = (*model)[i]->forward(h);
  h.sum().backward();
  EXPECT_EQ(y1.to_vector<float>(), h.to_vector<float>());
  // every gradient within rounding: the fused Winograd path sums the second convolution's
  // weight, bias and input gradients from the pooled gradient in another order (the weight's
  // 4 * 14 * 14 / 4 terms, see expect_close), and the first convolution's follow from that input
  // gradient (its weight's 4 * 28 * 28 / 4 terms); the Linear's to the bit
  std::size_t k = 0;
  for (Tensor& p : model->parameters()) {
    const std::vector<float> g2 = p.grad().to_vector<float>();
    if (k == 0 || k == 2) {
      expect_close(std::vector<double>(g1[k].begin(), g1[k].end()),
                   std::vector<double>(g2.begin(), g2.end()),
                   k == 0 ? 4 * 28 * 28 / 4 : 4 * 14 * 14 / 4,
                   k == 0 ? "conv1 weight" : "conv2 weight");
    } else if (k == 1 || k == 3) {
      ASSERT_EQ(g1[k].size(), g2.size());
      for (std::size_t j = 0; j < g2.size(); ++j)
        EXPECT_NEAR(g1[k][j], g2[j], 1e-5 * (1 + std::abs(g2[j])));
    } else {
      EXPECT_EQ(g1[k], g2) << "parameter " << k;
    }
    ++k;
  }
}

TEST(ConvDirect, NarrowOutputsStayInTheirPlane) {
  // The direct one-channel kernel stores whole 8-float vectors where the floats past the row are
  // written later; with an output 1 to 3 columns wide a vector from the last rows reached the
  // next channel's plane (found in review). The f64 convolution (im2col + dgemm, no direct
  // kernel) is the reference; the f32 values must agree within f32 rounding of 9 products.
  for (int64_t W : {1, 2, 3, 4, 5, 9}) {
    for (int64_t pw : {0, 1}) {
      if (W + 2 * pw < 3) continue;
      Tensor x = random_f64({2, 1, 6, W}, 12), w = random_f64({3, 1, 3, 3}, 13);
      Tensor b = random_f64({3}, 14);
      const Tensor y32 =
          conv2d(x.to(DType::f32), w.to(DType::f32), b.to(DType::f32), {1, 1}, {1, pw});
      const Tensor y64 = conv2d(x, w, b, {1, 1}, {1, pw});
      const std::vector<double> a = y32.to(DType::f64).to_vector<double>(),
                                r = y64.to_vector<double>();
      ASSERT_EQ(a.size(), r.size());
      for (std::size_t k = 0; k < a.size(); ++k)
        EXPECT_NEAR(a[k], r[k], 1e-5 * (1 + std::abs(r[k])))
            << "W " << W << ", padding " << pw << ", at " << k;
    }
  }
}

TEST(ConvMaxPool2x2, SameBitsOnOneAndTwoThreads) {
  // Images are split among threads; the weight gradients are summed per fixed block of images,
  // so the thread count must not change a bit, for the Winograd and the direct path alike.
  const int saved = get_num_threads();
  for (const Shape& xs : {Shape{9, 6, 14, 14}, Shape{9, 1, 28, 28}}) {
    std::vector<std::vector<float>> first;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Tensor x = random_f64(xs, 21).to(DType::f32).requires_grad_();
      Tensor w = random_f64({8, xs[1], 3, 3}, 22).to(DType::f32).requires_grad_();
      Tensor b = random_f64({8}, 23).to(DType::f32).requires_grad_();
      const Tensor y = conv2d_max_pool2x2(x, w, b, {1, 1}, true);
      (y * random_f64(y.shape(), 24).to(DType::f32)).sum().backward();
      const std::vector<std::vector<float>> now = {
          y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(),
          b.grad().to_vector<float>()};
      if (first.empty()) {
        first = now;
      } else {
        for (std::size_t k = 0; k < now.size(); ++k)
          EXPECT_EQ(first[k], now[k]) << "channels " << xs[1] << ", output " << k;
      }
    }
  }
  set_num_threads(saved);
}

TEST(ConvDirect, PooledKernelsOnBothInstructionSets) {
  // The direct kernels' pooled mode against their plain mode followed by the 2x2 pool kernels,
  // on the plain-C++ path as well (conv2d reaches the direct kernels only with AVX2). Guard
  // values after every output must survive.
  const kernels::Isa saved = kernels::active_isa();
  for (kernels::Isa isa : {kernels::Isa::avx2, kernels::Isa::generic}) {
    kernels::force_isa(isa);
    for (int64_t W : {2, 4, 6, 10, 14, 16, 28})
      for (bool with_relu : {false, true}) {
        const int64_t n = 3, O = 5, H = 6;
        const kernels::DirectGeometry g{O, H, W, 1, 1};
        const int64_t Ho = g.Ho(), Wo = g.Wo(), P = Ho * Wo, PP = P / 4;
        const std::vector<float> x = random_f64({n, 1, H, W}, 31).to(DType::f32).to_vector<float>();
        const std::vector<float> w = random_f64({O, 1, 3, 3}, 32).to(DType::f32).to_vector<float>();
        const std::vector<float> b = random_f64({O}, 33).to(DType::f32).to_vector<float>();
        std::vector<float> scratch(
            static_cast<size_t>(kernels::conv3x3_single_channel_scratch_size(g, n)));
        // plain, then relu, then the pool kernel
        std::vector<float> full(static_cast<size_t>(n * O * P));
        kernels::conv3x3_single_channel_forward(x.data(), w.data(), b.data(), g, n, full.data(),
                                                scratch.data());
        if (with_relu)
          for (float& v : full) v = v > 0.0f ? v : 0.0f;
        std::vector<float> ref(static_cast<size_t>(n * O * PP) + 8, -7.0f);
        std::vector<std::uint8_t> ref_code(static_cast<size_t>(n * O * PP) + 8, 9);
        for (int64_t p = 0; p < n * O; ++p)
          kernels::max_pool2d_2x2_plane<float>(full.data() + p * P, Ho, Wo, ref.data() + p * PP,
                                               ref_code.data() + p * PP);
        // pooled
        std::vector<float> got(ref.size(), -7.0f);
        std::vector<std::uint8_t> code(ref_code.size(), 9);
        kernels::conv3x3_single_channel_forward(x.data(), w.data(), b.data(), g, n, got.data(),
                                                scratch.data(), code.data(), with_relu);
        const std::string where = "W " + std::to_string(W) + (with_relu ? ", relu" : "") +
                                  (isa == kernels::Isa::generic ? ", generic" : ", avx2");
        EXPECT_EQ(got, ref) << where;  // the guards included
        EXPECT_EQ(code, ref_code) << where;
        // backward from the pooled gradient vs from the full-size one the pool's backward makes
        // (with relu: ReLU's backward folded in, vs applied to the pooled gradient first)
        const std::vector<float> dp =
            random_f64({n * O * PP}, 34).to(DType::f32).to_vector<float>();
        std::vector<float> dp_relu = dp;
        if (with_relu)
          for (std::size_t k = 0; k < dp.size(); ++k) dp_relu[k] = got[k] > 0.0f ? dp[k] : 0.0f;
        std::vector<float> dense(static_cast<size_t>(n * O * P));
        for (int64_t p = 0; p < n * O; ++p)
          kernels::max_pool2d_2x2_backward_plane<float>(
              code.data() + p * PP, dp_relu.data() + p * PP, Ho, Wo, dense.data() + p * P);
        std::vector<float> dwb_ref(static_cast<size_t>(O * 10)), dwb(dwb_ref.size());
        kernels::conv3x3_single_channel_backward(x.data(), dense.data(), g, n, dwb_ref.data(),
                                                 scratch.data());
        kernels::conv3x3_single_channel_backward(x.data(), dp.data(), g, n, dwb.data(),
                                                 scratch.data(), code.data(),
                                                 with_relu ? got.data() : nullptr);
        if (isa == kernels::Isa::generic) {
          EXPECT_EQ(dwb, dwb_ref) << where;  // the plain loops: the same sums
        } else {  // AVX2: the windows' elements alone, in another order (n Ho Wo / 4 terms)
          expect_close(std::vector<double>(dwb.begin(), dwb.end()),
                       std::vector<double>(dwb_ref.begin(), dwb_ref.end()),
                       static_cast<double>(n * Ho * Wo / 4), where);
        }
      }
  }
  kernels::force_isa(saved);
}
