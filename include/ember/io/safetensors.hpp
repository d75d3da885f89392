#pragma once
// The safetensors format (https://github.com/huggingface/safetensors), which PyTorch, JAX and
// Hugging Face read and write:
//
//   8 bytes    N, the header's length, unsigned little-endian
//   N bytes    a JSON object: {"<name>": {"dtype": "F32", "shape": [30, 784],
//                                         "data_offsets": [begin, end]}, ...,
//                              "__metadata__": {"<key>": "<string value>", ...}}
//              padded with spaces so that the data starts at a multiple of 8
//   the rest   the tensors' bytes, row-major, little-endian; offsets count from the data's start
//
// ember writes the tensors in the order given, one after the other, with no gaps; it reads F32,
// F64, I64 and U8.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::io {

// Writes `tensors` (names unique and non-empty) and string metadata to `path`, through a
// temporary file renamed onto it, so a crash never leaves a half-written file.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor of a safetensors file, in the order of their data in the file. Checks the
// whole file first: too short, a header length beyond the file, JSON that does not parse or is
// not the format's, an unknown dtype, a shape that is not a list of sizes, offsets out of range,
// overlapping, leaving gaps or not matching shape x dtype size: each throws Error naming the file
// (and the tensor).
std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path);

// The metadata of a safetensors file ("__metadata__"; empty when absent).
std::map<std::string, std::string> safetensors_metadata(const std::string& path);

}  // namespace ember::io
