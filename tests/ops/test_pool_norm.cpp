// Pooling, batch_norm and dropout: small cases by hand, values against definitions written here,
// the fast 2x2 max-pool kernels against the general ones, finite-difference gradient checks in
// f64, running statistics, seeded dropout, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "ember/ops/conv.hpp"
#include "kernels/pool.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::gradcheck;
using ember::testing::random_f64;

namespace {

Tensor image(std::vector<double> v, Shape shape) { return from_vector(v, shape, f64); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

// ---- max_pool2d ----

TEST(MaxPool2d, ByHandAndTies) {
  Tensor x = image({1, 5, 2, 0,  //
                    3, 4, 7, 7,  //
                    9, 9, 1, 2,  //
                    9, 8, 3, 2},
                   {1, 1, 4, 4})
                 .requires_grad_();
  Tensor y = max_pool2d(x, {2, 2});  // stride defaults to the kernel
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{5, 7, 9, 3}));
  y.sum().backward();
  // ties (7, 7) and (9, 9, 9): the gradient goes to the first maximum in row-major order
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0,  //
                                                               0, 0, 1, 0,  //
                                                               1, 0, 0, 0,  //
                                                               0, 0, 1, 0}));
  // overlapping windows (3x3, stride 1, padding 1): gradients add up at a shared maximum
  Tensor z = image({1, 2, 3, 4, 9, 6, 7, 8, 5}, {1, 1, 3, 3}).requires_grad_();
  Tensor m = max_pool2d(z, {3, 3}, {1, 1}, {1, 1});
  EXPECT_EQ(m.to_vector<double>(), std::vector<double>(9, 9.0));
  m.sum().backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0, 0, 0, 0, 9, 0, 0, 0, 0}));
}

TEST(MaxPool2d, FastKernelMatchesGeneral) {
  for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{4, 4}, {7, 5}, {28, 28}, {1, 3}}) {
    Tensor x = random_f64({H, W}, 40).to(f32);
    float* px = x.data_ptr<float>();
    px[0] = px[1];  // a tie
    if (H * W > 5) px[4] = std::numeric_limits<float>::quiet_NaN();
    const kernels::PoolGeometry g{H, W, 2, 2, 2, 2, 0, 0, H / 2, W / 2};
    std::vector<float> fast(static_cast<size_t>(g.Ho * g.Wo)), general(fast.size());
    std::vector<std::uint8_t> code(static_cast<size_t>(g.Ho * g.Wo));
    kernels::max_pool2d_2x2_plane(px, H, W, fast.data(), code.data());
    kernels::max_pool2d_plane(px, g, general.data());
    for (size_t i = 0; i < fast.size(); ++i) {
      EXPECT_TRUE(fast[i] == general[i] || (std::isnan(fast[i]) && std::isnan(general[i])));
    }
    Tensor dy = random_f64({g.Ho, g.Wo}, 41).to(f32);
    std::vector<float> dfast(static_cast<size_t>(H * W), -1.f), dgeneral(dfast.size(), -1.f);
    kernels::max_pool2d_2x2_backward_plane(code.data(), dy.data_ptr<float>(), H, W, dfast.data());
    kernels::max_pool2d_backward_plane(px, dy.data_ptr<float>(), g, dgeneral.data());
    EXPECT_EQ(dfast, dgeneral);
  }
}

TEST(MaxPool2d, GradientsAndShapes) {
  const std::vector<std::array<std::array<int64_t, 2>, 3>> configs = {
      {{{2, 2}, {0, 0}, {0, 0}}},
      {{{3, 3}, {2, 2}, {1, 1}}},
      {{{3, 2}, {1, 2}, {1, 0}}},
      {{{2, 3}, {2, 1}, {0, 1}}},
  };
  for (const auto& c : configs) {
    // distinct values, so the finite differences never cross a tie
    Tensor x = random_f64({2, 3, 7, 6}, 42);
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) { return max_pool2d(in[0], c[0], c[1], c[2]); }, {x}));
  }
  EXPECT_EQ(max_pool2d(zeros({2, 3, 7, 6}), {3, 3}, {2, 2}, {1, 1}).shape(), (Shape{2, 3, 4, 3}));
  EXPECT_EQ(max_pool2d(zeros({1, 1, 5, 5}), {2, 2}).shape(), (Shape{1, 1, 2, 2}));
}

// ---- avg_pool2d ----

TEST(AvgPool2d, ByHandWithPadding) {
  // kernel 2, stride 2, padding 1 on a 2x2 image: each window holds one pixel and three zeros of
  // padding, and the padding counts (count_include_pad): 1/4, 2/4, 3/4, 4/4
  Tensor x = image({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  Tensor y = avg_pool2d(x, {2, 2}, {2, 2}, {1, 1});
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0.25, 0.25, 0.25, 0.25}));
  // no padding: plain means of the 2x2 blocks
  Tensor z = image({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 2, 4});
  EXPECT_EQ(avg_pool2d(z, {2, 2}).to_vector<double>(), (std::vector<double>{3.5, 5.5}));
}

TEST(AvgPool2d, Gradients) {
  for (const auto& c : std::vector<std::array<std::array<int64_t, 2>, 3>>{
           {{{2, 2}, {0, 0}, {0, 0}}}, {{{3, 3}, {2, 2}, {1, 1}}}, {{{3, 2}, {1, 2}, {1, 1}}}}) {
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) { return avg_pool2d(in[0], c[0], c[1], c[2]); },
        {random_f64({2, 2, 6, 5}, 43)}));
  }
}

// ---- adaptive_avg_pool2d ----

TEST(AdaptiveAvgPool2d, MatchesDefinition) {
  const int64_t H = 5, W = 7;
  Tensor x = random_f64({2, 3, H, W}, 44);
  const auto xv = x.to_vector<double>();
  for (auto [Ho, Wo] :
       std::vector<std::pair<int64_t, int64_t>>{{3, 3}, {1, 1}, {5, 7}, {2, 4}, {7, 9}}) {
    Tensor y = adaptive_avg_pool2d(x, {Ho, Wo});
    ASSERT_EQ(y.shape(), (Shape{2, 3, Ho, Wo}));
    const auto yv = y.to_vector<double>();
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          // start = floor(i*H/Ho), end = ceil((i+1)*H/Ho)
          const auto h0 = static_cast<int64_t>(std::floor(double(i * H) / double(Ho)));
          const auto h1 = static_cast<int64_t>(std::ceil(double((i + 1) * H) / double(Ho)));
          const auto w0 = static_cast<int64_t>(std::floor(double(j * W) / double(Wo)));
          const auto w1 = static_cast<int64_t>(std::ceil(double((j + 1) * W) / double(Wo)));
          double s = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += xv[static_cast<size_t>((p * H + h) * W + w)];
          EXPECT_NEAR(yv[static_cast<size_t>((p * Ho + i) * Wo + j)],
                      s / double((h1 - h0) * (w1 - w0)), 1e-12);
        }
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) {
          return adaptive_avg_pool2d(in[0], {Ho, Wo});
        },
        {x}));
  }
  EXPECT_TRUE(allclose(adaptive_avg_pool2d(x, {H, W}), x, 0, 0));  // identity at the input size
}

TEST(Pooling, Errors) {
  EXPECT_NE(error_of([] {
              max_pool2d(zeros({3, 4, 4}), {2, 2});
            }).find("max_pool2d: input must be [N, C, H, W], got [3, 4, 4]"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              max_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {2, 2}, {2, 2});
            }).find("half the kernel"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              avg_pool2d(zeros({1, 1, 2, 2}), {3, 3});
            }).find("empty"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              avg_pool2d(zeros({1, 1, 4, 4}), {0, 2});
            }).find("positive"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              adaptive_avg_pool2d(zeros({1, 1, 4, 4}), {0, 2});
            }).find("adaptive_avg_pool2d"),
            std::string::npos);
}

// ---- batch_norm ----

namespace {

// Per-channel mean and biased variance of x [N, C, S...], by definition.
void channel_moments(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  const auto v = x.to_vector<double>();
  mean.assign(static_cast<size_t>(C), 0.0);
  var.assign(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s += v[static_cast<size_t>((n * C + c) * S + i)];
    const double m = s / double(N * S);
    double q = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i)
        q += std::pow(v[static_cast<size_t>((n * C + c) * S + i)] - m, 2);
    mean[static_cast<size_t>(c)] = m;
    var[static_cast<size_t>(c)] = q / double(N * S);
  }
}

}  // namespace

TEST(BatchNorm, TrainingAndRunningStatistics) {
  for (const Shape& shape : {Shape{4, 3, 2, 5}, Shape{6, 3}}) {
    Tensor x = random_f64(shape, 50, -2, 3);
    Tensor w = random_f64({3}, 51), b = random_f64({3}, 52);
    Tensor rm = zeros({3}, f64), rv = ones({3}, f64);
    Tensor y = batch_norm(x, rm, rv, w, b, /*training=*/true, 0.1, 1e-5);
    std::vector<double> mean, var;
    channel_moments(x, mean, var);
    const int64_t N = x.size(0), C = 3, S = x.numel() / (N * C);
    const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
    const auto wv = w.to_vector<double>(), bv = b.to_vector<double>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < S; ++i) {
          const auto k = static_cast<size_t>((n * C + c) * S + i);
          const auto ci = static_cast<size_t>(c);
          EXPECT_NEAR(yv[k], (xv[k] - mean[ci]) / std::sqrt(var[ci] + 1e-5) * wv[ci] + bv[ci],
                      1e-12);
        }
    // running statistics: momentum 0.1, the variance unbiased (n / (n - 1))
    const double count = double(N * S);
    const auto rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
    for (size_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(rmv[c], 0.9 * 0.0 + 0.1 * mean[c], 1e-12);
      EXPECT_NEAR(rvv[c], 0.9 * 1.0 + 0.1 * var[c] * count / (count - 1), 1e-12);
    }
    // eval: the running statistics, and nothing updated
    Tensor e = batch_norm(x, rm, rv, w, b, /*training=*/false);
    const auto ev = e.to_vector<double>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const auto k = static_cast<size_t>((n * C + c) * S);
        const auto ci = static_cast<size_t>(c);
        EXPECT_NEAR(ev[k], (xv[k] - rmv[ci]) / std::sqrt(rvv[ci] + 1e-5) * wv[ci] + bv[ci], 1e-12);
      }
    EXPECT_EQ(rm.to_vector<double>(), rmv);
  }
  // without weight and bias the output has zero mean and unit (biased) variance per channel
  Tensor y = batch_norm(random_f64({8, 2, 3, 3}, 53), Tensor(), Tensor(), Tensor(), Tensor(), true,
                        0.1, 0.0);
  std::vector<double> mean, var;
  channel_moments(y, mean, var);
  for (size_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(mean[c], 0.0, 1e-12);
    EXPECT_NEAR(var[c], 1.0, 1e-10);
  }
  // f32 through the same path
  Tensor yf = batch_norm(random_f64({4, 3, 2, 2}, 54).to(f32), zeros({3}), ones({3}), ones({3}),
                         zeros({3}), true);
  EXPECT_EQ(yf.dtype(), f32);
}

TEST(BatchNorm, Gradients) {
  for (bool training : {true, false}) {
    Tensor rm = random_f64({3}, 55), rv = random_f64({3}, 56, 0.5, 2.0);
    for (bool with_relu : {false, true}) {  // batch_norm, and batch_norm_relu
      auto f = [&](const std::vector<Tensor>& in) {
        return with_relu ? batch_norm_relu(in[0], rm.clone(), rv.clone(), in[1], in[2], training)
                         : batch_norm(in[0], rm.clone(), rv.clone(), in[1], in[2], training);
      };
      EXPECT_TRUE(
          gradcheck(f, {random_f64({4, 3, 2, 3}, 57), random_f64({3}, 58), random_f64({3}, 59)},
                    1e-6, 1e-5, 1e-4))
          << (training ? "training" : "eval") << (with_relu ? ", with relu" : "");
    }
    auto g = [&](const std::vector<Tensor>& in) {
      return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), training);
    };
    EXPECT_TRUE(gradcheck(g, {random_f64({5, 2}, 60)}, 1e-6, 1e-5, 1e-4));
  }
}

// batch_norm_relu is relu(batch_norm(...)) to the bit: values, running statistics, and the
// gradients of x, weight and bias, in training and eval, f32 and f64 (MNIST-sized planes, so the
// kernels' vector and tail loops both run). Its finite differences: BatchNorm.Gradients.
TEST(BatchNorm, ReluFusedEqualsReluOfBatchNorm) {
  for (const DType dt : {DType::f32, DType::f64})
    for (const bool training : {true, false}) {
      const Tensor x0 = random_f64({4, 3, 14, 14}, 80, -2, 2).to(dt);
      const Tensor w0 = random_f64({3}, 81).to(dt), b0 = random_f64({3}, 82).to(dt);
      const Tensor rm0 = random_f64({3}, 83).to(dt), rv0 = random_f64({3}, 84, 0.5, 2.0).to(dt);
      Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
             b = b0.clone().requires_grad_();
      Tensor rm = rm0.clone(), rv = rv0.clone();
      const Tensor fused = batch_norm_relu(x, rm, rv, w, b, training);
      Tensor xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_(),
             br = b0.clone().requires_grad_();
      Tensor rmr = rm0.clone(), rvr = rv0.clone();
      const Tensor composed = relu(batch_norm(xr, rmr, rvr, wr, br, training));
      const std::string what = std::string(dtype_name(dt)) + (training ? " training" : " eval");
      ASSERT_TRUE(allclose(fused, composed, 0.0, 0.0)) << what;
      EXPECT_TRUE(allclose(rm, rmr, 0.0, 0.0)) << what;
      EXPECT_TRUE(allclose(rv, rvr, 0.0, 0.0)) << what;
      const Tensor g = random_f64({4, 3, 14, 14}, 85).to(dt);
      (fused * g).sum().backward();
      (composed * g).sum().backward();
      EXPECT_TRUE(allclose(x.grad(), xr.grad(), 0.0, 0.0)) << what;
      EXPECT_TRUE(allclose(w.grad(), wr.grad(), 0.0, 0.0)) << what;
      EXPECT_TRUE(allclose(b.grad(), br.grad(), 0.0, 0.0)) << what;
      const double cut = (fused == 0.0).to(DType::f64).mean().item<double>();
      EXPECT_GT(cut, 0.2) << what;
      EXPECT_LT(cut, 0.8) << what;
    }
}

TEST(BatchNorm, Errors) {
  EXPECT_NE(error_of([] {
              batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true);
            }).find("batch_norm: input"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              batch_norm(zeros({4, 3, 2, 2}), zeros({2}), ones({2}), Tensor(), Tensor(), true);
            }).find("running_mean [2] does not match input [4, 3, 2, 2]"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              batch_norm(zeros({4, 3}), Tensor(), Tensor(), zeros({4}), Tensor(), true);
            }).find("weight [4]"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true);
            }).find("one value per channel"),
            std::string::npos);
  // the fused op's errors name it, not batch_norm
  EXPECT_EQ(error_of([] {
              batch_norm_relu(zeros({4, 3, 2, 2}), zeros({2}), ones({2}), Tensor(), Tensor(), true);
            }).rfind("batch_norm_relu: running_mean [2] does not match input [4, 3, 2, 2]", 0),
            0u);
  EXPECT_EQ(error_of([] {
              batch_norm_relu(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true);
            }).rfind("batch_norm_relu: input must be [N, C]", 0),
            0u);
  EXPECT_EQ(error_of([] {
              batch_norm_relu(zeros({4, 3}), zeros({3}), Tensor(), Tensor(), Tensor(), true);
            }).rfind("batch_norm_relu: give both", 0),
            0u);
}

// ---- dropout ----

TEST(Dropout, SeededScaledAndDifferentiable) {
  Tensor x = ones({1000}, f64).requires_grad_();
  Generator g1(7), g2(7), g3(8);
  Tensor a = dropout(x, 0.25, true, g1), b = dropout(x, 0.25, true, g2),
         c = dropout(x, 0.25, true, g3);
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());  // same seed, same mask
  EXPECT_NE(a.to_vector<double>(), c.to_vector<double>());
  int kept = 0;
  for (double v : a.to_vector<double>()) {
    EXPECT_TRUE(v == 0.0 || std::abs(v - 1.0 / 0.75) < 1e-15) << v;
    kept += v != 0.0;
  }
  EXPECT_GT(kept, 700);
  EXPECT_LT(kept, 800);
  (a * 2.0).sum().backward();
  const auto gv = x.grad().to_vector<double>(), av = a.to_vector<double>();
  for (size_t i = 0; i < gv.size(); ++i) EXPECT_DOUBLE_EQ(gv[i], 2.0 * av[i]);
  // eval and p = 0 leave x alone; p = 1 drops everything
  Generator g(1);
  EXPECT_EQ(dropout(x, 0.5, false, g).impl_ptr(), x.impl_ptr());
  EXPECT_EQ(dropout(x, 0.0, true, g).impl_ptr(), x.impl_ptr());
  EXPECT_EQ(dropout(x, 1.0, true, g).sum().item<double>(), 0.0);
  EXPECT_NE(error_of([&] { dropout(x, 1.5, true, g); }).find("dropout"), std::string::npos);
}
