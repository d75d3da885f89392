// SHA-256 against the FIPS 180-2 test vectors.
#include <gtest/gtest.h>

#include <string>

#include "ember/io/sha256.hpp"
#include "io/test_files.hpp"

using namespace ember;
using ember::testing::TempDir;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(io::sha256_bytes("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(io::sha256_bytes("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, File) {
  TempDir dir;
  ember::testing::write_bytes(dir / "abc", {'a', 'b', 'c'});
  EXPECT_EQ(io::sha256_file(dir / "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // A million 'a's spans several read chunks.
  ember::testing::write_bytes(dir / "million", std::vector<std::uint8_t>(1000000, 'a'));
  EXPECT_EQ(io::sha256_file(dir / "million"),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  ember::testing::expect_error([&] { io::sha256_file(dir / "missing"); }, {dir / "missing"});
}
