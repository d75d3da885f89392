#pragma once
// IDX files, the format of the original MNIST distribution (Y. LeCun): a 4-byte magic number
// (0, 0, type code, number of dimensions), the sizes as big-endian u32, then the values row-major.
// Files may be gzip-compressed (recognised by their content, not their name).
#include <cstdint>
#include <string>

#include "ember/core/tensor.hpp"

namespace ember::io {

// Reads an IDX file (plain or gzip) into a tensor of the shape its header gives.
// Type codes: 0x08 (unsigned byte) -> u8; 0x09 (signed byte), 0x0B (i16), 0x0C (i32) -> i64;
// 0x0D (f32) -> f32; 0x0E (f64) -> f64.
// Throws Error naming the file on a wrong magic number, a truncated file, a header whose sizes
// do not match the file length, or a header claiming more than 2^31 elements. The header is
// checked against the file's size (or, for gzip, against the bytes that actually arrive) before
// anything it claims is allocated.
Tensor read_idx(const std::string& path);

// Writes a u8 tensor (any rank from 1 to 255) as an IDX file (type 0x08); a path ending in ".gz"
// is written gzip-compressed. The file is written under a temporary name, then renamed.
void write_idx(const Tensor& t, const std::string& path);

}  // namespace ember::io
