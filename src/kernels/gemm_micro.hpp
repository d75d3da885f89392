#pragma once
// The register-tile micro-kernel body shared by the x86 paths of sgemm/dgemm.
//
// One source, compiled once per instruction set: gemm_avx2.cpp instantiates it with 32-byte
// vectors (6 x 16 floats in 12 ymm accumulators) and gemm_avx512.cpp with 64-byte vectors
// (12 x 32 floats in 24 of the 32 zmm registers). The vectors are GCC/Clang vector extensions,
// and each per-ISA file includes this header inside its `#pragma GCC target` region, so the
// instructions are chosen by that file's target, never here (gemm.cpp includes it without one
// for the portable kernel: 16-byte vectors, SSE2 on x86).
//
// This is what lets a machine without AVX-512 test the AVX-512 kernel's logic: gemm_avx2.cpp also
// instantiates the 64-byte, 12 x 32 geometry under the AVX2 target (each vector becomes a pair of
// ymm registers) and the tests run it through the driver. Only instruction selection differs.
//
// Arithmetic: acc = fma(a, b, acc) for k in order from zero, then C = acc or C = C + acc. The
// fused multiply-add is the per-ISA `Fma::madd(acc, a, b)` (fma_avx2.hpp, fma_avx512.hpp; an
// intrinsic, fused at every optimisation level, which contraction of `acc += a * b` is not), and
// tests/kernels/test_gemm.cpp checks each kernel's bits against std::fma. Every geometry therefore
// gives the same bits for the same kc slicing (when the driver skips an operand's zero steps,
// gemm.hpp, which steps depends on the panel height, and a sum that underflowed to -0 can stay -0
// where a dense tile's later fma(0, b, -0) gives +0: geometries then agree up to the sign of a
// zero).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/vectors.hpp"

namespace ember::kernels {
// Internal linkage: each per-ISA file gets its own copy, so the linker can never merge an AVX-512
// instance into the AVX2 file or the other way round.
namespace {

// One MR x (NV * lanes) tile of C; the arguments are those of MicroKernel in gemm.hpp. V is a
// vector of T; row k of b's NR columns is at b + k * ldb. Fma::madd(acc, a, b)
// sets acc = a * b + acc with one rounding, a a scalar broadcast to every lane.
// With Gather, the steps are k = kidx[0], ..., kidx[kc - 1] (GatherKernel in gemm.hpp) instead
// of 0, ..., kc - 1: the same loop over fewer steps, reading a and b at those k.
template <class T, class V, class Fma, int64_t MR, int64_t NV, bool Gather>
[[gnu::always_inline]] inline void micro_steps(int64_t kc, const int32_t* kidx, int64_t mr,
                                               const T* a, int64_t rs_a, int64_t cs_a, const T* b,
                                               int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int64_t kLanes = sizeof(V) / sizeof(T);
  const T* ar[MR];
  for (int64_t r = 0; r < MR; ++r) ar[r] = a + std::min(r, mr - 1) * rs_a;  // junk rows reread
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int64_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int64_t j = 0; j < NV; ++j) acc[r][j] = V{};
  int64_t ka = 0;
#pragma GCC unroll 4
  for (int64_t t = 0; t < kc; ++t, ka += cs_a) {
    int64_t k = t;
    if constexpr (Gather) {
      k = kidx[t];
      ka = k * cs_a;
    }
    V bv[NV];
#pragma GCC unroll 4
    for (int64_t j = 0; j < NV; ++j) std::memcpy(&bv[j], b + k * ldb + j * kLanes, sizeof(V));
#pragma GCC unroll 16
    for (int64_t r = 0; r < MR; ++r) {
      const T av = ar[r][ka];
#pragma GCC unroll 4
      for (int64_t j = 0; j < NV; ++j) Fma::madd(acc[r][j], av, bv[j]);
    }
  }
#pragma GCC unroll 16
  for (int64_t r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int64_t j = 0; j < NV; ++j) {
      T* cp = c + r * ldc + j * kLanes;
      if (accumulate) {
        V old;
        std::memcpy(&old, cp, sizeof(V));
        acc[r][j] = old + acc[r][j];
      }
      std::memcpy(cp, &acc[r][j], sizeof(V));
    }
  }
}

template <class T, class V, class Fma, int64_t MR, int64_t NV>
void micro_tile(int64_t kc, int64_t mr, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
                int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  micro_steps<T, V, Fma, MR, NV, false>(kc, nullptr, mr, a, rs_a, cs_a, b, ldb, c, ldc, accumulate);
}

template <class T, class V, class Fma, int64_t MR, int64_t NV>
void micro_tile_gather(int64_t n, const int32_t* kidx, int64_t mr, const T* a, int64_t rs_a,
                       int64_t cs_a, const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  micro_steps<T, V, Fma, MR, NV, true>(n, kidx, mr, a, rs_a, cs_a, b, ldb, c, ldc, accumulate);
}

// The float and double kernels of one vector width: MR x 2 vectors each, and the blocks every path
// shares (kc 256 everywhere, so K is sliced the same way and all paths agree to the bit; mc and nc
// are multiples of 6 and 12, of 8, 16 and 32). A per-ISA file calls this for its own types.
template <class Floats, class Doubles, class Fma, int64_t MR>
GemmKernels tile_kernels() {
  constexpr int64_t kNrFloat = 2 * int64_t{sizeof(Floats) / sizeof(float)};
  constexpr int64_t kNrDouble = 2 * int64_t{sizeof(Doubles) / sizeof(double)};
  return {{MR, kNrFloat, 256, 144, 2048, micro_tile<float, Floats, Fma, MR, 2>,
           micro_tile_gather<float, Floats, Fma, MR, 2>},
          {MR, kNrDouble, 256, 72, 1024, micro_tile<double, Doubles, Fma, MR, 2>,
           micro_tile_gather<double, Doubles, Fma, MR, 2>}};
}

}  // namespace
}  // namespace ember::kernels
