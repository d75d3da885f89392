// AVX-512F micro-kernels: 12x32 floats and 12x16 doubles, the body micro_tile (gemm_micro.hpp)
// with 64-byte vectors. 24 zmm accumulators, two B vectors and one broadcast fit in the 32 zmm
// registers; one k step issues 24 FMAs for 2 loads of B and 12 broadcasts of A.
//
// The same source compiled for AVX2 (gemm_avx2.cpp, avx2_wide_*) is what the tests check on CPUs
// without AVX-512. Blocks equal the AVX2 kernel's (kc 256, so K is sliced the same way and both
// paths give the same bits); mc and nc are multiples of 12 and 32. Only this file's functions
// carry the avx512f target; gemm.cpp calls them only when the CPU and OS support AVX-512F.
#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/vectors.hpp"

// Everything defined from here on, micro_tile included, is compiled for AVX-512F.
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")

#include "kernels/fma_avx512.hpp"
#include "kernels/gemm_micro.hpp"
#include "kernels/gemm_sparse_row.hpp"

#pragma GCC pop_options

namespace ember::kernels {

// The row-sparse path's kernel: 64-column blocks in four zmm accumulators (gemm_sparse_row.hpp),
// so that each nonzero's FMAs do twice the columns of the AVX2 kernel's. On the device host's Xeon
// (AVX-512, two CPUs of distinct cores, `bench_workloads --only simple_net,mlp,inference --runs
// 3`, three rounds alternating with 3fe2b86, which ran the AVX2 kernel and listing): the inference
// 0.073-0.083 -> 0.053-0.056 s (1.08-1.13 million images/s), the MLP 0.92-1.02 -> 0.79-0.90 s,
// simple_net 0.62-0.71 -> 0.55-0.71 s. Blocks of 128 columns (eight zmm accumulators) were tried
// beside: no steadier gain on the inference or the MLP in the same rounds, and a 30-column product
// then ran at half speed (its half-width path still 64 columns wide).
const GemmKernels& avx512_kernels() {
  static const GemmKernels kernels = [] {
    GemmKernels k = tile_kernels<Floats16, Doubles8, Fma, 12>();
    k.f.sparse_row = sparse_row<Floats16, Fma, 4>, k.f.sparse_width = 64;
    return k;
  }();
  return kernels;
}

}  // namespace ember::kernels

#endif  // x86
