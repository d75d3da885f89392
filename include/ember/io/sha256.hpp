#pragma once
// SHA-256 digests (OpenSSL's libcrypto), as 64 lower-case hex digits.
#include <cstddef>
#include <string>

namespace ember::io {

// The SHA-256 of a file's bytes; throws Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
// The SHA-256 of `n` bytes in memory.
std::string sha256_bytes(const void* data, std::size_t n);

}  // namespace ember::io
