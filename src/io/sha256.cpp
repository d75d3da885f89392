#include "ember/io/sha256.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "ember/core/error.hpp"
#include "io/file_util.hpp"

namespace ember::io {

namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_MD_CTX, CtxFree>;

Ctx new_sha256(const char* what) {
  Ctx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(std::string(what) + ": OpenSSL could not start a SHA-256 digest");
  }
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx, const char* what) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) {
    throw Error(std::string(what) + ": OpenSSL could not finish a SHA-256 digest");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xF]);
  }
  return out;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

std::string sha256_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error("sha256_file: cannot open " + path + ": " + detail::errno_text(errno));
  Ctx ctx = new_sha256("sha256_file");
  std::vector<unsigned char> buf(std::size_t{1} << 20);
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1) {
      throw Error("sha256_file: digest failed on " + path);
    }
    if (n < buf.size()) {
      if (std::ferror(f.get())) throw Error("sha256_file: read error on " + path);
      break;
    }
  }
  return finish_hex(ctx.get(), "sha256_file");
}

std::string sha256_bytes(const void* data, std::size_t n) {
  Ctx ctx = new_sha256("sha256_bytes");
  if (n > 0 && EVP_DigestUpdate(ctx.get(), data, n) != 1) {
    throw Error("sha256_bytes: digest failed");
  }
  return finish_hex(ctx.get(), "sha256_bytes");
}

}  // namespace ember::io
