#pragma once
// Fma::madd(acc, a, b): acc = a * b + acc with one rounding per lane, the scalar a broadcast to
// every lane, for the AVX-512F files (gemm_avx512.cpp, winograd_products_avx512.cpp): 64-byte
// vectors in zmm registers, 32-byte float ones (a kernel's last 8 columns) in ymm. Include it
// inside the file's `#pragma GCC target("avx512f,avx2,fma")` region, after <immintrin.h> and
// vectors.hpp.
#include <immintrin.h>

#include "kernels/vectors.hpp"

namespace ember::kernels {
namespace {  // each target file its own copy

struct Fma {
  static inline void madd(Floats16& acc, float a, const Floats16& b) {
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a), b, acc);
  }
  static inline void madd(Doubles8& acc, double a, const Doubles8& b) {
    acc = _mm512_fmadd_pd(_mm512_set1_pd(a), b, acc);
  }
  static inline void madd(Floats8& acc, float a, const Floats8& b) {
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a), b, acc);
  }
};

}  // namespace
}  // namespace ember::kernels
