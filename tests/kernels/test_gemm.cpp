// sgemm/dgemm against the reference loops, on every path the CPU has, and the thread pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "ember/core/parallel.hpp"
#include "kernels/gemm.hpp"
#include "support/gemm_paths.hpp"
#include "support/kernel_state.hpp"

namespace ember::kernels {
namespace {

using Restore = ember::testing::RestoreThreadsAndIsa;

template <class T>
std::vector<T> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<T> dist(T(-1), T(1));
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Case {
  bool trans_a, trans_b;
  int64_t M, N, K;
  float beta;
  int64_t pad;  // extra leading-dimension elements beyond the logical row length
};

// Runs sgemm and sgemm_reference on the same random data and compares element by element.
//
// Tolerance: both sum K products of values in [-1, 1], but in different orders (the fast kernel
// sums kc-long slices with FMA and adds the slices; the reference rounds each product and adds in
// order). Each float sum of K terms carries at most about K * eps * sum|a_ik * b_kj| of rounding
// error (standard bound, eps = 2^-24), so two such sums differ by at most twice that. We allow
// 2 * K * eps * sum|a*b| plus the beta*|C| term: still orders of magnitude below any indexing bug,
// which produces errors of order |a*b| ~ 1.
// With `kernel` the driver runs that kernel (gemm_with), else sgemm picks the active path.
void check_sgemm(const Case& c, std::mt19937& rng, const GemmKernel<float>* kernel = nullptr) {
  const int64_t rows_a = c.trans_a ? c.K : c.M, cols_a = c.trans_a ? c.M : c.K;
  const int64_t rows_b = c.trans_b ? c.N : c.K, cols_b = c.trans_b ? c.K : c.N;
  const int64_t lda = cols_a + c.pad, ldb = cols_b + c.pad, ldc = c.N + c.pad;
  const auto A = random_values<float>(rows_a * lda, rng);
  const auto B = random_values<float>(rows_b * ldb, rng);
  auto C0 = random_values<float>(c.M * ldc, rng);
  if (c.beta == 0.0f)  // with beta 0 the old C must be ignored, NaN included
    for (auto& x : C0) x = std::numeric_limits<float>::quiet_NaN();
  auto C = C0, R = C0;
  if (kernel != nullptr) {
    gemm_with(*kernel, c.trans_a, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, c.beta,
              C.data(), ldc);
  } else {
    sgemm(c.trans_a, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  }
  sgemm_reference(c.trans_a, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, c.beta,
                  R.data(), ldc);
  const double eps = std::numeric_limits<float>::epsilon() / 2;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double abs_sum = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const float a = c.trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = c.trans_b ? B[j * ldb + k] : B[k * ldb + j];
        abs_sum += std::fabs(double(a) * b);
      }
      if (c.beta != 0.0f) abs_sum += std::fabs(C0[i * ldc + j]);
      const double tol = 2.0 * double(c.K + 1) * eps * abs_sum + 1e-30;
      ASSERT_NEAR(C[i * ldc + j], R[i * ldc + j], tol)
          << "at (" << i << "," << j << ") of M=" << c.M << " N=" << c.N << " K=" << c.K
          << " ta=" << c.trans_a << " tb=" << c.trans_b << " beta=" << c.beta;
    }
    // The padding between rows must be untouched.
    for (int64_t j = c.N; j < ldc; ++j) {
      if (c.beta == 0.0f) {
        ASSERT_TRUE(std::isnan(C[i * ldc + j]));
      } else {
        ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]);
      }
    }
  }
}

std::vector<Case> sgemm_cases() {
  std::vector<Case> cases;
  const int64_t sizes[][3] = {
      {1, 1, 1},      {1, 7, 1},     {7, 1, 17},   {6, 16, 8},    {17, 33, 7},
      {33, 17, 255},  {255, 30, 64}, {13, 257, 5}, {64, 64, 300}, {100, 40, 513},
      {257, 33, 17},  {40, 100, 37},  // row-major A in place at 8 panels of 16 (7 at nr 16)
      {40, 300, 37},                  // packed A: N past 8 panels of 32, K past 8-blocks
      {30, 70, 603},     // row-major B in place over 3 K slices, its last 6 columns packed
      {30, 784, 256},    // 2 threads: column units sharing op(A) packed once (a weight gradient)
      {13, 1100, 300}};  // the same with a short last row panel, 2 K slices, 12x32 tiles too
  for (const auto& s : sizes)
    for (int t = 0; t < 4; ++t)
      for (float beta : {0.0f, 1.0f})
        cases.push_back({(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], beta, t == 3 ? 3 : 0});
  return cases;
}

void check_all_cases(Isa isa, const GemmKernel<float>* kernel = nullptr) {
  Restore restore;
  force_isa(isa);
  std::mt19937 rng(42);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : sgemm_cases()) {
      check_sgemm(c, rng, kernel);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

bool has(Isa isa) { return static_cast<int>(detected_isa()) >= static_cast<int>(isa); }

using Path = ember::testing::GemmPath;
using ember::testing::run_gemm;
std::vector<Path> paths() { return ember::testing::gemm_paths(); }

TEST(Gemm, GenericMatchesReference) { check_all_cases(Isa::generic); }

TEST(Gemm, Avx2MatchesReference) {
  if (!has(Isa::avx2)) GTEST_SKIP() << "CPU has no AVX2";
  check_all_cases(Isa::avx2);
}

#if defined(__x86_64__) || defined(__i386__)
// The AVX-512 kernel's source and 12 x 32 tile, compiled for AVX2: runs on any AVX2 CPU, so the
// AVX-512 path's indexing, edges and blocking are tested even where the CPU lacks AVX-512.
TEST(Gemm, Avx512GeometryOnAvx2MatchesReference) {
  if (!has(Isa::avx2)) GTEST_SKIP() << "CPU has no AVX2";
  check_all_cases(Isa::avx2, &avx2_wide_kernels().f);
}
#endif

TEST(Gemm, Avx512MatchesReference) {
  if (!has(Isa::avx512)) {
    GTEST_SKIP() << "CPU has no AVX-512F: its geometry is tested compiled for AVX2 "
                    "(Avx512GeometryOnAvx2MatchesReference)";
  }
  {
    Restore restore;
    force_isa(Isa::avx512);
    EXPECT_EQ(active_isa(), Isa::avx512);  // the CPU has it, so forcing it is not clamped
  }
  check_all_cases(Isa::avx512);
}

// EMBER_ISA=avx2 (or force_isa) turns the AVX-512 path off: sgemm then runs the AVX2 kernel.
TEST(Gemm, Avx512CanBeForcedOff) {
  Restore restore;
  force_isa(Isa::avx2);
  EXPECT_EQ(active_isa(), has(Isa::avx2) ? Isa::avx2 : Isa::generic);
  force_isa(Isa::avx512);
  EXPECT_EQ(active_isa(), detected_isa());
}

// Every vector kernel computes each element as acc = fma(a_k, b_k, acc) over k in order from
// zero, then C = acc or C + acc (gemm_micro.hpp). With K within one kc slice (256) that is the
// whole product, so std::fma in the same order gives the expected bits exactly: a kernel compiled
// without fused multiply-adds, or summing in another order, fails here.
TEST(Gemm, VectorKernelsSumWithFmaInOrder) {
  Restore restore;
  std::mt19937 rng(5);
  const int64_t M = 29, N = 70, K = 200;
  const auto A = random_values<float>(M * K, rng);
  const auto B = random_values<float>(K * N, rng);
  const auto C0 = random_values<float>(M * N, rng);
  const auto Ad = random_values<double>(M * K, rng);
  const auto Bd = random_values<double>(K * N, rng);
  const auto C0d = random_values<double>(M * N, rng);
  int checked = 0;
  for (const Path& path : paths()) {
    if (path.isa == Isa::generic) continue;  // portable C++: the compiler may not fuse
    force_isa(path.isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (float beta : {0.0f, 1.0f}) {
        auto C = C0;
        run_gemm(path, false, false, M, N, K, A.data(), K, B.data(), N, beta, C.data(), N);
        auto Cd = C0d;
        run_gemm(path, false, false, M, N, K, Ad.data(), K, Bd.data(), N, beta, Cd.data(), N);
        for (int64_t i = 0; i < M; ++i) {
          for (int64_t j = 0; j < N; ++j) {
            float acc = 0.0f;
            double accd = 0.0;
            for (int64_t k = 0; k < K; ++k) {
              acc = std::fma(A[i * K + k], B[k * N + j], acc);
              accd = std::fma(Ad[i * K + k], Bd[k * N + j], accd);
            }
            if (beta != 0.0f) acc = C0[i * N + j] + acc, accd = C0d[i * N + j] + accd;
            ASSERT_EQ(C[i * N + j], acc) << path.name << " float (" << i << "," << j << ")";
            ASSERT_EQ(Cd[i * N + j], accd) << path.name << " double (" << i << "," << j << ")";
          }
        }
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "CPU has no AVX2: no vector kernel to check";
}

// All vector paths slice K the same way (kc 256) and sum each slice with FMA in order, so they
// agree to the bit on long K as well, whatever the tile shape (6x16 or 12x32).
TEST(Gemm, VectorPathsAgreeBitwise) {
  Restore restore;
  std::mt19937 rng(9);
  const int64_t shapes[][3] = {{256, 128, 784}, {784, 30, 256}, {30, 784, 256}, {37, 53, 600}};
  for (const auto& s : shapes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      const auto A = random_values<float>(M * K, rng);
      const auto B = random_values<float>(K * N, rng);
      std::vector<float> first;
      for (const Path& path : paths()) {
        if (path.isa == Isa::generic) continue;
        force_isa(path.isa);
        std::vector<float> C(M * N, 0.25f);
        run_gemm(path, ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, 1.0f, C.data(),
                 N);
        if (first.empty()) {
          first = C;
        } else {
          ASSERT_EQ(0, std::memcmp(first.data(), C.data(), C.size() * sizeof(float)))
              << path.name << " vs avx2, M=" << M << " N=" << N << " K=" << K << " ta=" << ta
              << " tb=" << tb;
        }
      }
    }
  }
}

TEST(Gemm, ForceIsaClampsToCpu) {
  Restore restore;
  force_isa(Isa::avx512);
  EXPECT_LE(static_cast<int>(active_isa()), static_cast<int>(detected_isa()));
  force_isa(Isa::generic);
  EXPECT_EQ(active_isa(), Isa::generic);
}

TEST(Gemm, RandomShapes) {
  Restore restore;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> size(1, 70);
  for (const Path& path : paths()) {
    force_isa(path.isa);
    for (int n = 0; n < 40; ++n) {
      const Case c{(n & 1) != 0, (n & 2) != 0, size(rng),
                   size(rng),    size(rng),    (n & 4) != 0 ? 1.0f : 0.0f,
                   n % 3};
      check_sgemm(c, rng, path.kernels != nullptr ? &path.kernels->f : nullptr);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// The same product computed with 1 and 2 threads (and through the different row / column splits
// that brings) must agree to the bit, on every path.
TEST(Gemm, BitIdenticalAcrossThreadCounts) {
  Restore restore;
  std::mt19937 rng(3);
  const int64_t shapes[][3] = {{256, 30, 784},  {784, 30, 256},   {256, 784, 30},
                               {10, 300, 600},  {1000, 128, 784}, {67, 129, 700},
                               {128, 784, 256}, {30, 784, 256},   {13, 1100, 300}};
  for (const Path& path : paths()) {
    force_isa(path.isa);
    for (const auto& s : shapes) {
      const int64_t M = s[0], N = s[1], K = s[2];
      for (int t = 0; t < 4; ++t) {
        const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
        const auto A = random_values<float>(M * K, rng);
        const auto B = random_values<float>(K * N, rng);
        std::vector<float> C1(M * N, 0.5f), C2(M * N, 0.5f);
        set_num_threads(1);
        run_gemm(path, ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, 1.0f, C1.data(),
                 N);
        set_num_threads(2);
        run_gemm(path, ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, 1.0f, C2.data(),
                 N);
        ASSERT_EQ(0, std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float)))
            << path.name << " M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb;
      }
    }
  }
}

TEST(Gemm, KZeroAndEmpty) {
  std::vector<float> C(12, std::numeric_limits<float>::quiet_NaN());
  sgemm(false, false, 3, 4, 0, nullptr, 1, nullptr, 4, 0.0f, C.data(), 4);
  for (float x : C) EXPECT_EQ(x, 0.0f);
  std::vector<float> D(12, 2.0f);
  sgemm(false, false, 3, 4, 0, nullptr, 1, nullptr, 4, 1.0f, D.data(), 4);
  for (float x : D) EXPECT_EQ(x, 2.0f);
  sgemm(false, false, 0, 4, 5, nullptr, 5, nullptr, 4, 0.0f, nullptr, 4);  // nothing to do
}

// dgemm in double: the same rounding argument with eps = 2^-53.
TEST(Gemm, DgemmMatchesReference) {
  Restore restore;
  std::mt19937 rng(11);
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 9, 13}, {33, 17, 257}, {130, 70, 300}};
  for (const Path& path : paths()) {
    force_isa(path.isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (const auto& s : shapes) {
        for (int t = 0; t < 4; ++t) {
          const int64_t M = s[0], N = s[1], K = s[2];
          const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
          const auto A = random_values<double>(M * K, rng);
          const auto B = random_values<double>(K * N, rng);
          auto C = random_values<double>(M * N, rng);
          auto R = C;
          const double beta = (t & 1) != 0 ? 1.0 : 0.0;
          run_gemm(path, ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, beta,
                   C.data(), N);
          dgemm_reference(ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, beta,
                          R.data(), N);
          for (size_t i = 0; i < C.size(); ++i)
            ASSERT_NEAR(C[i], R[i], 2.0 * double(K + 1) * 1.2e-16 * double(K + 1)) << path.name;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ember::kernels

namespace ember {
namespace {

TEST(ParallelFor, CoversRangeExactlyOnce) {
  const int saved = get_num_threads();
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 2, 5, 100, 10007}) {
      for (int64_t grain : {1, 7, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> chunks{0};
        parallel_for(10, 10 + n, grain, [&](int64_t b, int64_t e) {
          ASSERT_LT(b, e);
          ++chunks;
          for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i - 10)];
        });
        for (auto& h : hits) ASSERT_EQ(h.load(), 1);
        EXPECT_LE(chunks.load(), threads);
        if (n > 0) {
          EXPECT_LE(chunks.load(), std::max<int64_t>(1, n / grain));
        }
      }
    }
  }
  set_num_threads(saved);
}

TEST(ParallelFor, PropagatesExceptions) {
  const int saved = get_num_threads();
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    EXPECT_THROW(
        parallel_for(0, 1000, 1, [](int64_t, int64_t) { throw std::runtime_error("boom"); }),
        std::runtime_error);
    // Only the last chunk throws.
    EXPECT_THROW(parallel_for(0, 1000, 1,
                              [](int64_t, int64_t e) {
                                if (e == 1000) throw std::out_of_range("last");
                              }),
                 std::out_of_range);
    // The pool still works afterwards.
    std::atomic<int64_t> sum{0};
    parallel_for(0, 1000, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  }
  set_num_threads(saved);
}

TEST(ParallelFor, NestedCallsRunInline) {
  const int saved = get_num_threads();
  set_num_threads(2);
  std::vector<std::atomic<int>> hits(100 * 50);
  parallel_for(0, 100, 1, [&](int64_t b, int64_t e) {
    EXPECT_TRUE(in_parallel_region());
    for (int64_t i = b; i < e; ++i) {
      parallel_for(0, 50, 1, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) ++hits[static_cast<size_t>(i * 50 + j)];
      });
    }
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  EXPECT_FALSE(in_parallel_region());
  set_num_threads(saved);
}

TEST(ParallelFor, ManySmallCallsFromSeveralThreads) {
  const int saved = get_num_threads();
  set_num_threads(2);
  std::atomic<int64_t> total{0};
  auto body = [&] {
    for (int rep = 0; rep < 2000; ++rep)
      parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
        // on the pool, or inline while the other thread holds it: a region either way
        EXPECT_TRUE(in_parallel_region());
        total += e - b;
      });
  };
  std::thread other(body);
  body();
  other.join();
  EXPECT_EQ(total.load(), 2 * 2000 * 64);
  set_num_threads(saved);
}

}  // namespace
}  // namespace ember
