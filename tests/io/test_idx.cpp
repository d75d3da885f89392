// IDX reader and writer: round trips (plain and gzip) and every kind of bad file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "ember/io/idx.hpp"
#include "io/test_files.hpp"

using namespace ember;
using ember::testing::expect_error;
using ember::testing::TempDir;

namespace {

Tensor pattern_u8(const Shape& shape) {
  Tensor t = empty(shape, DType::u8);
  auto* p = t.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  return t;
}

void expect_same_u8(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), DType::u8);
  ASSERT_EQ(b.dtype(), DType::u8);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(std::memcmp(a.data_ptr<std::uint8_t>(), b.data_ptr<std::uint8_t>(),
                        static_cast<std::size_t>(a.numel())),
            0);
}

// An IDX header: 0, 0, type, rank, then big-endian sizes.
std::vector<std::uint8_t> idx_header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::vector<std::uint8_t> h = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<std::uint8_t>(d >> s));
  }
  return h;
}

// A gzip file built by hand with "stored" (uncompressed) deflate blocks, so the reader is tested
// against bytes zlib's writer did not make.
std::vector<std::uint8_t> gzip_stored(const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> out = {0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF};
  std::size_t off = 0;
  do {
    const std::size_t len = std::min<std::size_t>(65535, data.size() - off);
    const bool last = off + len == data.size();
    out.push_back(last ? 1 : 0);
    out.push_back(static_cast<std::uint8_t>(len));
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(~len));
    out.push_back(static_cast<std::uint8_t>(~len >> 8));
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(off),
               data.begin() + static_cast<std::ptrdiff_t>(off + len));
    off += len;
  } while (off < data.size());
  const std::uint32_t crc = ember::testing::crc32(data.data(), data.size());
  const auto size = static_cast<std::uint32_t>(data.size());
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<std::uint8_t>(crc >> s));
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<std::uint8_t>(size >> s));
  return out;
}

}  // namespace

TEST(Idx, RoundTripImages) {
  TempDir dir;
  const Tensor t = pattern_u8({3, 28, 28});
  io::write_idx(t, dir / "images-idx3-ubyte");
  EXPECT_EQ(std::filesystem::file_size(dir / "images-idx3-ubyte"), 16u + 3 * 28 * 28);
  expect_same_u8(io::read_idx(dir / "images-idx3-ubyte"), t);
}

TEST(Idx, RoundTripLabels) {
  TempDir dir;
  const Tensor t = pattern_u8({100});
  io::write_idx(t, dir / "labels");
  const Tensor r = io::read_idx(dir / "labels");
  expect_same_u8(r, t);
  const auto bytes = ember::testing::read_bytes(dir / "labels");
  ASSERT_EQ(bytes.size(), 108u);
  EXPECT_EQ(bytes[2], 0x08);
  EXPECT_EQ(bytes[3], 1);
  EXPECT_EQ(bytes[7], 100);
}

TEST(Idx, RoundTripGzip) {
  TempDir dir;
  const Tensor t = pattern_u8({5, 7, 9});
  io::write_idx(t, dir / "x-idx3-ubyte.gz");
  const auto bytes = ember::testing::read_bytes(dir / "x-idx3-ubyte.gz");
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes[0], 0x1F);  // really gzip
  EXPECT_EQ(bytes[1], 0x8B);
  expect_same_u8(io::read_idx(dir / "x-idx3-ubyte.gz"), t);
}

TEST(Idx, ReadsHandMadeGzipSpanningBlocks) {
  TempDir dir;
  const Tensor t = pattern_u8({3, 200, 200});  // 120000 bytes: two stored blocks
  std::vector<std::uint8_t> file = idx_header(0x08, {3, 200, 200});
  file.insert(file.end(), t.data_ptr<std::uint8_t>(), t.data_ptr<std::uint8_t>() + t.numel());
  ember::testing::write_bytes(dir / "hand.gz", gzip_stored(file));
  expect_same_u8(io::read_idx(dir / "hand.gz"), t);
}

TEST(Idx, GzipRecognisedByContentNotName) {
  TempDir dir;
  const Tensor t = pattern_u8({4, 4});
  io::write_idx(t, dir / "a.gz");
  std::filesystem::rename(dir / "a.gz", dir / "plain-name");
  expect_same_u8(io::read_idx(dir / "plain-name"), t);
}

TEST(Idx, OtherTypeCodes) {
  TempDir dir;
  // i32 big-endian: -2, 70000
  auto f = idx_header(0x0C, {2});
  for (std::uint8_t b : {0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x01, 0x11, 0x70}) f.push_back(b);
  ember::testing::write_bytes(dir / "i32", f);
  const Tensor a = io::read_idx(dir / "i32");
  EXPECT_EQ(a.dtype(), DType::i64);
  EXPECT_EQ(a.to_vector<std::int64_t>(), (std::vector<std::int64_t>{-2, 70000}));
  // f32 big-endian 1.5 = 0x3FC00000
  auto g = idx_header(0x0D, {1, 1});
  for (std::uint8_t b : {0x3F, 0xC0, 0x00, 0x00}) g.push_back(b);
  ember::testing::write_bytes(dir / "f32", g);
  const Tensor b = io::read_idx(dir / "f32");
  EXPECT_EQ(b.dtype(), DType::f32);
  EXPECT_EQ(b.shape(), (Shape{1, 1}));
  EXPECT_EQ(b.to_vector<float>()[0], 1.5f);
  // i8: 0xFF is -1
  auto h = idx_header(0x09, {2});
  h.push_back(0xFF);
  h.push_back(0x05);
  ember::testing::write_bytes(dir / "i8", h);
  EXPECT_EQ(io::read_idx(dir / "i8").to_vector<std::int64_t>(), (std::vector<std::int64_t>{-1, 5}));
}

TEST(Idx, UnsupportedTypeCode) {
  TempDir dir;
  auto f = idx_header(0x07, {1});
  f.push_back(0);
  ember::testing::write_bytes(dir / "bad", f);
  expect_error([&] { io::read_idx(dir / "bad"); }, {dir / "bad", "type code 0x07"});
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  ember::testing::write_bytes(dir / "magic", {0x89, 'P', 'N', 'G', 0, 0, 0, 1, 0});
  expect_error([&] { io::read_idx(dir / "magic"); }, {dir / "magic", "magic"});
  // Same through gzip.
  ember::testing::write_bytes(dir / "magic.gz", gzip_stored({0x12, 0x34, 8, 1, 0, 0, 0, 0}));
  expect_error([&] { io::read_idx(dir / "magic.gz"); }, {dir / "magic.gz", "magic"});
}

TEST(Idx, TruncatedData) {
  TempDir dir;
  auto f = idx_header(0x08, {10, 28, 28});
  f.resize(f.size() + 100, 7);
  ember::testing::write_bytes(dir / "short", f);
  expect_error([&] { io::read_idx(dir / "short"); }, {dir / "short", "truncated"});
  ember::testing::write_bytes(dir / "short.gz", gzip_stored(f));
  expect_error([&] { io::read_idx(dir / "short.gz"); }, {dir / "short.gz", "truncated"});
}

TEST(Idx, TruncatedHeader) {
  TempDir dir;
  ember::testing::write_bytes(dir / "h1", {0, 0});
  expect_error([&] { io::read_idx(dir / "h1"); }, {dir / "h1", "truncated"});
  ember::testing::write_bytes(dir / "h2", {0, 0, 8, 3, 0, 0, 0, 10, 0, 0});
  expect_error([&] { io::read_idx(dir / "h2"); }, {dir / "h2", "truncated"});
  ember::testing::write_bytes(dir / "empty", {});
  expect_error([&] { io::read_idx(dir / "empty"); }, {dir / "empty", "truncated"});
}

TEST(Idx, TruncatedGzipStream) {
  TempDir dir;
  io::write_idx(pattern_u8({50, 50, 50}), dir / "full.gz");
  auto bytes = ember::testing::read_bytes(dir / "full.gz");
  bytes.resize(bytes.size() / 2);
  ember::testing::write_bytes(dir / "cut.gz", bytes);
  expect_error([&] { io::read_idx(dir / "cut.gz"); }, {dir / "cut.gz"});
}

TEST(Idx, SizesDoNotMatchFileLength) {
  TempDir dir;
  auto f = idx_header(0x08, {2, 3});
  f.resize(f.size() + 6 + 5, 1);  // 5 bytes too many
  ember::testing::write_bytes(dir / "long", f);
  expect_error([&] { io::read_idx(dir / "long"); }, {dir / "long", "do not match the file length"});
  ember::testing::write_bytes(dir / "long.gz", gzip_stored(f));
  expect_error([&] { io::read_idx(dir / "long.gz"); }, {dir / "long.gz", "do not match"});
}

TEST(Idx, HeaderClaimingGigabytes) {
  TempDir dir;
  // 60000 x 28000 x 28000: far beyond 2^31 elements.
  auto f = idx_header(0x08, {60000, 28000, 28000});
  f.resize(f.size() + 64, 0);
  ember::testing::write_bytes(dir / "huge", f);
  expect_error([&] { io::read_idx(dir / "huge"); }, {dir / "huge", "2^31"});
  // 2,000,000,000 bytes claimed (under the cap) by a 100-byte file: checked against the file.
  auto g = idx_header(0x08, {2000000000u});
  g.resize(g.size() + 100, 0);
  ember::testing::write_bytes(dir / "big", g);
  expect_error([&] { io::read_idx(dir / "big"); }, {dir / "big", "truncated", "2000000000"});
  // The same in gzip: no trusting the header, the data that arrives decides.
  ember::testing::write_bytes(dir / "big.gz", gzip_stored(g));
  expect_error([&] { io::read_idx(dir / "big.gz"); }, {dir / "big.gz", "truncated"});
}

TEST(Idx, MissingFile) {
  TempDir dir;
  expect_error([&] { io::read_idx(dir / "nope"); }, {dir / "nope", "cannot open"});
}

TEST(Idx, WriteRejectsNonU8) {
  TempDir dir;
  expect_error([&] { io::write_idx(zeros({2, 2}), dir / "f"); }, {dir / "f", "u8"});
  EXPECT_FALSE(std::filesystem::exists(dir / "f"));
}
