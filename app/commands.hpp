#pragma once
// The ember command's subcommands (everything but `chapter`).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ember_app {

// Options left unset take the model's recipe (recipe_for): SGD at 0.1 for 5 epochs for the
// chapter's models, a tuned Adam/one-cycle recipe for cnn and resnet.
struct TrainOptions {
  std::string model = "simple_net";
  std::string data = "mnist-sample";
  std::optional<int> epochs;
  std::optional<double> lr;  // the peak with one-cycle
  std::optional<std::int64_t> bs;
  std::optional<std::string> opt;
  std::optional<double> wd;  // weight decay (AdamW: decoupled; SGD, Adam: L2)
  double momentum = 0.0;
  std::uint64_t seed = 42;
  std::string out;
  bool json = false;
  bool one_cycle = false;     // force the one-cycle schedule on
  bool no_one_cycle = false;  // force a constant learning rate
  std::vector<double>
      augment;           // {max shift in pixels, max rotation in degrees}; empty: the recipe's
  bool lr_find = false;  // run the learning-rate range test instead of training
  bool resize = false;
  std::string history;  // CSV or JSON path for the epoch table
};

// A model's default training recipe: what `ember train --model M` does without further options.
struct Recipe {
  std::string opt = "sgd";
  double lr = 0.1;
  int epochs = 5;
  std::int64_t bs = 256;
  double wd = 0.0;
  bool one_cycle = false;
  std::int64_t shift = 0;  // augmentation: max shift (pixels) and rotation (degrees); 0, 0 is none
  double degrees = 0.0;
};
Recipe recipe_for(const std::string& model);
// The recipe of o.model with every option the user gave put over it.
Recipe resolve_recipe(const TrainOptions& o);

// --model and --classes left unset come from the weights file's metadata (ember train writes the
// model, the class names and the image size there), else simple_net and 10.
struct EvalOptions {
  std::string weights, data = "mnist-sample";
  std::optional<std::string> model;
  bool json = false;
  int worst = 10;
  bool resize = false;
};

struct PredictOptions {
  std::string weights;
  std::optional<std::string> model;
  std::vector<std::string> images;
  std::optional<int> classes;
  bool json = false;
};

int run_train(const TrainOptions& o);
int run_eval(const EvalOptions& o);
int run_predict(const PredictOptions& o);
int run_baseline(const std::string& data, bool json, bool resize);
int run_fetch(const std::string& what);
int run_export_png(const std::string& what, const std::string& dir);

}  // namespace ember_app
