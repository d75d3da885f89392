#pragma once
// Matrix-vector products: the gemm shapes with one output row or column (M == 1 or N == 1), where
// the packed gemm would waste most of its register tile. Same contract as sgemm in gemm.hpp;
// every output element is summed in one fixed order whatever the thread count.
#include <cstdint>

namespace ember::kernels {

// Handles sgemm when M == 1 or N == 1 (returns false, doing nothing, otherwise).
bool sgemv_dispatch(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace ember::kernels
