// Batch norm's per-channel kernels against the definitions summed in long double, on both
// instruction-set paths, which must also agree with each other to the bit; and the same bits
// whatever the split of channels among callers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/batch_norm.hpp"
#include "kernels/gemm.hpp"

namespace ember::kernels {
namespace {

struct Dims {
  int64_t N, C, S;
};

// S below, at and past the 16 lanes (the tail after the lanes, S mod 16, takes the values 0, 1,
// 2, 3, 4, 9, 14 and 15; the dx loop's 4-wide tail, S mod 4, all of 0 to 3), MNIST's
// 14x14 and 7x7.
const Dims kDims[] = {{3, 2, 1},  {4, 2, 2},   {3, 3, 3},  {4, 3, 15},  {4, 3, 16},
                      {4, 3, 17}, {2, 3, 18},  {2, 2, 31}, {2, 5, 196}, {5, 2, 49},
                      {1, 3, 33}, {7, 1, 100}, {2, 2, 41}, {3, 2, 62}};

template <class T>
struct Outputs {
  std::vector<double> mean, var, sum_g, sum_gx;
  std::vector<T> dx;
};

// Every kernel on x and g; channels [0, C) in pieces of `piece` channels.
template <class T>
Outputs<T> run(const Dims& d, const std::vector<T>& x, const std::vector<T>& g,
               const std::vector<double>& w, bool training, int64_t piece) {
  Outputs<T> o;
  const auto C = static_cast<size_t>(d.C);
  o.mean.resize(C), o.var.resize(C), o.sum_g.resize(C), o.sum_gx.resize(C);
  o.dx.assign(x.size(), T(-7));
  std::vector<double> invstd(C);
  for (int64_t c0 = 0; c0 < d.C; c0 += piece) {
    const int64_t c1 = std::min(d.C, c0 + piece);
    batch_norm_stats(x.data(), d.N, d.C, d.S, c0, c1, o.mean.data(), o.var.data());
    for (int64_t c = c0; c < c1; ++c) invstd[c] = 1.0 / std::sqrt(o.var[c] + 1e-5);
    batch_norm_backward(x.data(), g.data(), d.N, d.C, d.S, c0, c1, o.mean.data(), invstd.data(),
                        w.data(), training, o.sum_g.data(), o.sum_gx.data(), o.dx.data());
  }
  return o;
}

template <class T>
void check_against_definition(const Dims& d, const std::vector<T>& x, const std::vector<T>& g,
                              const std::vector<double>& w, bool training, const Outputs<T>& o) {
  const auto count = static_cast<long double>(d.N * d.S);
  // double results carry the sums' rounding. Float dx is computed in float: with u = 2^-24 and
  // each of k, mg and s = invstd * mgx rounded once, x - mean taken to within 2u (mean split into
  // two floats), and five float operations, the error is at most u |k| (4 |g| + 5 |mg| + 7 |x_hat
  // mgx|) (the bound below, 7u times the sum of the terms' sizes; u < 6e-8)
  const double rel = sizeof(T) == 4 ? 7.0 * 6e-8 : 1e-12;
  for (int64_t c = 0; c < d.C; ++c) {
    auto at = [&](int64_t n, int64_t i) { return static_cast<size_t>((n * d.C + c) * d.S + i); };
    long double s = 0, q = 0, sg = 0, sgx = 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.S; ++i) s += x[at(n, i)];
    const long double m = s / count;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.S; ++i) q += (x[at(n, i)] - m) * (x[at(n, i)] - m);
    const long double var = q / count, is = 1.0L / std::sqrt(var + 1e-5L);
    for (int64_t n = 0; n < d.N; ++n) {
      for (int64_t i = 0; i < d.S; ++i) {
        sg += g[at(n, i)];
        sgx += g[at(n, i)] * (x[at(n, i)] - m) * is;
      }
    }
    const auto ci = static_cast<size_t>(c);
    EXPECT_NEAR(o.mean[ci], static_cast<double>(m), 1e-12 * (1 + std::fabs(double(m))));
    EXPECT_NEAR(o.var[ci], static_cast<double>(var), 1e-12 * (1 + double(var)));
    EXPECT_NEAR(o.sum_g[ci], static_cast<double>(sg), 1e-12 * static_cast<double>(count));
    EXPECT_NEAR(o.sum_gx[ci], static_cast<double>(sgx), 1e-11 * static_cast<double>(count));
    const long double k = w[ci] * is, mg = training ? sg / count : 0,
                      mgx = training ? sgx / count : 0;
    for (int64_t n = 0; n < d.N; ++n) {
      for (int64_t i = 0; i < d.S; ++i) {
        const long double xh = (x[at(n, i)] - m) * is;
        const long double terms = std::fabs(k) * (std::fabs(static_cast<long double>(g[at(n, i)])) +
                                                  std::fabs(mg) + std::fabs(xh * mgx));
        const long double want = k * (g[at(n, i)] - mg - xh * mgx);
        ASSERT_NEAR(static_cast<double>(o.dx[at(n, i)]), static_cast<double>(want),
                    rel * static_cast<double>(terms) + 1e-300)
            << "dx at n=" << n << " c=" << c << " i=" << i << " of N=" << d.N << " C=" << d.C
            << " S=" << d.S;
      }
    }
  }
}

// Random x (an offset mean, so a one-pass variance would lose digits where the two-pass one does
// not), g in [-1, 1] and per-channel w in [-0.5, 1.5].
template <class T>
struct Inputs {
  std::vector<T> x, g;
  std::vector<double> w;
  Inputs(const Dims& d, std::mt19937& rng) {
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    const auto n = static_cast<size_t>(d.N * d.C * d.S);
    x.resize(n), g.resize(n), w.resize(static_cast<size_t>(d.C));
    for (auto& v : x) v = static_cast<T>(3.0 + 2.0 * dist(rng));
    for (auto& v : g) v = static_cast<T>(dist(rng));
    for (auto& v : w) v = 0.5 + dist(rng);
  }
};

template <class T>
void check_all() {
  const Isa saved = active_isa();
  std::mt19937 rng(31);
  for (const Dims& d : kDims) {
    const auto n = static_cast<size_t>(d.N * d.C * d.S);
    const Inputs<T> in(d, rng);
    const std::vector<T>&x = in.x, &g = in.g;
    const std::vector<double>& w = in.w;
    for (bool training : {true, false}) {
      force_isa(Isa::generic);
      const Outputs<T> generic = run(d, x, g, w, training, d.C);
      check_against_definition(d, x, g, w, training, generic);
      if (detected_isa() == Isa::generic) continue;
      force_isa(Isa::avx2);
      for (int64_t piece : {d.C, int64_t{1}}) {
        const Outputs<T> avx2 = run(d, x, g, w, training, piece);
        const char* what = piece == 1 ? "avx2 one channel at a time" : "avx2";
        EXPECT_EQ(avx2.mean, generic.mean) << what;
        EXPECT_EQ(avx2.var, generic.var) << what;
        EXPECT_EQ(avx2.sum_g, generic.sum_g) << what;
        EXPECT_EQ(avx2.sum_gx, generic.sum_gx) << what;
        ASSERT_EQ(0, std::memcmp(avx2.dx.data(), generic.dx.data(), n * sizeof(T)))
            << what << ", N=" << d.N << " C=" << d.C << " S=" << d.S;
      }
    }
  }
  force_isa(saved);
}

TEST(BatchNormKernels, FloatMatchesDefinitionAndPathsAgree) { check_all<float>(); }
TEST(BatchNormKernels, DoubleMatchesDefinitionAndPathsAgree) { check_all<double>(); }

// Values far from 0 with a small spread (x = 1000 + [-1, 1)) and a gradient that follows x_hat,
// so the x_hat * mgx term is as large as g: the float dx must take x - mean to about its own
// rounding, not to the mean's (a float mean is off by up to 3e-5 here, a hundred times the
// bound's 7u |x_hat mgx|).
TEST(BatchNormKernels, FloatDxHoldsAnOffsetMean) {
  const Isa saved = active_isa();
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const Dims d{6, 2, 37};
  std::vector<float> x(static_cast<size_t>(d.N * d.C * d.S)), g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(1000.0 + dist(rng));
    g[i] = static_cast<float>((x[i] - 1000.0) * 0.8 + 0.1 * dist(rng));
  }
  const std::vector<double> w{1.0, -0.7};
  for (Isa isa : {Isa::generic, Isa::avx2}) {
    if (isa == Isa::avx2 && detected_isa() == Isa::generic) continue;
    force_isa(isa);
    check_against_definition(d, x, g, w, true, run(d, x, g, w, true, d.C));
  }
  force_isa(saved);
}

// Without dx (the input needs no gradient) the sums are still computed and nothing is written.
TEST(BatchNormKernels, NoInputGradient) {
  const Dims d{2, 1, 20};
  std::vector<float> x(40), g(40, 1.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  double mean = 0, var = 0, sg = 0, sgx = 0;
  batch_norm_stats(x.data(), d.N, d.C, d.S, 0, 1, &mean, &var);
  // 0..39: mean 19.5, biased variance (40^2 - 1) / 12
  EXPECT_DOUBLE_EQ(mean, 19.5);
  EXPECT_DOUBLE_EQ(var, (40.0 * 40.0 - 1.0) / 12.0);
  const double is = 1.0 / std::sqrt(var), w = 1.0;
  batch_norm_backward(x.data(), g.data(), d.N, d.C, d.S, 0, 1, &mean, &is, &w, true, &sg, &sgx,
                      static_cast<float*>(nullptr));
  EXPECT_DOUBLE_EQ(sg, 40.0);
  EXPECT_NEAR(sgx, 0.0, 1e-12);  // g constant: the sum of deviations is zero
}

// With relu_y, the backward folds in ReLU's: its results equal, to the bit, those on g masked
// first (relu_y > 0 ? g : 0, ReLU's rule, NaN and 0 cutting), on both paths and every shape.
template <class T>
void check_relu_folded() {
  const Isa saved = active_isa();
  std::mt19937 rng(41);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (const Dims& d : kDims) {
    const auto n = static_cast<size_t>(d.N * d.C * d.S);
    const Inputs<T> in(d, rng);
    const std::vector<T>&x = in.x, &g = in.g;
    const std::vector<double>& w = in.w;
    std::vector<T> y(n), masked(n);
    for (size_t i = 0; i < n; ++i) {
      y[i] = i % 7 == 3 ? T(0) : i % 11 == 5 ? static_cast<T>(NAN) : static_cast<T>(dist(rng));
      masked[i] = y[i] > T(0) ? g[i] : T(0);
    }
    std::vector<Isa> paths{Isa::generic};
    if (detected_isa() != Isa::generic) paths.push_back(Isa::avx2);
    for (const Isa isa : paths) {
      force_isa(isa);
      for (bool training : {true, false}) {
        const Outputs<T> want = run(d, x, masked, w, training, d.C);
        const auto C = static_cast<size_t>(d.C);
        std::vector<double> sum_g(C), sum_gx(C), invstd(C);
        for (size_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(want.var[c] + 1e-5);
        std::vector<T> dx(n, T(-7));
        batch_norm_backward(x.data(), g.data(), d.N, d.C, d.S, 0, d.C, want.mean.data(),
                            invstd.data(), w.data(), training, sum_g.data(), sum_gx.data(),
                            dx.data(), y.data());
        EXPECT_EQ(sum_g, want.sum_g) << "N=" << d.N << " C=" << d.C << " S=" << d.S;
        EXPECT_EQ(sum_gx, want.sum_gx) << "N=" << d.N << " C=" << d.C << " S=" << d.S;
        ASSERT_EQ(0, std::memcmp(dx.data(), want.dx.data(), n * sizeof(T)))
            << "isa " << static_cast<int>(isa) << ", N=" << d.N << " C=" << d.C << " S=" << d.S;
      }
    }
  }
  force_isa(saved);
}

TEST(BatchNormKernels, FloatReluFoldedEqualsMaskingFirst) { check_relu_folded<float>(); }
TEST(BatchNormKernels, DoubleReluFoldedEqualsMaskingFirst) { check_relu_folded<double>(); }

}  // namespace
}  // namespace ember::kernels
