// Matrix-vector kernels: dot products of contiguous rows (y[i] = A[i,:] . x) and row updates
// (y += x[k] * A[k,:]), with AVX2+FMA variants chosen at run time and plain loops beside them.
#include "kernels/gemv.hpp"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "ember/core/parallel.hpp"
#include "kernels/avx2_util.hpp"
#include "kernels/gemm.hpp"

namespace ember::kernels {

namespace {

// At least this many multiply-adds per chunk (~40 us on one core). A matrix-vector product reads
// its matrix once, at the cache's pace: the linear model's 256 x 784 batch (x w and x^T g, 200K
// multiply-adds each) took the same time split over two threads as on one (19-21 against 18-19
// us, and 15-16 us both, in cache, 2 threads), and in training, where the pool's other thread
// is gathering the next batch, the split cost time: with 65,536 here, `bench_workloads --only
// linear` on 2 threads, 10 alternating pairs, median 0.086 s; with this, 0.069 s.
constexpr int64_t kMinChunkWork = 1 << 18;

// ---- plain references ----
float dot_plain(const float* a, const float* x, int64_t n) {
  // eight partial sums, as the AVX2 kernel keeps, so both paths sum in a similar order
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[k + l] * x[k + l];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; k < n; ++k) s += a[k] * x[k];
  return s;
}

void axpy_plain(float alpha, const float* a, float* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * a[j];
}

// ---- AVX2 + FMA ----
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(x + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(x + k + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16), _mm256_loadu_ps(x + k + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24), _mm256_loadu_ps(x + k + 24), s3);
  }
  for (; k + 8 <= n; k += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(x + k), s0);
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float r = _mm_cvtss_f32(h);
  for (; k < n; ++k) r += a[k] * x[k];
  return r;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float alpha, const float* a, float* y,
                                                   int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(a + j), _mm256_loadu_ps(y + j)));
  for (; j < n; ++j) y[j] += alpha * a[j];
}

// y[j] for j < n: y0 + sum over k < K of x[k] * A[k * lda + j], y0 = 0, y[j] or beta * y[j] as
// beta is 0, 1 or other. Each column is one fma chain in k order (as K axpy_avx2 passes),
// kept in y itself: A is read along its rows, four rows a step, with one load and one store of y
// per vector and step (y's block stays in L1), so the hardware prefetcher can follow A. The order
// this replaced (a block of columns in registers across all of K, A read down its columns) took
// 29-39 us where this takes 20-26 on a 256 x 784 batch just written (AMD EPYC, medians of 400
// calls, four runs). Columns go in blocks of kColumnBlock, so that a wide y still fits L1; where
// n is not a multiple of 8, the last block's last vector stops at n through a lane mask.
constexpr int64_t kColumnBlock = 2048;

// kRows rows of A from a, times their factors x[0 .. kRows), into y[0, n): whole vectors, then a
// masked one.
template <int kRows>
__attribute__((target("avx2,fma"), always_inline)) inline void columns_step_avx2(
    int64_t n, const float* a, int64_t lda, const float* x, float* y, __m256i tail) {
  __m256 xk[kRows];
  for (int r = 0; r < kRows; ++r) xk[r] = _mm256_set1_ps(x[r]);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 s = _mm256_loadu_ps(y + j);
    for (int r = 0; r < kRows; ++r) s = _mm256_fmadd_ps(xk[r], _mm256_loadu_ps(a + r * lda + j), s);
    _mm256_storeu_ps(y + j, s);
  }
  if (j < n) {
    __m256 s = _mm256_maskload_ps(y + j, tail);
    for (int r = 0; r < kRows; ++r)
      s = _mm256_fmadd_ps(xk[r], _mm256_maskload_ps(a + r * lda + j, tail), s);
    _mm256_maskstore_ps(y + j, tail, s);
  }
}

__attribute__((target("avx2,fma"))) void columns_avx2(int64_t n, int64_t K, const float* A,
                                                      int64_t lda, const float* x, float beta,
                                                      float* y) {
  for (int64_t j0 = 0; j0 < n; j0 += kColumnBlock) {
    const int64_t m = std::min(kColumnBlock, n - j0);
    float* yb = y + j0;
    const __m256i tail = first_lanes(m % 8);
    if (beta != 1.f) {
      const __m256 vb = _mm256_set1_ps(beta);
      int64_t j = 0;
      for (; j + 8 <= m; j += 8)
        _mm256_storeu_ps(
            yb + j, beta == 0.f ? _mm256_setzero_ps() : _mm256_mul_ps(vb, _mm256_loadu_ps(yb + j)));
      if (j < m)
        _mm256_maskstore_ps(yb + j, tail,
                            beta == 0.f ? _mm256_setzero_ps()
                                        : _mm256_mul_ps(vb, _mm256_maskload_ps(yb + j, tail)));
    }
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) columns_step_avx2<4>(m, A + k * lda + j0, lda, x + k, yb, tail);
    for (; k < K; ++k) columns_step_avx2<1>(m, A + k * lda + j0, lda, x + k, yb, tail);
  }
}

using DotFn = float (*)(const float*, const float*, int64_t);
using AxpyFn = void (*)(float, const float*, float*, int64_t);

// y[i] (stride incy) = dot(A row i, x) for i < rows, rows of A contiguous with leading dim lda.
void rows_dot(int64_t rows, int64_t K, const float* A, int64_t lda, const float* x, float beta,
              float* y, int64_t incy, DotFn dot) {
  const int64_t grain = std::max<int64_t>(1, kMinChunkWork / std::max<int64_t>(K, 1));
  parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      const float d = dot(A + i * lda, x, K);
      y[i * incy] = beta == 0.f ? d : beta * y[i * incy] + d;
    }
  });
}

// y[j] (contiguous, n of them) = beta*y + sum_k x[k] * A[k, j] (rows of A contiguous, lda):
// by columns_avx2 (avx2 and x contiguous), else by K axpy passes.
void rows_axpy(int64_t n, int64_t K, const float* A, int64_t lda, const float* x, int64_t incx,
               float beta, float* y, AxpyFn axpy, bool avx2) {
  const int64_t grain = std::max<int64_t>(64, kMinChunkWork / std::max<int64_t>(K, 1));
  parallel_for(0, n, grain, [&](int64_t j0, int64_t j1) {
    float* yy = y + j0;
    const int64_t len = j1 - j0;
    if (avx2 && incx == 1) {
      columns_avx2(len, K, A + j0, lda, x, beta, yy);
      return;
    }
    if (beta == 0.f) {
      for (int64_t j = 0; j < len; ++j) yy[j] = 0.f;
    } else if (beta != 1.f) {
      for (int64_t j = 0; j < len; ++j) yy[j] *= beta;
    }
    for (int64_t k = 0; k < K; ++k) axpy(x[k * incx], A + k * lda + j0, yy, len);
  });
}

// A contiguous copy of a strided vector (thread-local, reused).
const float* contiguous_vector(const float* v, int64_t n, int64_t inc) {
  if (inc == 1) return v;
  thread_local std::vector<float> buf;
  buf.resize(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[static_cast<std::size_t>(i)] = v[i * inc];
  return buf.data();
}

}  // namespace

bool sgemv_dispatch(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if ((M != 1 && N != 1) || K == 0) return false;
  const bool avx2 = active_isa() != Isa::generic;
  const DotFn dot = avx2 ? dot_avx2 : dot_plain;
  const AxpyFn axpy = avx2 ? axpy_avx2 : axpy_plain;
  if (N == 1) {
    // x = op(B)[:, 0]: element k at B[k*ldb] (no transpose) or B[k] (transposed)
    const float* x = contiguous_vector(B, K, trans_b ? 1 : ldb);
    if (!trans_a)
      rows_dot(M, K, A, lda, x, beta, C, ldc, dot);  // C[i] = A[i,:] . x
    else if (ldc == 1 || M == 1)
      rows_axpy(M, K, A, lda, x, 1, beta, C, axpy, avx2);  // C = A^T x
    else
      return false;
    return true;
  }
  // M == 1: C[0, j] = sum_k a[k] * op(B)(k, j), a[k] at A[k] (no transpose) or A[k*lda]
  const float* a = contiguous_vector(A, K, trans_a ? lda : 1);
  if (trans_b)
    rows_dot(N, K, B, ldb, a, beta, C, 1, dot);  // C[j] = B[j,:] . a
  else
    rows_axpy(N, K, B, ldb, a, 1, beta, C, axpy, avx2);  // C += a[k] * B[k,:]
  return true;
}

}  // namespace ember::kernels
