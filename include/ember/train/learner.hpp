#pragma once
// Learner: a model, its data, an optimizer, a loss and metrics, trained epoch by epoch as fast.ai's
// Learner does.
//
//   Learner learn(model, train_dl, valid_dl, opt, nn::mnist_loss, {{"batch_accuracy",
//                 nn::batch_accuracy}});
//   learn.fit(40, 0.1);
//
// prints, as fast.ai does:
//
//   epoch  train_loss  valid_loss  batch_accuracy  time
//   0      0.325842    0.401127    0.509323        00:00
//   ...
//
// Each epoch trains (model.train(); per batch: forward, loss, backward, step, zero_grad), then
// validates under NoGradGuard (model.eval()), averaging the loss and metrics over the items
// (weighted by batch size). train_loss is the mean training loss over the epoch's batches,
// weighted by batch size (fast.ai shows an exponentially smoothed one instead).
//
// While an epoch runs, a progress bar goes to stderr, only when stderr is a terminal; the table
// contains no control characters.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.hpp"
#include "ember/data/dataloader.hpp"
#include "ember/nn/module.hpp"
#include "ember/optim/optim.hpp"

namespace ember {

struct EpochStats {
  int epoch = 0;  // counted from 0 over the Learner's whole history
  double train_loss = 0;
  double valid_loss = 0;
  std::vector<double> metrics;  // in the order of the Learner's metric names
  double seconds = 0;           // training and validation of this epoch
  double lr = 0;                // the learning rate of the epoch's last step
};

// fast.ai's one-cycle learning rate at `pos` in [0, 1] (the fraction of training done): a cosine
// warm-up from max_lr / div to max_lr over the first pct_start, then a cosine anneal to
// max_lr / div_final.
double one_cycle_lr(double pos, double max_lr, double pct_start = 0.25, double div = 25.0,
                    double div_final = 1e5);

class Learner {
 public:
  using LossFn = std::function<Tensor(const Tensor& pred, const Tensor& target)>;
  using MetricFn = std::function<Tensor(const Tensor& pred, const Tensor& target)>;

  // The loaders are not owned: they must outlive the Learner.
  Learner(std::shared_ptr<nn::Module> model, data::DataLoader& train, data::DataLoader& valid,
          std::shared_ptr<optim::Optimizer> opt, LossFn loss,
          std::vector<std::pair<std::string, MetricFn>> metrics = {});
  // The same, sharing ownership of the loaders.
  Learner(std::shared_ptr<nn::Module> model, std::shared_ptr<data::DataLoader> train,
          std::shared_ptr<data::DataLoader> valid, std::shared_ptr<optim::Optimizer> opt,
          LossFn loss, std::vector<std::pair<std::string, MetricFn>> metrics = {});

  // Trains `epochs` epochs at a constant learning rate `lr`.
  void fit(int epochs, double lr);
  // Trains `epochs` epochs with the one-cycle schedule (one_cycle_lr, set before every batch).
  void fit_one_cycle(int epochs, double max_lr);

  // Runs the validation set once (model.eval(), no gradients): the loss and each metric.
  // Returns {valid_loss, metric values...}.
  std::vector<double> validate();

  struct LrFindResult {
    std::vector<double> lrs;     // increasing, exponentially spaced
    std::vector<double> losses;  // the smoothed training loss at each lr
    // The suggestion is the lr at the steepest descent of the smoothed loss (the most negative
    // slope of loss against log lr), fast.ai's lr_steep; lr_min is the lr of the smallest loss
    // divided by 10, the other classic rule. Both leave out the first num_it / 10 points (only
    // noise there) and the last 5 (where the loss blows up) when there are enough points.
    double suggested = 0;
    double lr_min = 0;
  };
  // The learning-rate range test: from start_lr to end_lr exponentially over num_it batches
  // (going through the training data as often as needed), recording an exponentially smoothed
  // loss (beta 0.98, debiased) and stopping early when it passes 4 times its minimum or is not a
  // number. Afterwards the model's weights, its train/eval mode and the optimizer's state and lr
  // are put back as they were (the loader's shuffling generator moves on). Nothing is printed to
  // the table or the history.
  LrFindResult lr_find(double start_lr = 1e-7, double end_lr = 10, int num_it = 100);

  const std::vector<EpochStats>& history() const { return history_; }
  // Every learning rate used, one per training batch, over the whole history.
  const std::vector<double>& lr_trace() const { return lr_trace_; }
  const std::vector<std::string>& metric_names() const { return metric_names_; }

  // The history as CSV (epoch,train_loss,valid_loss,<metrics>,seconds,lr) and as JSON
  // ({"metrics": [names], "epochs": [{"epoch": 0, "train_loss": ..., "<metric>": ..., ...}]}),
  // each written to a temporary file then renamed onto `path`.
  void write_csv(const std::string& path) const;
  void write_json(const std::string& path) const;
  // One epoch as a one-line JSON object, the same fields as write_json's (for --json output).
  std::string epoch_json(const EpochStats& s) const;

  // No table (the progress bar follows it too).
  Learner& quiet(bool on = true);
  // Called after every epoch with its stats.
  Learner& on_epoch_end(std::function<void(const EpochStats&)> fn);
  // Where the table goes (std::cout by default); the stream must outlive the Learner's use.
  Learner& output(std::ostream& os);
  // The progress bar: -1 (default) shows it only when stderr is a terminal, 0 never, 1 always
  // (still only on a terminal's stderr: it uses carriage returns).
  Learner& progress(int mode);

  nn::Module& model() { return *model_; }
  optim::Optimizer& optimizer() { return *opt_; }

 private:
  using LrSchedule = std::function<double(std::int64_t step, std::int64_t total)>;
  void run_fit(int epochs, const LrSchedule& schedule);
  double train_epoch(std::int64_t first_step, std::int64_t total_steps, const LrSchedule& schedule,
                     double& last_lr);
  void print_header();
  void print_row(const EpochStats& s);
  bool show_progress() const;

  std::shared_ptr<nn::Module> model_;
  std::shared_ptr<data::DataLoader> train_owned_, valid_owned_;
  data::DataLoader* train_;
  data::DataLoader* valid_;
  std::shared_ptr<optim::Optimizer> opt_;
  LossFn loss_;
  std::vector<std::pair<std::string, MetricFn>> metrics_;
  std::vector<std::string> metric_names_;
  std::vector<EpochStats> history_;
  std::vector<double> lr_trace_;
  bool quiet_ = false;
  int progress_mode_ = -1;
  std::ostream* out_;
  std::function<void(const EpochStats&)> on_epoch_end_;
};

}  // namespace ember
