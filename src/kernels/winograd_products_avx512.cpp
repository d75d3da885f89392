// The Winograd products for AVX-512F (winograd_products.hpp): 64-byte vectors in blocks of 8 rows
// by 3 vectors (24 zmm accumulators, three B vectors and a broadcast in the 32 registers), a last
// 8 columns in a ymm vector. The same source compiled for AVX2 (winograd_products_avx2.cpp,
// products_avx2_wide) is what the tests check on CPUs without AVX-512; both give the AVX2
// products' bits. Only this file's functions carry the avx512f target; winograd.cpp calls them
// only when the CPU and OS support AVX-512F (active_isa).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/vectors.hpp"
#include "kernels/winograd_layout.hpp"

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")

#include "kernels/fma_avx512.hpp"
#include "kernels/winograd_products.hpp"

#pragma GCC pop_options

namespace ember::kernels::wino {

const Products& products_avx512() {
  static const Products kernels = product_kernels<Floats16, Fma, 8>();
  return kernels;
}

}  // namespace ember::kernels::wino
