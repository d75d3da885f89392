// The AVX-512F kernel of sgemm's row-sparse path (gemm.hpp, gemm_sparse.cpp): sparse_row
// (gemm_sparse_row.hpp) on 64-column blocks in four zmm accumulators, so that each nonzero's FMAs
// do twice the columns of the AVX2 kernel's. The same source and geometry compiled for AVX2
// (sparse_row_avx2_wide) is what the tests check on CPUs without AVX-512. Only this file's
// functions carry the avx512f target; gemm.cpp calls it only when the CPU and OS support AVX-512F.
//
// On the device host's Xeon (AVX-512, two CPUs of distinct cores, `bench_workloads --only
// simple_net,mlp,inference --runs 3`, three rounds alternating with the build before, which ran
// the AVX2 kernel and listing): the inference 0.073-0.083 -> 0.053-0.056 s (1.08-1.13 million
// images/s), the MLP 0.92-1.02 -> 0.79-0.90 s, simple_net 0.62-0.71 -> 0.55-0.71 s. Blocks of
// 128 columns (eight zmm accumulators) were tried beside: no steadier gain on the inference or
// the MLP in the same rounds, and a 30-column product then ran at half speed (its half-width
// path still 64 columns wide).
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cstdint>

#include "kernels/vectors.hpp"

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")

#include "kernels/fma_avx512.hpp"
#include "kernels/gemm_sparse_row.hpp"

namespace ember::kernels {

void sparse_row_avx512(int64_t n, const int32_t* kidx, const float* vals, const float* bp,
                       int64_t kc, bool accumulate, const float* bias, bool relu, float* c,
                       int64_t w) {
  sparse_row<Floats16, Fma, 4>(n, kidx, vals, bp, kc, accumulate, bias, relu, c, w);
}

}  // namespace ember::kernels

#pragma GCC pop_options

#endif  // x86
