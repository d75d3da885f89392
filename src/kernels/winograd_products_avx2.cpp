// The Winograd products for AVX2+FMA (winograd_products.hpp): 32-byte vectors in blocks of 4 rows
// by 3 vectors (12 ymm accumulators, three B vectors and a broadcast in the 16 registers), and
// the AVX-512 geometry (64-byte vectors, blocks of 8 rows) compiled for AVX2 as pairs of ymm
// registers, which the tests run so that its logic is checked on CPUs without AVX-512. Only this
// file's functions carry the avx2/fma target; winograd.cpp calls them on AVX2 CPUs only.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/vectors.hpp"
#include "kernels/winograd_layout.hpp"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include "kernels/fma_avx2.hpp"
#include "kernels/winograd_products.hpp"

#pragma GCC pop_options

namespace ember::kernels::wino {

const Products& products_avx2() {
  static const Products kernels = product_kernels<Floats8, Fma, 4>();
  return kernels;
}

const Products& products_avx2_wide() {
  static const Products kernels = product_kernels<Floats16, Fma, 8>();
  return kernels;
}

}  // namespace ember::kernels::wino
