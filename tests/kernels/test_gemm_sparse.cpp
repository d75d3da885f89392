// sgemm's row-sparse path (gemm.hpp, gemm_sparse_row.hpp, gemm_sparse.cpp): row_nonzeros against
// its definition, which products take the path, and its results against the tiled path's on the
// same operands (the two sum in the same kc slices, so they must agree to the bit but for the sign
// of a zero). The tiled path itself is checked against the reference loops in test_gemm*, which
// also run every case with this path on (testing::gemm_paths).
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

bool has_avx2() { return static_cast<int>(detected_isa()) >= static_cast<int>(Isa::avx2); }

// Normal floats where a fraction `density` is nonzero, the rest +0 or -0.
std::vector<float> sparse_floats(int64_t n, double density, std::mt19937& rng) {
  std::bernoulli_distribution keep(density), negative_zero(0.5);
  std::normal_distribution<float> value;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = keep(rng) ? value(rng) : (negative_zero(rng) ? -0.0f : 0.0f);
  return v;
}

TEST(GemmSparse, RowNonzerosMatchTheDefinition) {
  Restore restore;
  std::mt19937 rng(31);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float tiny = std::numeric_limits<float>::denorm_min();
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
    force_isa(isa);
    for (int64_t kc : {0, 1, 7, 8, 9, 15, 16, 17, 40, 784}) {
      for (double density : {0.0, 0.2, 0.9, 1.0}) {
        std::vector<float> row = sparse_floats(kc, density, rng);
        if (kc > 5) row[3] = nan, row[5] = -inf;
        if (kc > 8) row[kc - 1] = tiny, row[kc - 2] = -0.0f;
        std::vector<int32_t> want_k;
        std::vector<float> want_v;
        for (int64_t k = 0; k < kc; ++k)
          if (row[k] != 0.0f || std::isnan(row[k])) {  // NaN is not zero
            want_k.push_back(static_cast<int32_t>(k));
            want_v.push_back(row[k]);
          }
        std::vector<int32_t> kidx(kc + 8, -1);
        std::vector<float> vals(kc + 8, 0.0f);
        const int64_t n = row_nonzeros(row.data(), kc, kidx.data(), vals.data());
        ASSERT_EQ(n, static_cast<int64_t>(want_k.size())) << "kc=" << kc;
        for (int64_t t = 0; t < n; ++t) {
          ASSERT_EQ(kidx[t], want_k[t]) << "kc=" << kc << " t=" << t;
          ASSERT_EQ(0, std::memcmp(&vals[t], &want_v[t], sizeof(float))) << "kc=" << kc;
        }
      }
    }
  }
}

// Runs of +0.0, as an image's empty border (the AVX2 scan skips 32 of them at once where all their
// bits are 0): some runs whole, others with one value inside (a nonzero, a NaN, the smallest
// subnormal, or a -0.0, which is zero but not all bits 0) at each position in turn.
TEST(GemmSparse, RowNonzerosSkipEmptyRunsOnly) {
  Restore restore;
  const float specials[4] = {1.5f, std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::denorm_min(), -0.0f};
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
    force_isa(isa);
    for (int64_t kc : {31, 32, 33, 64, 96, 100, 784})
      for (int64_t at = 0; at < kc; at += 5)
        for (const float special : specials) {
          std::vector<float> row(static_cast<size_t>(kc), 0.0f);
          row[static_cast<size_t>(at)] = special;
          if (kc > 70) row[static_cast<size_t>(kc - 1 - at % 40)] = 2.5f;  // a second run's
          std::vector<int32_t> want;
          for (int64_t k = 0; k < kc; ++k)
            if (row[k] != 0.0f || std::isnan(row[k])) want.push_back(static_cast<int32_t>(k));
          std::vector<int32_t> kidx(kc + 8, -1);
          std::vector<float> vals(kc + 8, 0.0f);
          const int64_t n = row_nonzeros(row.data(), kc, kidx.data(), vals.data());
          ASSERT_EQ(n, static_cast<int64_t>(want.size()))
              << "kc=" << kc << " at=" << at << " special=" << special;
          for (int64_t t = 0; t < n; ++t) {
            ASSERT_EQ(kidx[t], want[t]) << "kc=" << kc << " at=" << at;
            ASSERT_EQ(0, std::memcmp(&vals[t], &row[want[t]], sizeof(float))) << "kc=" << kc;
          }
        }
  }
}

// The MNIST Linear's forward takes the path; a transposed A, fewer than 16 columns, a denser A, a
// non-finite B, a CPU path without AVX2 or the path turned off do not.
TEST(GemmSparse, TakesMostlyZeroRowsOnly) {
  if (!has_avx2()) GTEST_SKIP() << "the row-sparse path needs AVX2; this CPU has none";
  Restore restore;
  force_isa(Isa::avx2);
  allow_sparse_rows(true);
  std::mt19937 rng(32);
  const int64_t M = 256, K = 784, N = 128;
  const auto x = sparse_floats(M * K, 0.19, rng);  // a batch of images, 19% nonzero
  const auto dense = sparse_floats(M * K, 0.35, rng);
  auto w = sparse_floats(N * K, 1.0, rng);  // the weight [N, K]: op(B) = w^T
  EXPECT_TRUE(takes_sparse_rows(false, true, M, N, K, x.data(), K, w.data(), K));
  EXPECT_TRUE(takes_sparse_rows(false, false, M, N, K, x.data(), K, w.data(), N));
  EXPECT_TRUE(takes_sparse_rows(false, true, M, 30, K, x.data(), K, w.data(), K));
  EXPECT_FALSE(takes_sparse_rows(true, true, K, N, M, x.data(), K, w.data(), M));
  EXPECT_FALSE(takes_sparse_rows(false, true, M, 15, K, x.data(), K, w.data(), K));
  EXPECT_FALSE(takes_sparse_rows(false, true, 1, N, K, x.data(), K, w.data(), K));
  EXPECT_FALSE(takes_sparse_rows(false, true, M, N, K, dense.data(), K, w.data(), K));
  w[77 * K + 500] = std::numeric_limits<float>::infinity();  // 0 * inf is NaN, not a zero
  EXPECT_FALSE(takes_sparse_rows(false, true, M, N, K, x.data(), K, w.data(), K));
  w[77 * K + 500] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(takes_sparse_rows(false, true, M, N, K, x.data(), K, w.data(), K));
  w[77 * K + 500] = 1.0f;
  EXPECT_TRUE(takes_sparse_rows(false, true, M, N, K, x.data(), K, w.data(), K));
  allow_sparse_rows(false);
  EXPECT_FALSE(takes_sparse_rows(false, true, M, N, K, x.data(), K, w.data(), K));
  allow_sparse_rows(true);
  force_isa(Isa::generic);
  EXPECT_FALSE(takes_sparse_rows(false, true, M, N, K, x.data(), K, w.data(), K));
}

struct Case {
  int64_t M, N, K;
  bool trans_b;
};

// Random floats (not exact in any order, so a different order of sums shows), with rows of all
// zeros and a few NaNs in A; C's rows are ldc = N + 3 apart and its padding must stay untouched.
// K = 1000 and 600 sum in 4 and 3 kc slices, N = 30, 33 and 100 end in a partial 32-column block
// (and 30, 16 and 20 fill at most half of a 64-column one, which the AVX-512 kernel sums on half
// its accumulators), 300 rows of 1000 and 200 of 3000 are listed in several chunks; rows
// 12-16 are dense (the choice samples the first 8); beta 0, 1 and 0.5. Each row-sparse kernel
// this CPU runs (AVX2's 32-column blocks, the AVX-512 kernel's 64-column geometry compiled for
// AVX2, AVX-512's own) against the AVX2 tiled path.
TEST(GemmSparse, EqualsTheTiledPathToTheBit) {
  if (!has_avx2()) GTEST_SKIP() << "the row-sparse path needs AVX2; this CPU has none";
  Restore restore;
  std::mt19937 rng(33);
  const Case cases[] = {{256, 128, 784, true},  {256, 30, 784, true}, {40, 33, 1000, false},
                        {9, 100, 600, true},    {64, 16, 257, false}, {30, 64, 1000, true},
                        {300, 16, 1000, false}, {200, 20, 3000, true}};
  int64_t kernels_run = 0;
  for (const ember::testing::GemmPath& path : ember::testing::gemm_paths()) {
    if (!path.sparse_rows) continue;
    ++kernels_run;
    for (const Case& c : cases) {
      const int64_t lda = c.K + 5, ldb = (c.trans_b ? c.K : c.N) + 2, ldc = c.N + 3;
      auto A = sparse_floats(c.M * lda, 0.15, rng);
      for (int64_t k = 0; k < lda; ++k) A[2 * lda + k] = 0.0f;  // row 2: no nonzero at all
      if (c.M > 20) {  // rows past the 8 the choice samples may be dense
        const auto dense = sparse_floats(5 * lda, 0.9, rng);
        std::copy(dense.begin(), dense.end(), A.begin() + 12 * lda);
      }
      A[5 * lda + 3] = std::numeric_limits<float>::quiet_NaN();
      const auto B = sparse_floats((c.trans_b ? c.N : c.K) * ldb, 1.0, rng);
      const auto bias = sparse_floats(c.N, 1.0, rng);
      const auto C0 = sparse_floats(c.M * ldc, 1.0, rng);
      for (int variant = 0; variant < 12; ++variant) {
        const float beta = variant >= 8 ? 0.5f : (variant & 1) != 0 ? 1.0f : 0.0f;
        const float* b = (variant & 2) != 0 ? bias.data() : nullptr;
        const bool relu = (variant & 4) != 0;
        force_isa(path.isa);
        allow_sparse_rows(true);
        ASSERT_TRUE(
            takes_sparse_rows(false, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb))
            << path.name << " M=" << c.M << " N=" << c.N << " K=" << c.K;
        set_num_threads(1);
        auto want = C0;
        force_isa(Isa::avx2);
        allow_sparse_rows(false);
        sgemm_bias_relu(false, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, beta,
                        want.data(), ldc, b, relu);
        for (int threads : {1, 2, 3}) {
          set_num_threads(threads);
          auto got = C0;
          ember::testing::run_gemm_bias_relu<float>(path, false, c.trans_b, c.M, c.N, c.K, A.data(),
                                                    lda, B.data(), ldb, beta, got.data(), ldc, b,
                                                    relu);
          for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const float g = got[i * ldc + j], w = want[i * ldc + j];
              const bool same = (std::isnan(g) && std::isnan(w)) || g == w;  // +0 == -0
              ASSERT_TRUE(same) << path.name << " M=" << c.M << " N=" << c.N << " K=" << c.K
                                << " tb=" << c.trans_b << " beta=" << beta
                                << " bias=" << (b != nullptr) << " relu=" << relu
                                << " threads=" << threads << " at (" << i << ", " << j << "): " << g
                                << " vs " << w;
              if (j >= c.N) {
                ASSERT_EQ(0, std::memcmp(&g, &C0[i * ldc + j], sizeof(float)));
              }
            }
        }
      }
    }
  }
  EXPECT_GE(kernels_run, 2) << "AVX2's kernel and the AVX-512 geometry on AVX2 at least";
}

// An infinity or NaN in op(B), anywhere (here in the last, partial 32-column block): the path
// declines before writing anything, and the tiled path gives NaN where 0 * inf meets it, exactly
// as with the row-sparse path off, for beta 0 and 1, both layouts of B, and B's blocks packed on
// one thread or on two (where the other block's thread finds it).
TEST(GemmSparse, NonFiniteBLeavesItToTheTiledPath) {
  if (!has_avx2()) GTEST_SKIP() << "the row-sparse path needs AVX2; this CPU has none";
  Restore restore;
  force_isa(Isa::avx2);
  std::mt19937 rng(35);
  const int64_t M = 64, N = 40, K = 300;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (bool trans_b : {false, true}) {
      for (float bad :
           {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
        for (float beta : {0.0f, 1.0f}) {
          const auto A = sparse_floats(M * K, 0.1, rng);
          auto B = sparse_floats(K * N, 1.0, rng);
          const int64_t ldb = trans_b ? K : N;
          const int64_t j = 37, k = 123;  // column 37: the second block's 6th
          B[trans_b ? j * ldb + k : k * ldb + j] = bad;
          const auto C0 = sparse_floats(M * N, 1.0, rng);
          allow_sparse_rows(true);
          EXPECT_FALSE(takes_sparse_rows(false, trans_b, M, N, K, A.data(), K, B.data(), ldb));
          auto got = C0, want = C0;
          sgemm(false, trans_b, M, N, K, A.data(), K, B.data(), ldb, beta, got.data(), N);
          allow_sparse_rows(false);
          sgemm(false, trans_b, M, N, K, A.data(), K, B.data(), ldb, beta, want.data(), N);
          int64_t nans = 0;
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(std::isnan(got[i]), std::isnan(want[i])) << "at " << i;
            if (!std::isnan(want[i])) {
              ASSERT_EQ(got[i], want[i]) << "at " << i;
            }
            nans += std::isnan(want[i]) ? 1 : 0;
          }
          EXPECT_GT(nans, 0) << "column 37 must meet the infinity or NaN";
        }
      }
    }
  }
}

}  // namespace
}  // namespace ember::kernels
