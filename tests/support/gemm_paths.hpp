#pragma once
// The gemm paths this CPU can run, for the kernel tests: each as a forced instruction set (sgemm,
// dgemm) or as a set of kernels the driver runs instead of the active one (gemm_with): generic,
// AVX2, the AVX-512 kernels' geometry compiled for AVX2, and AVX-512 itself, each with the
// row-sparse path off (the tiled kernels and their zero skipping) and, but for generic, with it on
// (what sgemm runs; it takes the float products with a mostly-zero A read in rows).
#include <type_traits>
#include <vector>

#include "kernels/gemm.hpp"

namespace ember::testing {

struct GemmPath {
  const char* name;
  kernels::Isa isa;
  const kernels::GemmKernels* kernels;  // null: sgemm / dgemm on `isa`
  bool sparse_rows = false;             // kernels::allow_sparse_rows
};

inline std::vector<GemmPath> gemm_paths() {
  using kernels::Isa;
  const auto has = [](Isa isa) {
    return static_cast<int>(kernels::detected_isa()) >= static_cast<int>(isa);
  };
  std::vector<GemmPath> out = {{"generic", Isa::generic, nullptr}};
#if defined(__x86_64__) || defined(__i386__)
  if (has(Isa::avx2)) {
    out.push_back({"avx2", Isa::avx2, nullptr});
    out.push_back({"avx2 with the row-sparse path", Isa::avx2, nullptr, true});
    out.push_back({"avx512 geometry on avx2", Isa::avx2, &kernels::avx2_wide_kernels()});
    out.push_back({"avx512 geometry on avx2 with the row-sparse path", Isa::avx2,
                   &kernels::avx2_wide_kernels(), true});
  }
  if (has(Isa::avx512)) {
    out.push_back({"avx512", Isa::avx512, nullptr});
    out.push_back({"avx512 with the row-sparse path", Isa::avx512, nullptr, true});
  }
#endif
  return out;
}

// C = op(A) op(B) + beta C on `path` (its instruction set forced first), through
// sgemm_bias_relu / dgemm_bias_relu's epilogue (bias [N] or null, relu).
template <class T>
void run_gemm_bias_relu(const GemmPath& path, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                        const T* A, int64_t lda, const T* B, int64_t ldb,
                        std::type_identity_t<T> beta, T* C, int64_t ldc, const T* bias, bool relu) {
  kernels::force_isa(path.isa);
  kernels::allow_sparse_rows(path.sparse_rows);
  if (path.kernels != nullptr) {
    kernels::gemm_with(path.kernels->get<T>(), ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bias,
                       relu);
  } else if constexpr (std::is_same_v<T, float>) {
    kernels::sgemm_bias_relu(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu);
  } else {
    kernels::dgemm_bias_relu(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, relu);
  }
}

// The same without the epilogue (sgemm and dgemm are the epilogue-free calls of the same).
template <class T>
void run_gemm(const GemmPath& path, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A,
              int64_t lda, const T* B, int64_t ldb, std::type_identity_t<T> beta, T* C,
              int64_t ldc) {
  run_gemm_bias_relu<T>(path, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, nullptr, false);
}

}  // namespace ember::testing
