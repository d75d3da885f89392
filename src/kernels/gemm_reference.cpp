// Reference matrix multiplies: three plain loops, k summed in order, one thread. Tests compare the
// fast kernels against these.
#include "kernels/gemm.hpp"

namespace ember::kernels {
namespace {

// A: op(A) [M,K], B: op(B) [K,N], C: [M,N]
template <class T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? acc : acc + beta * c;
    }
  }
}

}  // namespace

void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_reference(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void dgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A,
                     int64_t lda, const double* B, int64_t ldb, double beta, double* C,
                     int64_t ldc) {
  gemm_reference(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ember::kernels
