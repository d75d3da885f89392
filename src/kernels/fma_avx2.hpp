#pragma once
// Fma::madd(acc, a, b): acc = a * b + acc with one rounding per lane, the scalar a broadcast to
// every lane, for the AVX2+FMA files (gemm_avx2.cpp, winograd_products_avx2.cpp): 32-byte vectors
// natively, 64-byte ones as their two 32-byte halves. An intrinsic, so fused at every optimisation
// level (contraction of `acc += a * b` is not). Include it inside the file's
// `#pragma GCC target("avx2,fma")` region, after <immintrin.h>, <cstring> and vectors.hpp.
#include <immintrin.h>

#include <cstring>

#include "kernels/vectors.hpp"

namespace ember::kernels {
namespace {  // each target file its own copy

struct Fma {
  static inline void madd(Floats8& acc, float a, const Floats8& b) {
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a), b, acc);
  }
  static inline void madd(Doubles4& acc, double a, const Doubles4& b) {
    acc = _mm256_fmadd_pd(_mm256_set1_pd(a), b, acc);
  }
  static inline void madd(Floats16& acc, float a, const Floats16& b) { halves<Floats8>(acc, a, b); }
  static inline void madd(Doubles8& acc, double a, const Doubles8& b) {
    halves<Doubles4>(acc, a, b);
  }
  // a 64-byte vector as its two 32-byte halves
  template <class Half, class Wide, class T>
  static inline void halves(Wide& acc, T a, const Wide& b) {
    Half h[2], bh[2];
    std::memcpy(h, &acc, sizeof(h));
    std::memcpy(bh, &b, sizeof(bh));
    madd(h[0], a, bh[0]);
    madd(h[1], a, bh[1]);
    std::memcpy(&acc, h, sizeof(h));
  }
};

}  // namespace
}  // namespace ember::kernels
