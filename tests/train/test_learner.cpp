// The Learner on synthetic data made here: the loss falls and the accuracy is high, the history,
// its CSV and JSON, the table without control characters, lr_find and the one-cycle schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ember/data/data.hpp"
#include "ember/nn/nn.hpp"
#include "ember/optim/optim.hpp"
#include "ember/train/train.hpp"
#include "io/test_files.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::expect_error;
using ember::testing::TempDir;

namespace {

// Two linearly separable classes in 2-D: label 1 where x0 + 2 x1 > 0, as f32 [N, 1] targets.
std::shared_ptr<data::TensorDataset> separable(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  const Tensor x = randn({n, 2}, gen);
  const Tensor score = x.select(1, 0) + x.select(1, 1) * 2.0f;
  const Tensor y = (score > 0).to(DType::f32).reshape({n, 1});
  return std::make_shared<data::TensorDataset>(x, y);
}

// Three blobs around (3, 0), (-3, 0), (0, 3) with labels 0, 1, 2 (i64 [N]).
std::shared_ptr<data::TensorDataset> blobs(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<float> xs;
  std::vector<std::int64_t> ys;
  const float cx[3] = {3, -3, 0}, cy[3] = {0, 0, 3};
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::size_t>(i % 3);
    xs.push_back(cx[c] + static_cast<float>(gen.normal()));
    xs.push_back(cy[c] + static_cast<float>(gen.normal()));
    ys.push_back(static_cast<std::int64_t>(c));
  }
  return std::make_shared<data::TensorDataset>(from_vector(xs, {n, 2}), from_vector(ys, {n}));
}

struct Rig {
  Generator gen{42};
  std::shared_ptr<data::TensorDataset> train_ds = separable(512, 1), valid_ds = separable(256, 2);
  data::DataLoader train{train_ds, 64, true, &gen};
  data::DataLoader valid{valid_ds, 100};
  std::shared_ptr<nn::Module> model;
  std::shared_ptr<optim::Optimizer> opt;
  std::unique_ptr<Learner> learn;
  std::ostringstream out;

  explicit Rig(double momentum = 0, Learner::LossFn loss = nn::binary_cross_entropy_with_logits) {
    Generator init(7);
    model = nn::make_sequential({nn::make_linear(2, 1, init)});
    opt = std::make_shared<optim::SGD>(model->parameters(), 0.1, momentum);
    learn = std::make_unique<Learner>(model, train, valid, opt, std::move(loss),
                                      std::vector<std::pair<std::string, Learner::MetricFn>>{
                                          {"batch_accuracy", nn::batch_accuracy}});
    learn->output(out);
  }
};

bool has_control_characters(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 && c != '\n') return true;
  return false;
}

}  // namespace

TEST(Learner, TrainsASeparableProblem) {
  Rig s;
  const double before = s.learn->validate()[0];
  int callbacks = 0;
  s.learn->on_epoch_end([&](const EpochStats& e) { EXPECT_EQ(e.epoch, callbacks++); });
  ::testing::internal::CaptureStderr();
  s.learn->fit(6, 1.0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  const auto& h = s.learn->history();
  ASSERT_EQ(h.size(), 6u);
  EXPECT_EQ(callbacks, 6);
  EXPECT_LT(h.back().valid_loss, before);
  EXPECT_LT(h.back().train_loss, h.front().train_loss);
  EXPECT_GT(h.back().metrics.at(0), 0.95);
  EXPECT_DOUBLE_EQ(h.back().lr, 1.0);
  for (const auto& e : h) EXPECT_GE(e.seconds, 0.0);
  EXPECT_EQ(s.learn->lr_trace().size(), 6u * 8u);  // 512 / 64 batches per epoch

  // the table: a header then one row per epoch, no control characters; no progress bar when
  // stderr is not a terminal (captured here, so it is a file)
  const std::string table = s.out.str();
  EXPECT_FALSE(has_control_characters(table)) << table;
  EXPECT_TRUE(err.empty()) << "stderr: " << err;
  std::istringstream lines(table);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(lines, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 7u) << table;
  for (const char* col : {"epoch", "train_loss", "valid_loss", "batch_accuracy", "time"}) {
    EXPECT_NE(rows[0].find(col), std::string::npos) << rows[0];
  }
  EXPECT_EQ(rows[1].rfind("0 ", 0), 0u) << rows[1];
  EXPECT_NE(rows[6].find("00:0"), std::string::npos) << rows[6];

  // fit again: the history goes on counting
  s.learn->quiet(true);
  s.learn->fit(1, 0.5);
  EXPECT_EQ(s.learn->history().size(), 7u);
  EXPECT_EQ(s.learn->history().back().epoch, 6);
  EXPECT_EQ(s.out.str(), table);  // quiet: nothing more printed
}

TEST(Learner, CsvAndJsonHistory) {
  Rig s;
  s.learn->quiet(true).fit(3, 0.5);
  TempDir dir;
  s.learn->write_csv(dir / "h.csv");
  s.learn->write_json(dir / "h.json");
  std::ifstream csv(dir / "h.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "epoch,train_loss,valid_loss,batch_accuracy,seconds,lr");
  int n = 0;
  while (std::getline(csv, line)) {
    std::vector<double> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(std::stod(cell));
    ASSERT_EQ(cells.size(), 6u) << line;
    const EpochStats& e = s.learn->history()[static_cast<std::size_t>(n)];
    EXPECT_EQ(cells[0], n);
    EXPECT_DOUBLE_EQ(cells[1], e.train_loss);  // written to round-trip exactly
    EXPECT_DOUBLE_EQ(cells[3], e.metrics[0]);
    EXPECT_DOUBLE_EQ(cells[5], 0.5);
    ++n;
  }
  EXPECT_EQ(n, 3);
  std::ifstream js(dir / "h.json");
  const auto j = nlohmann::json::parse(js);
  ASSERT_EQ(j.at("epochs").size(), 3u);
  EXPECT_EQ(j.at("metrics"), nlohmann::json({"batch_accuracy"}));
  EXPECT_EQ(j.at("epochs")[2].at("epoch"), 2);
  EXPECT_DOUBLE_EQ(j.at("epochs")[2].at("valid_loss").get<double>(),
                   s.learn->history()[2].valid_loss);
  EXPECT_DOUBLE_EQ(j.at("epochs")[1].at("batch_accuracy").get<double>(),
                   s.learn->history()[1].metrics[0]);
  // one epoch as one JSON line
  const std::string one = s.learn->epoch_json(s.learn->history()[0]);
  EXPECT_EQ(one.find('\n'), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(one).at("epoch"), 0);
  expect_error([&] { s.learn->write_csv(dir / "no/such/h.csv"); }, {"no/such"});
}

TEST(Learner, ClassesWithCrossEntropyAndAdam) {
  Generator gen(3), init(5);
  auto train_ds = blobs(600, 1), valid_ds = blobs(300, 2);
  auto train = std::make_shared<data::DataLoader>(train_ds, 50, true, &gen);
  auto valid = std::make_shared<data::DataLoader>(valid_ds, 128);
  auto model = nn::make_sequential(
      {nn::make_linear(2, 16, init), nn::make_relu(), nn::make_linear(16, 3, init)});
  auto opt = std::make_shared<optim::Adam>(model->parameters(), 0.01);
  Learner learn(model, train, valid, opt, nn::cross_entropy, {{"accuracy", nn::accuracy}});
  learn.quiet(true).fit(4, 0.02);
  EXPECT_GT(learn.history().back().metrics[0], 0.95);
  EXPECT_LT(learn.history().back().valid_loss, 0.3);
}

TEST(Learner, OneCycleSchedule) {
  // by hand from the cosine: start max/25, peak max at 25%, end max/1e5; halfway up the warm-up
  // the cosine is at its middle: (max/25 + max) / 2
  EXPECT_NEAR(one_cycle_lr(0.0, 1.0), 0.04, 1e-15);
  EXPECT_NEAR(one_cycle_lr(0.125, 1.0), (0.04 + 1.0) / 2, 1e-12);
  EXPECT_NEAR(one_cycle_lr(0.25, 1.0), 1.0, 1e-15);
  EXPECT_NEAR(one_cycle_lr(0.625, 1.0), (1.0 + 1e-5) / 2, 1e-12);
  EXPECT_NEAR(one_cycle_lr(1.0, 1.0), 1e-5, 1e-15);
  EXPECT_NEAR(one_cycle_lr(0.25, 0.1), 0.1, 1e-15);

  Rig s;
  s.learn->quiet(true).fit_one_cycle(2, 0.1);  // 16 batches: the peak is at batch 4
  const auto& lrs = s.learn->lr_trace();
  ASSERT_EQ(lrs.size(), 16u);
  EXPECT_NEAR(lrs[0], 0.1 / 25, 1e-12);
  EXPECT_NEAR(lrs[4], 0.1, 1e-12);
  for (std::size_t i = 1; i <= 4; ++i) EXPECT_GT(lrs[i], lrs[i - 1]);
  for (std::size_t i = 5; i < 16; ++i) EXPECT_LT(lrs[i], lrs[i - 1]);
  EXPECT_NEAR(lrs[15], one_cycle_lr(15.0 / 16.0, 0.1), 1e-15);
  EXPECT_LT(lrs[15], 0.1 / 25);
  EXPECT_DOUBLE_EQ(s.learn->history()[1].lr, lrs[15]);
  EXPECT_DOUBLE_EQ(s.learn->history()[0].lr, lrs[7]);
}

TEST(Learner, LrFindRestoresEverything) {
  // mse: at large learning rates SGD on a quadratic diverges (BCE on separable data would not)
  Rig s(0.9, nn::mse_loss);
  s.learn->quiet(true).fit(1, 0.1);  // so that momentum buffers exist
  const auto weights = s.model->state_dict();
  std::vector<Tensor> before;
  for (const auto& [n, t] : weights) before.push_back(t.detach().clone());
  const auto opt_before = s.opt->state_dict();
  s.model->eval();

  const auto r = s.learn->lr_find(1e-5, 1e3, 60);
  ASSERT_GE(r.lrs.size(), 10u);
  EXPECT_LT(r.lrs.size(), 60u);  // lr 1e3 on this problem blows the loss up: it stopped early
  ASSERT_EQ(r.losses.size(), r.lrs.size());
  EXPECT_NEAR(r.lrs[0], 1e-5, 1e-18);
  for (std::size_t i = 1; i < r.lrs.size(); ++i) {
    EXPECT_GT(r.lrs[i], r.lrs[i - 1]);
    // evenly spaced in log lr
    EXPECT_NEAR(std::log(r.lrs[i] / r.lrs[i - 1]), std::log(1e8) / 59, 1e-9);
  }
  EXPECT_GE(r.suggested, r.lrs.front());
  EXPECT_LE(r.suggested, r.lrs.back());
  EXPECT_GT(r.lr_min, 0.0);

  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(allclose(weights[i].second, before[i], 0, 0)) << weights[i].first;
  }
  const auto opt_after = s.opt->state_dict();
  ASSERT_EQ(opt_after.size(), opt_before.size());
  for (std::size_t i = 0; i < opt_after.size(); ++i) {
    EXPECT_EQ(opt_after[i].first, opt_before[i].first);
    EXPECT_TRUE(allclose(opt_after[i].second, opt_before[i].second, 0, 0)) << opt_after[i].first;
  }
  EXPECT_DOUBLE_EQ(s.opt->lr(), 0.1);
  EXPECT_FALSE(s.model->is_training());
  EXPECT_EQ(s.learn->history().size(), 1u);
  for (const Tensor& p : s.model->parameters()) EXPECT_FALSE(p.grad().defined());
  expect_error([&] { s.learn->lr_find(1.0, 0.5); }, {"lr_find"});
}

TEST(Learner, BadLossIsReported) {
  Rig s;
  Learner bad(s.model, s.train, s.valid, s.opt,
              [](const Tensor& p, const Tensor&) { return p; });  // not a scalar
  bad.quiet(true);
  expect_error([&] { bad.fit(1, 0.1); }, {"scalar", "[64, 1]"});
}
