#pragma once
// Pixel conversion: u8 in [0, 255] to f32 in [0, 1], exactly x / 255.0f (IEEE division) for every
// value, as PyTorch's `x.float() / 255`. AVX2 when the CPU has it, plain loop otherwise.
#include <cstdint>

namespace ember::kernels {

void u8_to_unit_float(const std::uint8_t* src, float* dst, std::int64_t n);
void u8_to_unit_float_reference(const std::uint8_t* src, float* dst, std::int64_t n);

}  // namespace ember::kernels
