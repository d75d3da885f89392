// MNIST-shaped IDX folders the tests make themselves: loading, the 3s-and-7s sample, bad input.
// (Tests on the real MNIST files are in test_mnist_real.cpp, suite RealMnist.)
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "ember/data/mnist.hpp"
#include "ember/io/idx.hpp"
#include "io/test_files.hpp"

using namespace ember;
using namespace ember::data;
using ember::testing::expect_error;
using ember::testing::TempDir;

namespace {

// n images of 28x28 whose pixels encode their index; labels cycle through `digits`.
void write_set(const std::string& dir, const std::string& prefix, std::int64_t n,
               const std::vector<std::uint8_t>& digits, const std::string& suffix = "") {
  Tensor images = empty({n, 28, 28}, DType::u8);
  Tensor labels = empty({n}, DType::u8);
  for (std::int64_t i = 0; i < n; ++i) {
    std::memset(images.data_ptr<std::uint8_t>() + i * 784, static_cast<int>(i % 256), 784);
    labels.data_ptr<std::uint8_t>()[i] = digits[static_cast<std::size_t>(i) % digits.size()];
  }
  io::write_idx(images, dir + "/" + prefix + "-images-idx3-ubyte" + suffix);
  io::write_idx(labels, dir + "/" + prefix + "-labels-idx1-ubyte" + suffix);
}

const std::vector<std::uint8_t> kDigits = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

}  // namespace

TEST(Mnist, LoadIdxDir) {
  TempDir dir;
  write_set(dir.str(), "train", 30, kDigits);
  write_set(dir.str(), "t10k", 20, kDigits);
  const DataSplit s = load_mnist(dir.str());
  EXPECT_EQ(s.name, "mnist");
  EXPECT_EQ(s.train.images.shape(), (Shape{30, 28, 28}));
  EXPECT_EQ(s.train.images.dtype(), DType::u8);
  EXPECT_EQ(s.train.labels.dtype(), DType::i64);
  EXPECT_EQ(s.valid.images.shape(), (Shape{20, 28, 28}));
  EXPECT_EQ(s.train.classes,
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  EXPECT_EQ(s.train.labels.to_vector<std::int64_t>()[13], 3);
}

TEST(Mnist, LoadIdxDirGzip) {
  TempDir dir;
  write_set(dir.str(), "train", 12, kDigits, ".gz");
  write_set(dir.str(), "t10k", 11, kDigits, ".gz");
  const DataSplit s = load_idx_dir(dir.str());
  EXPECT_EQ(s.train.size(), 12);
  EXPECT_EQ(s.valid.size(), 11);
  EXPECT_EQ(s.valid.images.to_vector<std::uint8_t>()[10 * 784], 10);
  EXPECT_EQ(load_dataset(dir.str()).train.size(), 12);
}

TEST(Mnist, SampleIsThreesThenSevensInFileOrder) {
  TempDir dir;
  write_set(dir.str(), "train", 40, kDigits);  // 3s at 3, 13, 23, 33; 7s at 7, 17, 27, 37
  write_set(dir.str(), "t10k", 15, kDigits);   // 3s at 3, 13; 7s at 7
  const DataSplit s = mnist_sample(dir.str());
  EXPECT_EQ(s.name, "mnist-sample");
  EXPECT_EQ(s.train.classes, (std::vector<std::string>{"7", "3"}));
  EXPECT_EQ(s.train.labels.to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{1, 1, 1, 1, 0, 0, 0, 0}));
  const auto px = s.train.images.to_vector<std::uint8_t>();
  std::vector<std::uint8_t> first_pixels;
  for (std::size_t k = 0; k < 8; ++k) first_pixels.push_back(px[k * 784]);
  EXPECT_EQ(first_pixels, (std::vector<std::uint8_t>{3, 13, 23, 33, 7, 17, 27, 37}));
  EXPECT_EQ(s.valid.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 1, 0}));
}

TEST(Mnist, LabelCountDiffersFromImageCount) {
  TempDir dir;
  write_set(dir.str(), "train", 10, kDigits);
  write_set(dir.str(), "t10k", 10, kDigits);
  io::write_idx(zeros({9}, DType::u8), dir / "t10k-labels-idx1-ubyte");
  expect_error([&] { load_idx_dir(dir.str()); },
               {dir / "t10k-labels-idx1-ubyte", "9 labels", "10 images"});
}

TEST(Mnist, MissingFileNamed) {
  TempDir dir;
  write_set(dir.str(), "train", 10, kDigits);
  expect_error([&] { load_idx_dir(dir.str()); }, {dir.str(), "t10k-images-idx3-ubyte"});
  expect_error([&] { load_idx_dir(dir / "nowhere"); }, {"not a folder"});
}

TEST(Mnist, BadFileInFolderNamed) {
  TempDir dir;
  write_set(dir.str(), "train", 10, kDigits);
  write_set(dir.str(), "t10k", 10, kDigits);
  auto bytes = ember::testing::read_bytes(dir / "train-images-idx3-ubyte");
  bytes.resize(bytes.size() - 1);
  ember::testing::write_bytes(dir / "train-images-idx3-ubyte", bytes);
  expect_error([&] { load_idx_dir(dir.str()); }, {dir / "train-images-idx3-ubyte", "truncated"});
}

TEST(Mnist, LoadDatasetRejectsUnknownSpec) {
  TempDir dir;
  expect_error([&] { load_dataset(dir / "no-such-thing"); }, {"no-such-thing", "mnist-sample"});
  expect_error([&] { load_dataset(dir.str()); }, {dir.str(), "neither"});
}

TEST(Mnist, DataDirFollowsEmberData) {
  const char* old = std::getenv("EMBER_DATA");
  const std::string saved = old ? old : "";
  ::setenv("EMBER_DATA", "/tmp/ember-data-test", 1);
  EXPECT_EQ(data_dir(), "/tmp/ember-data-test");
  EXPECT_EQ(mnist_dir(), "/tmp/ember-data-test/mnist");
  if (old) {
    ::setenv("EMBER_DATA", saved.c_str(), 1);
  } else {
    ::unsetenv("EMBER_DATA");
  }
}
