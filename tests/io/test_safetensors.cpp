// safetensors: round trips, the byte layout of a tiny file checked against the format's
// description, and every kind of bad file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "ember/core/random.hpp"
#include "ember/io/safetensors.hpp"
#include "io/test_files.hpp"

using namespace ember;
using ember::testing::expect_error;
using ember::testing::read_bytes;
using ember::testing::TempDir;
using ember::testing::write_bytes;

namespace {

// A file made by hand: the 8-byte length, the header text as given, then `data`.
std::vector<std::uint8_t> make_file(const std::string& header,
                                    const std::vector<std::uint8_t>& data,
                                    std::uint64_t length_field) {
  std::vector<std::uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(length_field >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<std::uint8_t> make_file(const std::string& header,
                                    const std::vector<std::uint8_t>& data) {
  return make_file(header, data, header.size());
}

}  // namespace

TEST(Safetensors, RoundTripDtypesAndShapes) {
  TempDir dir;
  Generator gen(1);
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"weight", randn({2, 3}, gen)},
      {"double", randn({4}, gen, DType::f64)},
      {"labels", tensor({{1LL, -2LL}, {3000000000LL, 4LL}})},
      {"pixels", tensor({0, 7, 255, 128, 1}, DType::u8)},
      {"scalar", scalar(2.5)},
      {"empty", zeros({0, 3})},
      {"a.b.c", randn({1, 2, 1, 2}, gen).transpose(1, 3)},  // not contiguous: written as values
  };
  const std::string path = dir / "t.safetensors";
  io::save_safetensors(path, tensors, {{"format", "pt"}, {"note", "ember test"}});
  const auto back = io::load_safetensors(path);
  ASSERT_EQ(back.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back[i].first, tensors[i].first);
    EXPECT_EQ(back[i].second.dtype(), tensors[i].second.dtype());
    EXPECT_EQ(back[i].second.shape(), tensors[i].second.shape());
    EXPECT_EQ(back[i].second.to_vector<double>(), tensors[i].second.to_vector<double>());
  }
  const auto meta = io::safetensors_metadata(path);
  EXPECT_EQ(meta.size(), 2u);
  EXPECT_EQ(meta.at("note"), "ember test");
  // overwriting works and leaves no temporary file
  io::save_safetensors(path, {{"x", ones({1})}});
  EXPECT_EQ(io::load_safetensors(path).size(), 1u);
  EXPECT_TRUE(io::safetensors_metadata(path).empty());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.str()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(Safetensors, ByteLayoutOfATinyFile) {
  TempDir dir;
  const std::string path = dir / "tiny.safetensors";
  io::save_safetensors(path, {{"a", tensor({1.0f, 2.0f})}, {"b", tensor({7}, DType::u8)}});
  const auto bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  // the header pads the data's start to a multiple of 8, with spaces
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 9);  // 2 floats + 1 byte
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  const auto last = header.find_last_not_of(' ');
  EXPECT_EQ(header.substr(0, last + 1), R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                        R"("b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}})");
  EXPECT_LT(header.size() - (last + 1), 8u);
  // 1.0f = 0x3f800000 and 2.0f = 0x40000000, little-endian, then the byte 7
  const std::vector<std::uint8_t> data(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n),
                                       bytes.end());
  EXPECT_EQ(data, (std::vector<std::uint8_t>{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 7}));
}

TEST(Safetensors, ReadsAHandMadeFile) {
  // F64 [2] = [0.5, -1], offsets out of name order (the data order decides the result's order)
  TempDir dir;
  double v[2] = {0.5, -1.0};
  std::vector<std::uint8_t> data(16);
  std::memcpy(data.data(), v, 16);
  data.push_back(42);
  const std::string path = dir / "hand.safetensors";
  write_bytes(path, make_file(R"({"z":{"dtype":"U8","shape":[],"data_offsets":[16,17]},)"
                              R"( "x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})",
                              data));
  const auto t = io::load_safetensors(path);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].first, "x");
  EXPECT_EQ(t[0].second.to_vector<double>(), (std::vector<double>{0.5, -1.0}));
  EXPECT_EQ(t[1].first, "z");
  EXPECT_EQ(t[1].second.rank(), 0);
  EXPECT_EQ(t[1].second.item<int>(), 42);
}

TEST(Safetensors, BadFilesThrowNamingTheFile) {
  TempDir dir;
  const std::vector<std::uint8_t> eight(8, 0);
  struct Case {
    const char* name;
    std::vector<std::uint8_t> bytes;
    const char* expect;
  };
  const std::string ok_entry = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::vector<Case> cases = {
      {"empty", {}, "too short"},
      {"short", {1, 2, 3}, "too short"},
      {"length_beyond", make_file("{}", {}, 1000), "beyond the end"},
      {"bad_json", make_file("{not json}", {}), "not valid JSON"},
      {"not_object", make_file("[1, 2]  ", {}), "not a JSON object"},
      {"unknown_dtype",
       make_file(R"({"w":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", eight), "F17"},
      {"bf16", make_file(R"({"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", eight),
       "BF16"},
      {"no_dtype", make_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", eight), "dtype"},
      {"bad_shape", make_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
       "shape"},
      {"size_mismatch",
       make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "needs 12"},
      {"offsets_beyond",
       make_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight),
       "beyond the data"},
      {"offsets_reversed",
       make_file(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", eight),
       "end before begin"},
      {"offsets_not_pair",
       make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight), "data_offsets"},
      {"overlap",
       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 eight),
       "overlaps"},
      {"gap", make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "gap"},
      {"trailing", make_file(ok_entry, std::vector<std::uint8_t>(12, 0)), "after the last"},
      {"truncated_data", make_file(ok_entry, {0, 0, 0, 0}), "beyond the data"},
      {"duplicate",
       make_file(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                 R"("w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                 eight),
       "twice"},
      {"bad_metadata", make_file(R"({"__metadata__":{"k":1}})", {}), "__metadata__"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir / (std::string(c.name) + ".safetensors");
    write_bytes(path, c.bytes);
    expect_error([&] { io::load_safetensors(path); }, {path, c.expect});
  }
  expect_error([&] { io::load_safetensors(dir / "absent.safetensors"); }, {"absent.safetensors"});
}

TEST(Safetensors, SaveRejectsBadNames) {
  TempDir dir;
  const std::string path = dir / "x.safetensors";
  expect_error(
      [&] {
        io::save_safetensors(path, {{"a", ones({1})}, {"a", ones({2})}});
      },
      {path, "\"a\"", "twice"});
  expect_error([&] { io::save_safetensors(path, {{"", ones({1})}}); }, {path, "name"});
  expect_error([&] { io::save_safetensors(path, {{"__metadata__", ones({1})}}); }, {"name"});
  expect_error([&] { io::save_safetensors(path, {{"u", Tensor()}}); }, {"undefined"});
  EXPECT_FALSE(std::filesystem::exists(path));
  expect_error([&] { io::save_safetensors(dir / "no/such/dir/x.safetensors", {}); },
               {"no/such/dir"});
}
