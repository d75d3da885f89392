// A small CNN trained briefly on a slice of real MNIST (the first 3000 training images, the first
// 1000 test images), through the library and through `ember train --model cnn`, must pass a
// modest accuracy bar. Uses the MNIST cache, fetching it when absent (as the RealMnist suite
// does); filter with --gtest_filter=-TrainCnn.* when offline.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <ember/ember.hpp>

#include "io/test_files.hpp"

namespace fs = std::filesystem;
using namespace ember;

namespace {

constexpr std::int64_t kTrain = 3000, kTest = 1000;

// Writes the slice as the four MNIST IDX files into a folder that `ember train --data DIR` reads.
class TrainCnn : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ember::testing::TempDir();
    const data::DataSplit mnist = data::load_dataset("mnist");
    auto write = [](const data::ImageData& d, std::int64_t n, const std::string& prefix) {
      io::write_idx(d.images.slice(0, 0, n).contiguous(), *dir_ / (prefix + "-images-idx3-ubyte"));
      io::write_idx(d.labels.slice(0, 0, n).to(u8), *dir_ / (prefix + "-labels-idx1-ubyte"));
    };
    write(mnist.train, kTrain, "train");
    write(mnist.valid, kTest, "t10k");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static ember::testing::TempDir* dir_;
};
ember::testing::TempDir* TrainCnn::dir_ = nullptr;

// The issue-6 CNN, written out here (the app's make_model is not part of the library):
// x: [B, 1, 28, 28] -> [B, 10].
std::shared_ptr<nn::Module> small_cnn(Generator& gen) {
  auto conv = [&](std::int64_t in, std::int64_t out) {
    return nn::make_conv2d(in, out, {3, 3}, gen, {1, 1}, {1, 1});
  };
  return nn::make_sequential({conv(1, 16), nn::make_relu(), nn::make_max_pool2d({2, 2}),
                              conv(16, 32), nn::make_relu(), nn::make_max_pool2d({2, 2}),
                              nn::make_flatten(), nn::make_linear(32 * 7 * 7, 10, gen)});
}

struct CmdResult {
  int status = -1;
  std::string out, err;
};

// Runs the ember binary with `args`, capturing stdout and stderr.
CmdResult ember_cmd(const std::string& args, const ember::testing::TempDir& dir) {
  const std::string out = dir / "out.txt", err = dir / "err.txt";
  const std::string cmd =
      std::string(EMBER_BINARY_DIR) + "/ember " + args + " >" + out + " 2>" + err + " </dev/null";
  const int rc = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream is(p);
    std::stringstream ss;
    ss << is.rdbuf();
    return ss.str();
  };
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace

TEST_F(TrainCnn, LibraryTwoEpochsOnASlice) {
  const data::DataSplit split = data::load_dataset(dir_->str());
  ASSERT_EQ(split.train.size(), kTrain);
  ASSERT_EQ(split.valid.size(), kTest);
  Generator gen(0);
  auto model = small_cnn(gen);
  data::ImageDataset train_ds(split.train, data::Layout::image),
      valid_ds(split.valid, data::Layout::image);
  data::DataLoader train_dl(train_ds, 32, true, &gen), valid_dl(valid_ds, 500);
  // Light augmentation, as the resnet recipe uses it: it must not stop a CNN from learning.
  train_dl.transform(data::random_affine({.max_shift = 1, .max_degrees = 5}, 1));
  auto opt = std::make_shared<optim::AdamW>(model->parameters(), 1e-2);
  Learner learn(model, train_dl, valid_dl, opt, nn::cross_entropy, {{"accuracy", nn::accuracy}});
  learn.quiet(true);
  learn.fit_one_cycle(2, 1e-2);
  const auto& last = learn.history().back();
  EXPECT_GE(last.metrics.at(0), 0.9) << "valid loss " << last.valid_loss;
  EXPECT_LT(last.valid_loss, 0.4);
}

TEST_F(TrainCnn, CommandTrainsEvaluatesAndFindsALearningRate) {
  ember::testing::TempDir work;
  const std::string weights = work / "cnn.safetensors";
  CmdResult t = ember_cmd("train --model cnn --data " + dir_->str() +
                              " --epochs 2 --bs 32 --lr 1e-2 --json --out " + weights,
                          work);
  ASSERT_EQ(t.status, 0) << t.err;
  const auto rows = json_lines(t.out);
  ASSERT_EQ(rows.size(), 3u) << t.out;  // two epochs and a summary
  const auto& summary = rows.back();
  EXPECT_TRUE(summary["summary"].get<bool>());
  EXPECT_GE(summary["accuracy"].get<double>(), 0.9) << t.out;
  // The cnn recipe (its optimizer, one-cycle) filled in what the command line left out.
  EXPECT_EQ(summary["recipe"]["opt"], "adamw");
  EXPECT_TRUE(summary["recipe"]["one_cycle"].get<bool>());
  EXPECT_EQ(summary["recipe"]["epochs"], 2);

  CmdResult e = ember_cmd(
      "eval --weights " + weights + " --model cnn --data " + dir_->str() + " --json --worst 5",
      work);
  ASSERT_EQ(e.status, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_NEAR(ej["accuracy"].get<double>(), summary["accuracy"].get<double>(),
              1e-6);                        // f32 in the summary
  EXPECT_EQ(ej["confusion"].size(), 100u);  // ten classes
  EXPECT_LE(ej["most_wrong"].size(), 5u);

  CmdResult f =
      ember_cmd("train --model cnn --data " + dir_->str() + " --lr-find --json --bs 32", work);
  ASSERT_EQ(f.status, 0) << f.err;
  const auto fj = nlohmann::json::parse(f.out);
  EXPECT_TRUE(fj["lr_find"].get<bool>());
  EXPECT_GT(fj["lrs"].size(), 10u);
  EXPECT_EQ(fj["lrs"].size(), fj["losses"].size());
  EXPECT_GT(fj["suggested"].get<double>(), 1e-6);
  EXPECT_LT(fj["suggested"].get<double>(), 1.0);

  // Bad augmentation options are one line on stderr and status 2.
  for (const char* bad : {" --augment 1.5,10", " --augment 2", " --augment 2,-3"}) {
    CmdResult r = ember_cmd("train --model cnn --data " + dir_->str() + bad, work);
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.err.find("augment"), std::string::npos) << bad << ": " << r.err;
  }
}
