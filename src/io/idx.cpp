// IDX reader and writer. The header is parsed first and checked against what the file can hold
// before anything is allocated: for a plain file against its size, for a gzip file against the
// bytes that actually come out of the decompressor (read in chunks, so a lying header costs at
// most one chunk of memory).
#include "ember/io/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "io/file_util.hpp"

namespace ember::io {

namespace {

constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 31;
constexpr std::size_t kChunk = std::size_t{1} << 20;

struct IdxType {
  std::uint8_t code;
  std::size_t bytes;  // per element in the file
  DType dtype;        // in memory
};

const IdxType* find_idx_type(std::uint8_t code) {
  static const IdxType types[] = {
      {0x08, 1, DType::u8},  {0x09, 1, DType::i64}, {0x0B, 2, DType::i64},
      {0x0C, 4, DType::i64}, {0x0D, 4, DType::f32}, {0x0E, 8, DType::f64},
  };
  for (const auto& t : types) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

std::string hex_byte(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v & 0xFFu);
  return buf;
}

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw Error("read_idx: " + path + ": " + msg);
}

// Reads up to n bytes; returns how many arrived (fewer only at the end of the data).
using ReadFn = std::function<std::size_t(void*, std::size_t)>;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

bool is_gzip(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) fail(path, "cannot open: " + detail::errno_text(errno));
  unsigned char m[2] = {0, 0};
  const std::size_t n = std::fread(m, 1, 2, f.get());
  return n == 2 && m[0] == 0x1F && m[1] == 0x8B;
}

struct Header {
  const IdxType* type = nullptr;
  Shape shape;
  std::uint64_t numel = 1;
  std::uint64_t header_bytes = 0;
  std::uint64_t data_bytes = 0;
};

Header read_header(const std::string& path, const ReadFn& read) {
  unsigned char magic[4];
  if (read(magic, 4) != 4) fail(path, "truncated: the file ends inside the 4-byte magic number");
  if (magic[0] != 0 || magic[1] != 0) {
    fail(path, "not an IDX file: wrong magic number " + hex_byte(magic[0]) + " " +
                   hex_byte(magic[1]) + " " + hex_byte(magic[2]) + " " + hex_byte(magic[3]) +
                   " (expected 0x00 0x00 <type> <rank>)");
  }
  Header h;
  h.type = find_idx_type(magic[2]);
  if (!h.type) {
    fail(path, "unsupported IDX type code " + hex_byte(magic[2]) +
                   " (known: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)");
  }
  const int rank = magic[3];
  if (rank == 0) fail(path, "IDX header has rank 0 (no sizes)");
  std::vector<unsigned char> dims(static_cast<std::size_t>(rank) * 4);
  if (read(dims.data(), dims.size()) != dims.size()) {
    fail(path, "truncated: the file ends inside the header's " + std::to_string(rank) + " sizes");
  }
  for (int i = 0; i < rank; ++i) {
    const unsigned char* d = &dims[static_cast<std::size_t>(i) * 4];
    const std::uint64_t v = (std::uint64_t{d[0]} << 24) | (std::uint64_t{d[1]} << 16) |
                            (std::uint64_t{d[2]} << 8) | std::uint64_t{d[3]};
    h.shape.push_back(static_cast<std::int64_t>(v));
    h.numel *= v;  // each factor < 2^32 and the running product <= 2^31: no overflow
    if (h.numel > kMaxElements) {
      fail(path, "header claims more than 2^31 elements (sizes so far " + shape_str(h.shape) +
                     "); refusing to allocate");
    }
  }
  h.header_bytes = 4 + 4 * static_cast<std::uint64_t>(rank);
  h.data_bytes = h.numel * h.type->bytes;
  return h;
}

// Big-endian file values -> the tensor's dtype.
Tensor convert(const Header& h, const unsigned char* src) {
  Tensor t = empty(h.shape, h.type->dtype);
  const std::size_t n = static_cast<std::size_t>(h.numel);
  auto be = [&](std::size_t i, std::size_t bytes) {
    std::uint64_t v = 0;
    for (std::size_t b = 0; b < bytes; ++b) v = (v << 8) | src[i * bytes + b];
    return v;
  };
  switch (h.type->code) {
    case 0x08:
      if (n) std::memcpy(t.data_ptr<std::uint8_t>(), src, n);
      break;
    case 0x09: {
      auto* out = t.data_ptr<std::int64_t>();
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int8_t>(src[i]);
      break;
    }
    case 0x0B: {
      auto* out = t.data_ptr<std::int64_t>();
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int16_t>(be(i, 2));
      break;
    }
    case 0x0C: {
      auto* out = t.data_ptr<std::int64_t>();
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int32_t>(be(i, 4));
      break;
    }
    case 0x0D: {
      auto* out = t.data_ptr<float>();
      for (std::size_t i = 0; i < n; ++i) {
        const auto bits = static_cast<std::uint32_t>(be(i, 4));
        std::memcpy(&out[i], &bits, 4);
      }
      break;
    }
    default: {
      auto* out = t.data_ptr<double>();
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t bits = be(i, 8);
        std::memcpy(&out[i], &bits, 8);
      }
      break;
    }
  }
  return t;
}

Tensor read_plain(const std::string& path) {
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read: " + ec.message());
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) fail(path, "cannot open: " + detail::errno_text(errno));
  ReadFn read = [&](void* dst, std::size_t n) { return std::fread(dst, 1, n, f.get()); };
  const Header h = read_header(path, read);
  const std::uint64_t expected = h.header_bytes + h.data_bytes;
  if (file_size < expected) {
    fail(path, "truncated: header " + shape_str(h.shape) + " needs " + std::to_string(expected) +
                   " bytes, the file has " + std::to_string(file_size));
  }
  if (file_size > expected) {
    fail(path, "header sizes " + shape_str(h.shape) + " do not match the file length: they need " +
                   std::to_string(expected) + " bytes, the file has " + std::to_string(file_size));
  }
  if (h.type->code == 0x08) {  // straight into the tensor
    Tensor t = empty(h.shape, DType::u8);
    const auto n = static_cast<std::size_t>(h.data_bytes);
    if (n && std::fread(t.data_ptr<std::uint8_t>(), 1, n, f.get()) != n) {
      fail(path, "read error: " + detail::errno_text(errno));
    }
    return t;
  }
  std::vector<unsigned char> bytes(static_cast<std::size_t>(h.data_bytes));
  if (read(bytes.data(), bytes.size()) != bytes.size()) {
    fail(path, "read error: " + detail::errno_text(errno));
  }
  return convert(h, bytes.data());
}

Tensor read_gzip(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) fail(path, "cannot open: " + detail::errno_text(errno));
  gzbuffer(f.get(), 1 << 17);
  auto gz_error = [&]() {
    int code = 0;
    const char* msg = gzerror(f.get(), &code);
    std::string text = msg ? msg : "unknown error";
    if (text.rfind(path + ": ", 0) == 0) text.erase(0, path.size() + 2);  // zlib names the file
    return text;
  };
  // Reads until n bytes arrived or the stream ends; a corrupt stream throws.
  ReadFn read = [&](void* dst, std::size_t n) {
    std::size_t got = 0;
    auto* p = static_cast<unsigned char*>(dst);
    while (got < n) {
      const auto want = static_cast<unsigned>(std::min<std::size_t>(n - got, kChunk));
      const int r = gzread(f.get(), p + got, want);
      if (r < 0) fail(path, "corrupt gzip data: " + gz_error());
      if (r == 0) {
        int code = 0;
        gzerror(f.get(), &code);
        if (code != Z_OK) fail(path, "truncated gzip data: " + gz_error());
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    return got;
  };
  const Header h = read_header(path, read);
  // Grow the buffer only as data arrives: never trust the header for the allocation.
  std::vector<unsigned char> bytes;
  while (bytes.size() < h.data_bytes) {
    const std::size_t have = bytes.size();
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, h.data_bytes - have));
    bytes.resize(have + want);
    const std::size_t got = read(bytes.data() + have, want);
    bytes.resize(have + got);
    if (got < want) {
      fail(path, "truncated: header " + shape_str(h.shape) + " needs " +
                     std::to_string(h.data_bytes) + " bytes of data, the (uncompressed) file has " +
                     std::to_string(bytes.size()));
    }
  }
  unsigned char extra = 0;
  if (read(&extra, 1) != 0) {
    fail(path, "header sizes " + shape_str(h.shape) +
                   " do not match the file length: more data follows the " +
                   std::to_string(h.data_bytes) + " bytes they need");
  }
  return convert(h, bytes.data());
}

}  // namespace

Tensor read_idx(const std::string& path) {
  return is_gzip(path) ? read_gzip(path) : read_plain(path);
}

void write_idx(const Tensor& t, const std::string& path) {
  const std::string what = "write_idx: " + path;
  if (!t.defined()) throw Error(what + ": undefined tensor");
  if (t.dtype() != DType::u8) {
    throw Error(what + ": only u8 tensors can be written (got " + dtype_name(t.dtype()) + ")");
  }
  if (t.rank() < 1 || t.rank() > 255) {
    throw Error(what + ": rank must be 1 to 255 (got " + std::to_string(t.rank()) + ")");
  }
  std::vector<unsigned char> header = {0, 0, 0x08, static_cast<unsigned char>(t.rank())};
  for (std::int64_t d : t.shape()) {
    if (d > 0xFFFFFFFFll) throw Error(what + ": size " + std::to_string(d) + " exceeds 2^32-1");
    const auto v = static_cast<std::uint32_t>(d);
    for (int s = 24; s >= 0; s -= 8) header.push_back(static_cast<unsigned char>(v >> s));
  }
  const Tensor c = t.contiguous();
  const auto* data = c.data_ptr<std::uint8_t>();
  const auto n = static_cast<std::size_t>(c.numel());
  const std::string tmp = detail::temp_name_beside(path);
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  bool ok = true;
  if (gz) {
    gzFile f = gzopen(tmp.c_str(), "wb6");
    if (!f) throw Error(what + ": cannot create " + tmp + ": " + detail::errno_text(errno));
    ok = gzwrite(f, header.data(), static_cast<unsigned>(header.size())) ==
         static_cast<int>(header.size());
    for (std::size_t off = 0; ok && off < n; off += kChunk) {
      const auto len = static_cast<unsigned>(std::min(kChunk, n - off));
      ok = gzwrite(f, data + off, len) == static_cast<int>(len);
    }
    ok = (gzclose(f) == Z_OK) && ok;
  } else {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error(what + ": cannot create " + tmp + ": " + detail::errno_text(errno));
    ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
    if (ok && n) ok = std::fwrite(data, 1, n, f) == n;
    ok = (std::fclose(f) == 0) && ok;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(what + ": write failed (disk full?)");
  }
  detail::rename_over(tmp, path, "write_idx");
}

}  // namespace ember::io
