// The Learner: fit, one-cycle, validation, the learning-rate finder, and the history's output.
#include "ember/train/learner.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "ember/core/graph.hpp"
#include "io/file_util.hpp"
#include "train/progress.hpp"

namespace ember {

namespace {

using Clock = std::chrono::steady_clock;

// Cosine interpolation from `start` (pos 0) to `end` (pos 1), as fast.ai's SchedCos.
double cos_anneal(double start, double end, double pos) {
  return end + (start - end) / 2.0 * (1.0 + std::cos(std::numbers::pi * pos));
}

// The shortest text that reads back as the same double ("0.1", "1e-07"); "nan" when not finite.
std::string number_text(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Runs `write` on a stream to a temporary file beside `path`, then renames it onto `path`.
template <class Fn>
void write_atomically(const std::string& path, const char* what, Fn&& write) {
  const std::string tmp = io::detail::temp_name_beside(path);
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw Error(std::string(what) + ": cannot create " + tmp);
    write(out);
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(std::string(what) + ": cannot write " + path);
    }
  }
  io::detail::rename_over(tmp, path, what);
}

// A loss or metric's value as a double, checking it is one number.
double scalar_value(const Tensor& t, const char* what) {
  if (!t.defined() || t.numel() != 1) {
    throw Error(std::string("Learner: the ") + what + " must return a scalar, got " +
                (t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor")));
  }
  return t.item<double>();
}

std::int64_t batch_items(const data::Batch& b) { return b.x.rank() > 0 ? b.x.size(0) : 1; }

}  // namespace

double one_cycle_lr(double pos, double max_lr, double pct_start, double div, double div_final) {
  pos = std::clamp(pos, 0.0, 1.0);
  if (pos < pct_start) return cos_anneal(max_lr / div, max_lr, pos / pct_start);
  const double rest = 1.0 - pct_start;
  return cos_anneal(max_lr, max_lr / div_final, rest > 0 ? (pos - pct_start) / rest : 1.0);
}

Learner::Learner(std::shared_ptr<nn::Module> model, data::DataLoader& train,
                 data::DataLoader& valid, std::shared_ptr<optim::Optimizer> opt, LossFn loss,
                 std::vector<std::pair<std::string, MetricFn>> metrics)
    : model_(std::move(model)),
      train_(&train),
      valid_(&valid),
      opt_(std::move(opt)),
      loss_(std::move(loss)),
      metrics_(std::move(metrics)),
      out_(&std::cout) {
  if (!model_) throw Error("Learner: the model is null");
  if (!opt_) throw Error("Learner: the optimizer is null");
  if (!loss_) throw Error("Learner: the loss function is empty");
  for (const auto& [name, fn] : metrics_) {
    if (!fn) throw Error("Learner: metric \"" + name + "\" is empty");
    metric_names_.push_back(name);
  }
}

Learner::Learner(std::shared_ptr<nn::Module> model, std::shared_ptr<data::DataLoader> train,
                 std::shared_ptr<data::DataLoader> valid, std::shared_ptr<optim::Optimizer> opt,
                 LossFn loss, std::vector<std::pair<std::string, MetricFn>> metrics)
    : Learner(std::move(model),
              train ? *train : throw Error("Learner: the training loader is null"),
              valid ? *valid : throw Error("Learner: the validation loader is null"),
              std::move(opt), std::move(loss), std::move(metrics)) {
  train_owned_ = std::move(train);
  valid_owned_ = std::move(valid);
}

Learner& Learner::quiet(bool on) {
  quiet_ = on;
  return *this;
}

Learner& Learner::on_epoch_end(std::function<void(const EpochStats&)> fn) {
  on_epoch_end_ = std::move(fn);
  return *this;
}

Learner& Learner::output(std::ostream& os) {
  out_ = &os;
  return *this;
}

Learner& Learner::progress(int mode) {
  progress_mode_ = mode;
  return *this;
}

bool Learner::show_progress() const {
  if (quiet_ || progress_mode_ == 0) return false;
  return train_detail::stderr_is_terminal();
}

void Learner::fit(int epochs, double lr) {
  run_fit(epochs, [lr](std::int64_t, std::int64_t) { return lr; });
}

void Learner::fit_one_cycle(int epochs, double max_lr) {
  // pos = step / total as fast.ai: the first batch runs at max_lr / 25, the last just above
  // max_lr / 1e5
  run_fit(epochs, [max_lr](std::int64_t step, std::int64_t total) {
    return one_cycle_lr(static_cast<double>(step) / static_cast<double>(total), max_lr);
  });
}

void Learner::run_fit(int epochs, const LrSchedule& schedule) {
  if (epochs < 0) throw Error("Learner: epochs must be >= 0, got " + std::to_string(epochs));
  if (!quiet_ && epochs > 0) print_header();
  const std::int64_t per_epoch = train_->size();
  const std::int64_t total = std::max<std::int64_t>(1, per_epoch * epochs);
  for (int e = 0; e < epochs; ++e) {
    const auto t0 = Clock::now();
    EpochStats s;
    s.epoch = static_cast<int>(history_.size());
    s.lr = opt_->lr();
    s.train_loss = train_epoch(per_epoch * e, total, schedule, s.lr);
    const std::vector<double> v = validate();
    s.valid_loss = v[0];
    s.metrics.assign(v.begin() + 1, v.end());
    s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    history_.push_back(s);
    if (!quiet_) print_row(s);
    if (on_epoch_end_) on_epoch_end_(s);
  }
}

double Learner::train_epoch(std::int64_t first_step, std::int64_t total_steps,
                            const LrSchedule& schedule, double& last_lr) {
  model_->train();
  train_detail::ProgressBar bar(show_progress(), "train", train_->size());
  double loss_sum = 0;
  std::int64_t items = 0, done = 0;
  for (const data::Batch& b : *train_) {
    const double lr = schedule(first_step + done, total_steps);
    opt_->set_lr(lr);
    lr_trace_.push_back(lr);
    last_lr = lr;
    const Tensor pred = model_->forward(b.x);
    const Tensor loss = loss_(pred, b.y);
    const double value = scalar_value(loss, "loss");
    if (loss.requires_grad()) loss.backward();
    opt_->step();
    opt_->zero_grad();
    const std::int64_t n = batch_items(b);
    loss_sum += value * static_cast<double>(n);
    items += n;
    ++done;
    bar.update(done, items);
  }
  return items > 0 ? loss_sum / static_cast<double>(items)
                   : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> Learner::validate() {
  const bool was_training = model_->is_training();
  model_->eval();
  NoGradGuard no_grad;
  train_detail::ProgressBar bar(show_progress(), "valid", valid_->size());
  std::vector<double> sums(1 + metrics_.size(), 0.0);
  std::int64_t items = 0, done = 0;
  for (const data::Batch& b : *valid_) {
    const Tensor pred = model_->forward(b.x);
    const auto n = static_cast<double>(batch_items(b));
    sums[0] += scalar_value(loss_(pred, b.y), "loss") * n;
    for (std::size_t k = 0; k < metrics_.size(); ++k) {
      sums[k + 1] += scalar_value(metrics_[k].second(pred, b.y), "metric") * n;
    }
    items += batch_items(b);
    bar.update(++done, items);
  }
  for (double& s : sums) {
    s = items > 0 ? s / static_cast<double>(items) : std::numeric_limits<double>::quiet_NaN();
  }
  model_->train(was_training);
  return sums;
}

Learner::LrFindResult Learner::lr_find(double start_lr, double end_lr, int num_it) {
  if (!(start_lr > 0) || !(end_lr > start_lr) || num_it < 2) {
    throw Error("lr_find: needs 0 < start_lr < end_lr and num_it >= 2, got " +
                number_text(start_lr) + ", " + number_text(end_lr) + ", " + std::to_string(num_it));
  }
  if (train_->size() == 0) throw Error("lr_find: the training loader has no batches");
  // Save what the sweep changes.
  nn::NamedTensors saved_model;
  for (const auto& [name, t] : model_->state_dict())
    saved_model.emplace_back(name, t.detach().clone());
  const auto saved_opt = opt_->state_dict();
  const bool was_training = model_->is_training();

  LrFindResult r;
  model_->train();
  constexpr double beta = 0.98;
  double avg = 0, best = std::numeric_limits<double>::infinity();
  int it = 0;
  bool stop = false;
  while (!stop && it < num_it) {
    for (const data::Batch& b : *train_) {
      const double lr =
          start_lr * std::pow(end_lr / start_lr, static_cast<double>(it) / (num_it - 1));
      opt_->set_lr(lr);
      const Tensor loss = loss_(model_->forward(b.x), b.y);
      const double value = scalar_value(loss, "loss");
      if (loss.requires_grad()) loss.backward();
      opt_->step();
      opt_->zero_grad();
      avg = beta * avg + (1 - beta) * value;
      const double smooth = avg / (1 - std::pow(beta, it + 1));
      r.lrs.push_back(lr);
      r.losses.push_back(smooth);
      best = std::min(best, smooth);
      ++it;
      if (!std::isfinite(smooth) || smooth > 4 * best || it >= num_it) {
        stop = true;
        break;
      }
    }
  }

  // Put everything back.
  model_->load_state_dict(saved_model);
  opt_->load_state_dict(saved_opt);
  opt_->zero_grad();
  model_->train(was_training);

  // Suggestions as fast.ai computes them, leaving out the first tenth (where the loss has not
  // started to move and only batch noise shows) and the last 5 points (where it shoots up), when
  // there are enough points.
  const std::size_t n = r.losses.size();
  std::size_t lo = static_cast<std::size_t>(num_it / 10), hi = n > 5 ? n - 5 : n;
  if (hi < lo + 2) lo = 0, hi = n;
  std::size_t steepest = lo, lowest = lo;
  double best_slope = std::numeric_limits<double>::infinity();
  for (std::size_t i = lo; i < hi; ++i) {
    // slope of the loss against log lr, forward differences
    if (i + 1 < hi) {
      const double slope = (r.losses[i + 1] - r.losses[i]) / std::log(r.lrs[i + 1] / r.lrs[i]);
      if (slope < best_slope) {
        best_slope = slope;
        steepest = i;
      }
    }
    if (r.losses[i] < r.losses[lowest]) lowest = i;
  }
  r.suggested = r.lrs[steepest];
  r.lr_min = r.lrs[lowest] / 10.0;
  return r;
}

// ---- output ----

namespace {
std::size_t column_width(const std::string& name) {
  return std::max<std::size_t>(name.size(), 10) + 2;
}
}  // namespace

void Learner::print_header() {
  std::ostream& os = *out_;
  os << std::left << std::setw(7) << "epoch" << std::setw(12) << "train_loss" << std::setw(12)
     << "valid_loss";
  for (const auto& name : metric_names_)
    os << std::setw(static_cast<int>(column_width(name))) << name;
  os << "time" << std::right << "\n";
  os.flush();
}

void Learner::print_row(const EpochStats& s) {
  std::ostream& os = *out_;
  auto cell = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return std::string(buf);
  };
  os << std::left << std::setw(7) << s.epoch << std::setw(12) << cell(s.train_loss) << std::setw(12)
     << cell(s.valid_loss);
  for (std::size_t k = 0; k < s.metrics.size(); ++k) {
    os << std::setw(static_cast<int>(column_width(metric_names_[k]))) << cell(s.metrics[k]);
  }
  os << train_detail::format_duration(s.seconds) << std::right << "\n";
  os.flush();
}

std::string Learner::epoch_json(const EpochStats& s) const {
  nlohmann::ordered_json j;
  j["epoch"] = s.epoch;
  j["train_loss"] = s.train_loss;
  j["valid_loss"] = s.valid_loss;
  for (std::size_t k = 0; k < s.metrics.size() && k < metric_names_.size(); ++k) {
    j[metric_names_[k]] = s.metrics[k];
  }
  j["seconds"] = s.seconds;
  j["lr"] = s.lr;
  return j.dump();  // a number that is not finite becomes null
}

void Learner::write_csv(const std::string& path) const {
  write_atomically(path, "write_csv", [&](std::ostream& os) {
    os << "epoch,train_loss,valid_loss";
    for (const auto& name : metric_names_) os << "," << name;
    os << ",seconds,lr\n";
    for (const EpochStats& s : history_) {
      os << s.epoch << "," << number_text(s.train_loss) << "," << number_text(s.valid_loss);
      for (double v : s.metrics) os << "," << number_text(v);
      os << "," << number_text(s.seconds) << "," << number_text(s.lr) << "\n";
    }
  });
}

void Learner::write_json(const std::string& path) const {
  write_atomically(path, "write_json", [&](std::ostream& os) {
    os << "{\"metrics\": " << nlohmann::json(metric_names_).dump() << ",\n \"epochs\": [";
    for (std::size_t i = 0; i < history_.size(); ++i) {
      os << (i ? ",\n  " : "\n  ") << epoch_json(history_[i]);
    }
    os << "\n ]}\n";
  });
}

}  // namespace ember
