#pragma once
// The ember command's subcommands (everything but `chapter`).
#include <cstdint>
#include <string>
#include <vector>

namespace ember_app {

struct TrainOptions {
  std::string model = "simple_net";
  std::string data = "mnist-sample";
  int epochs = 5;
  double lr = 0.1;
  std::int64_t bs = 256;
  std::string opt = "sgd";
  double momentum = 0.0;
  std::uint64_t seed = 42;
  std::string out;
  bool json = false;
  bool one_cycle = false;
  bool resize = false;
  std::string history;  // CSV or JSON path for the epoch table
};

struct EvalOptions {
  std::string weights, model = "simple_net", data = "mnist-sample";
  bool json = false;
  int worst = 10;
  bool resize = false;
};

struct PredictOptions {
  std::string weights, model = "simple_net";
  std::vector<std::string> images;
  int classes = 10;
  bool json = false;
};

int run_train(const TrainOptions& o);
int run_eval(const EvalOptions& o);
int run_predict(const PredictOptions& o);
int run_baseline(const std::string& data, bool json, bool resize);
int run_fetch(const std::string& what);
int run_export_png(const std::string& what, const std::string& dir);

}  // namespace ember_app
