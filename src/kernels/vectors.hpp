#pragma once
// The vectors of the register-blocked kernels (gemm_micro.hpp, winograd_products.hpp): GCC/Clang
// vector extensions of 16 bytes (portable), 32 (AVX2) and 64 (AVX-512, and the AVX-512 geometries
// compiled for AVX2 as pairs of ymm registers). Which instructions they become is the including
// file's target; the fused multiply-add each x86 target gives them: fma_avx2.hpp, fma_avx512.hpp.
namespace ember::kernels {

using Floats4 = float __attribute__((vector_size(16)));
using Doubles2 = double __attribute__((vector_size(16)));
using Floats8 = float __attribute__((vector_size(32)));
using Doubles4 = double __attribute__((vector_size(32)));
using Floats16 = float __attribute__((vector_size(64)));
using Doubles8 = double __attribute__((vector_size(64)));

}  // namespace ember::kernels
