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

#pragma GCC pop_options

namespace ember::kernels {

// The row-sparse path's kernel: 64-column blocks (gemm_sparse_avx512.cpp).
const GemmKernels& avx512_kernels() {
  static const GemmKernels kernels = [] {
    GemmKernels k = tile_kernels<Floats16, Doubles8, Fma, 12>();
    k.f.sparse_row = sparse_row_avx512, k.f.sparse_width = 64;
    return k;
  }();
  return kernels;
}

}  // namespace ember::kernels

#endif  // x86
