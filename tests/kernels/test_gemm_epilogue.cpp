// sgemm_bias_relu / dgemm_bias_relu: the epilogue (+ bias[j], then the ReLU) on every element of C
// exactly once, after its whole sum, on every path the driver takes: full and edge tiles, K in
// several slices, zero skipping in A and in B, C split by rows and by columns, several column
// blocks, 1 and 2 threads, the matrix-vector path (M or N of 1), K of 0; on each ISA path this
// CPU runs and on the AVX-512 kernels' 12-row geometry compiled for AVX2.
//
// The expected values come from the plain sgemm/dgemm of the same call followed by the epilogue
// written out here: the product's arithmetic is the same, so they must agree to the bit. (sgemm
// itself is checked against the reference loops in test_gemm.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ember/core/parallel.hpp"
#include "kernels/gemm.hpp"
#include "support/gemm_paths.hpp"
#include "support/kernel_state.hpp"

namespace ember::kernels {
namespace {

enum class Sparse { none, a, b };  // which operand is mostly zeros, so the driver skips them

struct Case {
  bool trans_a, trans_b;
  int64_t M, N, K;
  bool accumulate;  // beta 1 (else 0)
  Sparse sparse;
};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// C's rows have 3 padding elements past N holding a sentinel the call must leave alone.
template <class T>
void check_case(const Case& c, const testing::GemmPath& path, bool with_bias, bool relu,
                std::mt19937& rng) {
  std::uniform_real_distribution<T> dist(T(-1), T(1));
  const int64_t rows_a = c.trans_a ? c.K : c.M, cols_a = c.trans_a ? c.M : c.K;
  const int64_t rows_b = c.trans_b ? c.N : c.K, cols_b = c.trans_b ? c.K : c.N;
  const int64_t lda = cols_a + 1, ldb = cols_b + 2, ldc = c.N + 3;
  std::vector<T> A(static_cast<size_t>(rows_a * lda)), B(static_cast<size_t>(rows_b * ldb));
  for (auto& v : A) v = c.sparse == Sparse::a && rng() % 5 != 0 ? T(0) : dist(rng);
  for (auto& v : B) v = c.sparse == Sparse::b && rng() % 5 != 0 ? T(0) : dist(rng);
  std::vector<T> bias(static_cast<size_t>(c.N));
  for (auto& v : bias) v = dist(rng);
  const T sentinel = T(12345);
  std::vector<T> C0(static_cast<size_t>(c.M * ldc));
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < ldc; ++j) C0[i * ldc + j] = j < c.N ? dist(rng) : sentinel;
  std::vector<T> expected = C0, got = C0;
  const T beta = c.accumulate ? T(1) : T(0);
  testing::run_gemm(path, c.trans_a, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, beta,
                    expected.data(), ldc);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      T& v = expected[i * ldc + j];
      if (with_bias) v = v + bias[j];
      if (relu) v = v > T(0) ? v : T(0);
    }
  testing::run_gemm_bias_relu(path, c.trans_a, c.trans_b, c.M, c.N, c.K, A.data(), lda, B.data(),
                              ldb, beta, got.data(), ldc, with_bias ? bias.data() : nullptr, relu);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < ldc; ++j)
      ASSERT_TRUE(same_bits(got[i * ldc + j], expected[i * ldc + j]))
          << "at (" << i << "," << j << ") of M=" << c.M << " N=" << c.N << " K=" << c.K
          << " ta=" << c.trans_a << " tb=" << c.trans_b << " beta=" << c.accumulate
          << " sparse=" << static_cast<int>(c.sparse) << " bias=" << with_bias << " relu=" << relu
          << ": " << got[i * ldc + j] << " vs " << expected[i * ldc + j];
}

const std::vector<Case>& cases() {
  const Sparse no = Sparse::none;
  static const std::vector<Case> all = {
      {false, true, 1, 30, 784, false, no},            // one row: the matrix-vector path
      {false, true, 37, 1, 50, true, no},              // one column
      {false, false, 5, 7, 0, false, no},              // K = 0: C is the bias (or beta C)
      {false, true, 6, 16, 9, false, no},              // one whole tile
      {false, true, 13, 21, 33, true, no},             // edge tiles both ways
      {true, false, 30, 40, 300, false, no},           // A^T, K in two slices
      {true, true, 11, 19, 17, true, no},              // both transposed
      {false, true, 256, 30, 784, false, Sparse::a},   // a Linear's forward on sparse images
      {false, true, 200, 128, 600, true, Sparse::a},   // the same, accumulating, several slices
      {false, false, 64, 50, 40, false, no},           // row-major B
      {true, false, 30, 784, 256, false, Sparse::b},   // a weight gradient: C split by columns
      {true, false, 20, 3000, 50, true, no},           // wider than one block of columns (nc)
      {false, false, 40, 100, 70, false, Sparse::b}};  // B's zeros skipped, rows split
  return all;
}

// On every gemm path this CPU runs (support/gemm_paths.hpp), 1 and 2 threads.
template <class T>
void check_all(std::mt19937& rng) {
  for (const testing::GemmPath& path : testing::gemm_paths()) {
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      SCOPED_TRACE(std::string(path.name) + ", threads " + std::to_string(threads));
      for (const Case& c : cases())
        for (int b = 0; b < 2; ++b)
          for (int r = 0; r < 2; ++r) check_case<T>(c, path, b == 1, r == 1, rng);
    }
  }
}

TEST(GemmEpilogue, FloatMatchesProductThenBiasAndRelu) {
  ember::testing::RestoreThreadsAndIsa restore;
  std::mt19937 rng(7);
  check_all<float>(rng);
}

TEST(GemmEpilogue, DoubleMatchesProductThenBiasAndRelu) {
  ember::testing::RestoreThreadsAndIsa restore;
  std::mt19937 rng(8);
  check_all<double>(rng);
}

// ember::relu's rule: a NaN sum gives 0 under the ReLU (v > 0 is false), and stays NaN without it.
TEST(GemmEpilogue, ReluTurnsNanIntoZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // A [2, 3] with a NaN in row 0, B^T [2, 3]: C [2, 2]
  const std::vector<float> A = {1, nan, 2, 1, 2, 3}, B = {1, 1, 1, -1, -1, -1};
  const std::vector<float> bias = {0.5f, -0.5f};
  std::vector<float> C(4, 7.0f);
  sgemm_bias_relu(false, true, 2, 2, 3, A.data(), 3, B.data(), 3, 0.0f, C.data(), 2, bias.data(),
                  true);
  EXPECT_EQ(C[0], 0.0f);
  EXPECT_EQ(C[1], 0.0f);
  EXPECT_EQ(C[2], 6.5f);  // 1 + 2 + 3 + 0.5
  EXPECT_EQ(C[3], 0.0f);  // -6 - 0.5 < 0
  sgemm_bias_relu(false, true, 2, 2, 3, A.data(), 3, B.data(), 3, 0.0f, C.data(), 2, bias.data(),
                  false);
  EXPECT_TRUE(std::isnan(C[0]));
  EXPECT_EQ(C[3], -6.5f);
}

}  // namespace
}  // namespace ember::kernels
