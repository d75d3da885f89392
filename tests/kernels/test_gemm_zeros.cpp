// sgemm/dgemm's zero skipping (gemm.hpp): the step lists and finiteness checks against their
// definitions, and products of mostly-zero operands against the reference loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "ember/core/parallel.hpp"
#include "kernels/gemm.hpp"
#include "support/gemm_paths.hpp"
#include "support/kernel_state.hpp"

namespace ember::kernels {
namespace {

using Restore = ember::testing::RestoreThreadsAndIsa;

using Path = ember::testing::GemmPath;
std::vector<Path> paths() { return ember::testing::gemm_paths(); }

// Values where a fraction `density` is nonzero: small integers (-3..3 without 0), so every
// product and every sum of up to 2^20 of them is exact in float.
std::vector<float> sparse_ints(int64_t n, double density, std::mt19937& rng) {
  std::bernoulli_distribution keep(density);
  std::uniform_int_distribution<int> value(1, 3), sign(0, 1);
  std::vector<float> v(static_cast<size_t>(n), 0.0f);
  for (auto& x : v)
    if (keep(rng)) x = static_cast<float>(sign(rng) != 0 ? value(rng) : -value(rng));
  return v;
}

// The definition nonzero_steps must meet: k where some line has x != 0 (NaN is != 0).
std::vector<int32_t> steps_by_definition(const float* p, int64_t rs, int64_t cs, int64_t h,
                                         int64_t kc) {
  std::vector<int32_t> out;
  for (int64_t k = 0; k < kc; ++k) {
    bool any = false;
    for (int64_t l = 0; l < h; ++l) any = any || p[l * rs + k * cs] != 0.0f;
    if (any) out.push_back(static_cast<int32_t>(k));
  }
  return out;
}

// The layouts the driver scans: lines contiguous in k (a row-major A in place), h values
// contiguous per step (B panels, packed A panels), and neither.
struct Layout {
  int64_t h, kc;
  bool lines_contiguous;
  int64_t pad;
};

std::vector<Layout> layouts() {
  std::vector<Layout> out;
  for (int64_t h : {1, 6, 8, 12, 14, 16, 32})
    for (int64_t kc : {1, 7, 8, 9, 63, 256, 262})
      for (bool lines : {true, false}) out.push_back({h, kc, lines, h == 6 ? 0 : 3});
  return out;
}

TEST(GemmZeros, NonzeroStepsMatchTheDefinition) {
  Restore restore;
  std::mt19937 rng(21);
  for (const Path& path : paths()) {
    if (path.kernels != nullptr) continue;
    force_isa(path.isa);
    for (const Layout& l : layouts()) {
      for (double density : {0.0, 0.02, 0.3, 1.0}) {
        const int64_t rs = l.lines_contiguous ? l.kc + l.pad : 1;
        const int64_t cs = l.lines_contiguous ? 1 : l.h + l.pad;
        std::vector<float> p = sparse_ints(l.lines_contiguous ? l.h * rs : l.kc * cs, density, rng);
        // NaN counts as a nonzero, -0 as a zero
        if (p.size() > 5) p[p.size() / 2] = std::numeric_limits<float>::quiet_NaN();
        if (p.size() > 7) p[p.size() / 3] = -0.0f;
        std::vector<int32_t> got(static_cast<size_t>(l.kc + 8), -1);
        const int64_t n = nonzero_steps(p.data(), rs, cs, l.h, l.kc, got.data());
        const auto want = steps_by_definition(p.data(), rs, cs, l.h, l.kc);
        got.resize(static_cast<size_t>(n));
        ASSERT_EQ(got, want) << path.name << " h=" << l.h << " kc=" << l.kc
                             << " lines contiguous=" << l.lines_contiguous
                             << " density=" << density;
      }
    }
  }
}

TEST(GemmZeros, AllFiniteFindsEveryInfinityAndNaN) {
  Restore restore;
  std::mt19937 rng(22);
  const float bad[] = {std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(),
                       std::numeric_limits<float>::quiet_NaN()};
  for (const Path& path : paths()) {
    if (path.kernels != nullptr) continue;
    force_isa(path.isa);
    for (const Layout& l : layouts()) {
      const int64_t rs = l.lines_contiguous ? l.kc + l.pad : 1;
      const int64_t cs = l.lines_contiguous ? 1 : l.h + l.pad;
      std::vector<float> p = sparse_ints(l.lines_contiguous ? l.h * rs : l.kc * cs, 0.5, rng);
      // padding between lines or steps is outside the block: infinities there do not count
      for (size_t i = 0; i < p.size(); ++i) {
        const int64_t line = l.lines_contiguous ? int64_t(i) / rs : int64_t(i) % cs;
        const int64_t step = l.lines_contiguous ? int64_t(i) % rs : int64_t(i) / cs;
        if (line >= l.h || step >= l.kc) p[i] = bad[i % 3];
      }
      ASSERT_TRUE(all_finite(p.data(), rs, cs, l.h, l.kc)) << path.name << " h=" << l.h;
      // every position of the block, first and last included, is seen
      std::uniform_int_distribution<int64_t> line(0, l.h - 1), step(0, l.kc - 1);
      for (int trial = 0; trial < 6; ++trial) {
        const int64_t r = trial == 0 ? 0 : trial == 1 ? l.h - 1 : line(rng);
        const int64_t k = trial == 0 ? 0 : trial == 1 ? l.kc - 1 : step(rng);
        float& x = p[static_cast<size_t>(r * rs + k * cs)];
        const float keep = x;
        x = bad[trial % 3];
        ASSERT_FALSE(all_finite(p.data(), rs, cs, l.h, l.kc))
            << path.name << " h=" << l.h << " kc=" << l.kc << " line " << r << " step " << k;
        x = keep;
      }
    }
  }
}

struct Shape3 {
  int64_t M, N, K;
};

// Products where op(A) or op(B) is mostly zeros, in the shapes of the MNIST models (a Linear's
// forward x w^T and its weight gradient g^T x) and odd ones, every transpose, beta 0 and 1. The
// values are small integers, so every sum is exact in any order: skipping a step that holds a
// nonzero product, or listing one twice, changes the result, and the reference must be met
// exactly (-0 and +0 compare equal). 1 and 2 threads give the same bits.
TEST(GemmZeros, SparseProductsEqualTheReferenceExactly) {
  Restore restore;
  std::mt19937 rng(23);
  const Shape3 shapes[] = {{256, 128, 784}, {256, 30, 784}, {128, 784, 256}, {30, 784, 256},
                           {13, 70, 300},   {61, 45, 17},   {7, 300, 600},   {100, 1, 784}};
  for (const Path& path : paths()) {
    for (const Shape3& s : shapes) {
      for (int t = 0; t < 4; ++t) {
        for (int sparse_side = 0; sparse_side < 2; ++sparse_side) {
          const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
          const double density = 0.005 + 0.03 * t;
          const auto A = sparse_ints(s.M * s.K, sparse_side == 0 ? density : 0.9, rng);
          const auto B = sparse_ints(s.K * s.N, sparse_side == 1 ? density : 0.9, rng);
          const int64_t lda = ta ? s.M : s.K, ldb = tb ? s.K : s.N;
          const float beta = (t & 2) != 0 ? 1.0f : 0.0f;
          const auto C0 = sparse_ints(s.M * s.N, 0.5, rng);
          auto R = C0;
          sgemm_reference(ta, tb, s.M, s.N, s.K, A.data(), lda, B.data(), ldb, beta, R.data(), s.N);
          std::vector<float> first;
          for (int threads : {1, 2}) {
            set_num_threads(threads);
            auto C = C0;
            ember::testing::run_gemm(path, ta, tb, s.M, s.N, s.K, A.data(), lda, B.data(), ldb,
                                     beta, C.data(), s.N);
            for (size_t i = 0; i < C.size(); ++i)
              ASSERT_EQ(C[i], R[i])
                  << path.name << " M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << ta
                  << " tb=" << tb << " sparse " << (sparse_side == 0 ? "A" : "B") << " at " << i;
            if (first.empty()) {
              first = C;
            } else {
              ASSERT_EQ(0, std::memcmp(first.data(), C.data(), C.size() * sizeof(float)))
                  << path.name << " 1 vs 2 threads";
            }
          }
        }
      }
    }
  }
}

// dgemm skips zeros the same way (plain loops for its lists): exact on sparse integers too.
TEST(GemmZeros, DgemmSparseProductsEqualTheReferenceExactly) {
  Restore restore;
  std::mt19937 rng(25);
  const int64_t M = 130, N = 70, K = 300;
  for (const Path& path : paths()) {
    if (path.kernels != nullptr) continue;
    force_isa(path.isa);
    for (int sparse_side = 0; sparse_side < 2; ++sparse_side) {
      const auto a = sparse_ints(M * K, sparse_side == 0 ? 0.02 : 0.9, rng);
      const auto b = sparse_ints(K * N, sparse_side == 1 ? 0.01 : 0.9, rng);
      const std::vector<double> A(a.begin(), a.end()), B(b.begin(), b.end());
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        std::vector<double> C(M * N, 1.0), R(M * N, 1.0);
        dgemm(false, false, M, N, K, A.data(), K, B.data(), N, 1.0, C.data(), N);
        dgemm_reference(false, false, M, N, K, A.data(), K, B.data(), N, 1.0, R.data(), N);
        ASSERT_EQ(C, R) << path.name << " sparse " << (sparse_side == 0 ? "A" : "B") << ", "
                        << threads << " threads";
      }
    }
  }
}

// 0 * inf is NaN, not a zero to skip: where the dense operand holds an infinity or NaN at a step
// the sparse one has zeros, the result has NaN exactly where the reference has.
TEST(GemmZeros, InfinityOppositeAZeroStillGivesNaN) {
  Restore restore;
  std::mt19937 rng(24);
  const int64_t M = 256, N = 128, K = 784;
  const float inf = std::numeric_limits<float>::infinity();
  for (const Path& path : paths()) {
    for (int sparse_side = 0; sparse_side < 2; ++sparse_side) {
      for (float bad : {inf, std::numeric_limits<float>::quiet_NaN()}) {
        auto A = sparse_ints(M * K, sparse_side == 0 ? 0.02 : 1.0, rng);  // A [M, K]
        auto B = sparse_ints(K * N, sparse_side == 1 ? 0.02 : 1.0, rng);  // B [K, N]
        if (sparse_side == 0) {
          for (int64_t i = 0; i < M; ++i) A[i * K + 5] = 0.0f;  // column 5 of A all zero
          B[5 * N + 77] = bad;
        } else {
          for (int64_t j = 0; j < N; ++j) B[9 * N + j] = 0.0f;  // row 9 of B all zero
          A[100 * K + 9] = bad;
        }
        std::vector<float> C(M * N, 0.0f), R(M * N, 0.0f);
        set_num_threads(2);
        ember::testing::run_gemm(path, false, false, M, N, K, A.data(), K, B.data(), N, 0.0f,
                                 C.data(), N);
        sgemm_reference(false, false, M, N, K, A.data(), K, B.data(), N, 0.0f, R.data(), N);
        int64_t nans = 0;
        for (size_t i = 0; i < C.size(); ++i) {
          ASSERT_EQ(std::isnan(C[i]), std::isnan(R[i])) << path.name << " at " << i;
          nans += std::isnan(R[i]) ? 1 : 0;
        }
        EXPECT_GT(nans, 0) << "the test must put a NaN in the reference";
      }
    }
  }
}

}  // namespace
}  // namespace ember::kernels
