// The matrix-vector paths of sgemm (M == 1 or N == 1) against the reference triple loop, in every
// transpose combination, with strided vectors, on both instruction-set paths.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ember/core/parallel.hpp"
#include "kernels/gemm.hpp"

using namespace ember::kernels;

TEST(Gemv, MatchesReferenceForOneRowOrColumn) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (Isa isa : {Isa::generic, Isa::avx2}) {
    force_isa(isa);
    for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1},
                                                              {1, 37, 5},
                                                              {256, 1, 784},
                                                              {1, 30, 256},
                                                              {784, 1, 256},
                                                              {9, 1, 33},
                                                              {1, 130, 7},
                                                              {1, 203, 40}}) {
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (float beta : {0.f, 1.f, 0.5f}) {
            const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
            std::vector<float> A(static_cast<size_t>((ta ? K : M) * lda)),
                B(static_cast<size_t>((tb ? N : K) * ldb)), C(static_cast<size_t>(M * ldc)), R;
            for (auto& v : A) v = dist(rng);
            for (auto& v : B) v = dist(rng);
            for (auto& v : C) v = dist(rng);
            R = C;
            sgemm(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
            sgemm_reference(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
            // float rounding of a K-term sum of products of values in [-1, 1]: |error| <= 2 K eps
            const double tol = 2.0 * static_cast<double>(K + 1) * 1.2e-7 + (beta ? 1e-6 : 0);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j)
                ASSERT_NEAR(C[static_cast<size_t>(i * ldc + j)],
                            R[static_cast<size_t>(i * ldc + j)], tol)
                    << M << "x" << N << "x" << K << " ta " << ta << " tb " << tb << " beta "
                    << beta;
          }
    }
  }
  force_isa(detected_isa());
}

// A row vector times a matrix (C = a B, M == 1) splits C's columns over the threads; each
// column is the same chain of fused multiply-adds wherever its chunk starts, so 1 and 2 threads
// give the same bits (1203 columns: whole 8-column vectors and a masked last one; 842,100
// multiply-adds, enough for gemv.cpp's kMinChunkWork to split them over two threads, the chunks
// meeting inside a vector).
TEST(Gemv, RowVectorProductIsBitIdenticalAcrossThreadCounts) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t N = 1203, K = 700;
  std::vector<float> a(K), B(static_cast<size_t>(K * N));
  for (auto& v : a) v = dist(rng);
  for (auto& v : B) v = dist(rng);
  std::vector<float> c1(N), c2(N);
  const int before = ember::get_num_threads();
  ember::set_num_threads(1);
  sgemm(false, false, 1, N, K, a.data(), K, B.data(), N, 0.f, c1.data(), N);
  ember::set_num_threads(2);
  sgemm(false, false, 1, N, K, a.data(), K, B.data(), N, 0.f, c2.data(), N);
  ember::set_num_threads(before);
  for (int64_t j = 0; j < N; ++j)
    ASSERT_EQ(c1[static_cast<size_t>(j)], c2[static_cast<size_t>(j)]) << j;
}

// C = A^T x (trans_a, N == 1) on the AVX2 path is, per column j, one chain of fused multiply-adds
// in k order starting from 0, C[j] or beta * C[j]: the same bits as std::fma in a plain loop
// (the derivation of the kernel's order, so any reordering or dropped row fails). Shapes cover
// K not a multiple of 4, a masked last vector, and more columns than one block of 2048; with
// beta 0, C starts as NaN, which must not reach the result.
TEST(Gemv, TransposedColumnsAreOneFmaChainPerColumn) {
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  force_isa(Isa::avx2);
  for (auto [M, K] : std::vector<std::array<int64_t, 2>>{
           {784, 256}, {7, 3}, {13, 5}, {2051, 9}, {4100, 6}, {8, 1}}) {
    for (float beta : {0.f, 1.f, 0.5f}) {
      const int64_t lda = M + 3;  // A: K rows of lda, C = A^T x has M entries
      std::vector<float> A(static_cast<size_t>(K * lda)), x(static_cast<size_t>(K)),
          C(static_cast<size_t>(M));
      for (auto& v : A) v = dist(rng);
      for (auto& v : x) v = dist(rng);
      for (auto& v : C) v = beta == 0.f ? std::nanf("") : dist(rng);  // beta 0: C is not read
      std::vector<float> want(C);
      for (int64_t j = 0; j < M; ++j) {
        float s = beta == 0.f ? 0.f : beta == 1.f ? want[j] : beta * want[j];
        for (int64_t k = 0; k < K; ++k) s = std::fma(x[k], A[k * lda + j], s);
        want[j] = s;
      }
      sgemm(true, false, M, 1, K, A.data(), lda, x.data(), 1, beta, C.data(), 1);
      for (int64_t j = 0; j < M; ++j)
        ASSERT_EQ(C[static_cast<size_t>(j)], want[static_cast<size_t>(j)])
            << M << "x" << K << " beta " << beta << " column " << j;
    }
  }
  force_isa(detected_isa());
}

#include "kernels/convert.hpp"

TEST(Convert, U8ToUnitFloatIsExactDivision) {
  std::vector<std::uint8_t> src(1000);  // every byte value, in a scrambled order
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint8_t>((i * 37) % 256);
  std::vector<float> fast(src.size()), ref(src.size());
  for (Isa isa : {Isa::generic, Isa::avx2}) {
    force_isa(isa);
    for (int64_t n : {0, 1, 15, 16, 17, 1000}) {
      ember::kernels::u8_to_unit_float(src.data(), fast.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(fast[static_cast<size_t>(i)],
                  static_cast<float>(src[static_cast<size_t>(i)]) / 255.0f);
    }
  }
  force_isa(detected_isa());
}
