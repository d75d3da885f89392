#pragma once
// Vectorised transcendental functions on contiguous f32 arrays: exp and the logistic sigmoid.
// The AVX2 versions use a range reduction (x = k ln2 + r) and a degree-6 polynomial for e^r,
// accurate to a few ulp over the whole float range (tests compare with std::exp); the plain
// versions call the C library. Chosen at run time like the gemm kernels.
#include <cstdint>

namespace ember::kernels {

void exp_f32(const float* x, float* y, std::int64_t n);
void sigmoid_f32(const float* x, float* y, std::int64_t n);
void exp_f32_reference(const float* x, float* y, std::int64_t n);
void sigmoid_f32_reference(const float* x, float* y, std::int64_t n);

}  // namespace ember::kernels
