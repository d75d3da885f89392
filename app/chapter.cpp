// `ember chapter`: fast.ai's "MNIST basics", step by step, on the real 3s and 7s of MNIST.
// Each stage prints what the notebook shows, then a table sums up. Public API only.
#include "chapter.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "chapter_report.hpp"
#include "common.hpp"
#include "ember/ember.hpp"
#include "models.hpp"

namespace ember_app {

using namespace ember;
using json = nlohmann::json;

namespace {

class Chapter {
 public:
  explicit Chapter(const ChapterOptions& o) : opt_(o), gen_(o.seed) {}

  int run();

 private:
  // human output, silenced by --json
  template <class... Args>
  void say(const char* fmt, Args... args) {
    if (!opt_.json) {
      std::printf(fmt, args...);
      std::fflush(stdout);
    }
  }
  void heading(const char* title) {
    if (!opt_.json) std::printf("\n== %s ==\n", title);
  }
  void finish_stage(const std::string& name, const std::string& summary, json fields,
                    Clock::time_point start);
  // A stage that ends with a Learner's fit: its final accuracy beside the chapter's figure, the
  // history for the report, and the stage's result line.
  void finish_fit_stage(const std::string& name, const Learner& learn, const char* published,
                        viz::TrainingHistory& figure, Clock::time_point start);

  void load_data();
  void stage_pixel_similarity();
  void stage_gradients_and_quadratic();
  void stage_linear_by_hand();
  void stage_linear_module();
  void stage_simple_net();
  void stage_cnn();

  int epochs(int full) const { return opt_.quick ? std::max(1, full / 10) : full; }

  ChapterOptions opt_;
  Generator gen_;
  data::DataSplit split_;
  Tensor threes_, sevens_;              // f32 [n, 28, 28], training images
  Tensor valid_threes_, valid_sevens_;  // f32 [n, 28, 28]
  Tensor mean3_, mean7_;
  std::vector<StageResult> results_;
  ChapterFigures figures_;
};

// The chapter's loaders over the 3s and 7s: shuffled training batches (seeded) and validation
// batches, with [B, 1] f32 targets (1 for a 3, 0 for a 7).
struct SampleLoaders {
  SampleLoaders(const data::DataSplit& split, data::Layout layout, std::uint64_t seed,
                std::int64_t batch, std::int64_t valid_batch)
      : train_ds(split.train, layout),
        valid_ds(split.valid, layout),
        gen(seed),
        train(train_ds, batch, /*shuffle=*/true, &gen),
        valid(valid_ds, valid_batch) {
    train.float_targets();
    valid.float_targets();
  }
  data::ImageDataset train_ds, valid_ds;
  Generator gen;
  data::DataLoader train, valid;
};

// batch_accuracy over the whole validation set, weighted by batch size, without gradients.
double validate_epoch(data::DataLoader& valid, const std::function<Tensor(const Tensor&)>& model) {
  NoGradGuard no_grad;
  double total = 0;
  std::int64_t n = 0;
  for (const auto& b : valid) {
    total += nn::batch_accuracy(model(b.x), b.y).item<double>() * static_cast<double>(b.x.size(0));
    n += b.x.size(0);
  }
  return total / static_cast<double>(n);
}

viz::TrainingHistory history_of(const Learner& learn) {
  viz::TrainingHistory h;
  h.metric_name = "batch_accuracy";
  for (const auto& e : learn.history()) {
    h.epochs.push_back(e.epoch);
    h.train_loss.push_back(e.train_loss);
    h.valid_loss.push_back(e.valid_loss);
    h.metric.push_back(e.metrics.at(0));
  }
  return h;
}

// The images of one label as f32 in [0, 1].
Tensor unit_images_with_label(const data::ImageData& d, std::int64_t label) {
  return data::to_unit_float(data::images_with_label(d, label));
}

// The chapter's distance: mean absolute difference over the last two axes (broadcasts).
Tensor mnist_distance(const Tensor& a, const Tensor& b) { return (a - b).abs().mean({-1, -2}); }

Tensor is_3(const Tensor& x, const Tensor& mean3, const Tensor& mean7) {
  return mnist_distance(x, mean3) < mnist_distance(x, mean7);
}

void Chapter::finish_stage(const std::string& name, const std::string& summary, json fields,
                           Clock::time_point start) {
  const double secs = seconds_since(start);
  results_.push_back({name, summary, secs});
  if (opt_.json) {
    fields["stage"] = name;
    fields["seconds"] = secs;
    std::cout << fields.dump() << std::endl;
  }
}

void Chapter::finish_fit_stage(const std::string& name, const Learner& learn, const char* published,
                               viz::TrainingHistory& figure, Clock::time_point start) {
  const auto& h = learn.history();
  const double acc = h.back().metrics.at(0);
  say("validation accuracy %.4f (%s)\n", acc, published);
  figure = history_of(learn);
  char buf[96];
  std::snprintf(buf, sizeof buf, "validation accuracy %.4f after %zu epochs", acc, h.size());
  finish_stage(name, buf, {{"accuracy", acc}, {"epochs", h.size()}}, start);
}

void Chapter::load_data() {
  split_ = data::load_dataset(opt_.data);
  // mnist-sample: label 1 is a 3, label 0 a 7 (as the chapter)
  threes_ = unit_images_with_label(split_.train, 1);
  sevens_ = unit_images_with_label(split_.train, 0);
  valid_threes_ = unit_images_with_label(split_.valid, 1);
  valid_sevens_ = unit_images_with_label(split_.valid, 0);
  say("MNIST sample: %lld threes and %lld sevens to train on, %lld and %lld to validate\n",
      static_cast<long long>(threes_.size(0)), static_cast<long long>(sevens_.size(0)),
      static_cast<long long>(valid_threes_.size(0)), static_cast<long long>(valid_sevens_.size(0)));
}

void Chapter::stage_pixel_similarity() {
  const auto start = Clock::now();
  heading("1. Pixels, the ideal 3 and 7, and a baseline");
  say("stacked_threes: shape %s, dtype %s (pixels / 255)\n", shape_str(threes_.shape()).c_str(),
      dtype_name(threes_.dtype()));
  mean3_ = threes_.mean(0);
  mean7_ = sevens_.mean(0);
  say("mean3 = stacked_threes.mean(0): shape %s — the ideal 3:\n",
      shape_str(mean3_.shape()).c_str());
  if (!opt_.json) std::printf("%s", shade_digit(mean3_).c_str());
  say("the ideal 7:\n");
  if (!opt_.json) std::printf("%s", shade_digit(mean7_).c_str());

  const Tensor a_3 = threes_[1];
  const double d3_abs = (a_3 - mean3_).abs().mean().item<double>();
  const double d3_sqr = (a_3 - mean3_).pow(2).mean().sqrt().item<double>();
  const double d7_abs = (a_3 - mean7_).abs().mean().item<double>();
  const double d7_sqr = (a_3 - mean7_).pow(2).mean().sqrt().item<double>();
  say("one 3 against the ideal 3: L1 %.4f, RMSE %.4f\n", d3_abs, d3_sqr);
  say("one 3 against the ideal 7: L1 %.4f, RMSE %.4f  (further away: it looks like a 3)\n", d7_abs,
      d7_sqr);
  say("nn::l1_loss / nn::mse_loss(...).sqrt() give the same: %.4f, %.4f\n",
      nn::l1_loss(a_3, mean7_).item<double>(), nn::mse_loss(a_3, mean7_).sqrt().item<double>());

  say("\nbroadcasting: tensor({1, 2, 3}) + 1 = %s\n", (tensor({1, 2, 3}) + 1).str().c_str());
  const Tensor distances = mnist_distance(valid_threes_, mean3_);
  say("mnist_distance(valid_3_tens, mean3): shape %s (one distance per image, by broadcasting "
      "[%lld, 28, 28] against [28, 28])\n",
      shape_str(distances.shape()).c_str(), static_cast<long long>(valid_threes_.size(0)));

  const double acc3 = is_3(valid_threes_, mean3_, mean7_).to(f32).mean().item<double>();
  const double acc7 = (1.0 - is_3(valid_sevens_, mean3_, mean7_).to(f32)).mean().item<double>();
  const double avg = (acc3 + acc7) / 2;
  say("\npixel similarity on the validation set:\n  accuracy on 3s %.4f, on 7s %.4f, average "
      "%.4f\n",
      acc3, acc7, avg);
  say("  (the chapter: 0.9168, 0.9854, 0.9511)\n");
  figures_.mean3 = mean3_;
  figures_.mean7 = mean7_;
  figures_.sample3 = a_3;
  char buf[128];
  std::snprintf(buf, sizeof buf, "3s %.4f, 7s %.4f, average %.4f", acc3, acc7, avg);
  figures_.baseline = buf;
  finish_stage("pixel_similarity", buf,
               {{"accuracy_3", acc3},
                {"accuracy_7", acc7},
                {"accuracy", avg},
                {"distance_to_mean3", d3_abs},
                {"distance_to_mean7", d7_abs}},
               start);
}

void Chapter::stage_gradients_and_quadratic() {
  const auto start = Clock::now();
  heading("2. Gradients and the roller coaster (SGD on a quadratic)");
  Tensor xt = tensor(3.0).requires_grad_();
  Tensor yt = xt.pow(2);
  yt.backward();
  say("f(x) = x^2 at x = 3: f = %.1f, x.grad() = %.1f\n", yt.item<double>(),
      xt.grad().item<double>());
  Tensor xv = tensor({3.0, 4.0, 10.0}).requires_grad_();
  xv.pow(2).sum().backward();
  const auto g = xv.grad().to_vector<float>();
  say("f(x) = sum(x^2) at [3, 4, 10]: x.grad() = [%.0f, %.0f, %.0f]\n", g[0], g[1], g[2]);

  Generator gen(opt_.seed);
  Tensor time = arange(0, 20).to(f32);
  Tensor speed = randn({20}, gen) * 3.0 + 0.75 * (time - 9.5).pow(2) + 1.0;
  Tensor params = randn({3}, gen).requires_grad_();
  auto f = [&](const Tensor& t, const Tensor& p) { return p[0] * t.pow(2) + p[1] * t + p[2]; };
  const double lr = 1e-5;
  std::vector<double> losses;
  figures_.time = time;
  figures_.speed = speed;
  say("fitting a*t^2 + b*t + c to 20 noisy speeds, lr %g:\n", lr);
  for (int step = 0; step < 10; ++step) {
    Tensor preds = f(time, params);
    Tensor loss = nn::mse_loss(preds, speed);
    loss.backward();
    {
      NoGradGuard no_grad;
      params.sub_(params.grad(), lr);
    }
    params.zero_grad();
    losses.push_back(loss.item<double>());
    figures_.quadratic_steps.push_back(preds.detach().clone());
    say("  step %d: loss %.2f\n", step, losses.back());
  }
  figures_.quadratic_losses = losses;
  char buf[128];
  std::snprintf(buf, sizeof buf, "loss %.1f -> %.1f in 10 steps", losses.front(), losses.back());
  finish_stage("quadratic_sgd", buf, {{"losses", losses}}, start);
}

void Chapter::stage_linear_by_hand() {
  const auto start = Clock::now();
  heading("3. A linear model trained by hand: x @ w + b, mnist_loss, SGD, mini-batches");
  SampleLoaders loaders(split_, data::Layout::flat, opt_.seed, 256, 256);
  data::DataLoader& dl = loaders.train;
  Generator& gen = loaders.gen;
  // init_params: random weights (std 1), as the chapter
  Tensor weights = randn({28 * 28, 1}, gen).requires_grad_();
  Tensor bias = randn({1}, gen).requires_grad_();
  auto linear1 = [&](const Tensor& xb) { return matmul(xb, weights) + bias; };
  const auto first = *dl.begin();
  say("a batch: x %s, y %s; predictions %s\n", shape_str(first.x.shape()).c_str(),
      shape_str(first.y.shape()).c_str(), shape_str(linear1(first.x).shape()).c_str());

  auto validate = [&]() { return validate_epoch(loaders.valid, linear1); };
  const double lr = 1.0;
  say("before training: validation accuracy %.4f\n", validate());
  say("20 epochs at lr %.1f, batches of 256:\n ", lr);
  double acc = 0;
  std::vector<double> accs;
  for (int epoch = 0; epoch < epochs(20); ++epoch) {
    for (const auto& b : dl) {
      Tensor loss = nn::mnist_loss(linear1(b.x), b.y);
      loss.backward();
      NoGradGuard no_grad;
      weights.sub_(weights.grad(), lr);
      bias.sub_(bias.grad(), lr);
      weights.zero_grad();
      bias.zero_grad();
    }
    acc = validate();
    accs.push_back(acc);
    say(" %.4f", acc);
  }
  say("\n  (the chapter reaches about 0.97)\n");
  figures_.linear_weights = weights.detach().clone();
  figures_.linear_accuracies = accs;
  char buf[96];
  std::snprintf(buf, sizeof buf, "validation accuracy %.4f", acc);
  finish_stage("linear_by_hand", buf, {{"accuracy", acc}, {"accuracies", accs}}, start);
}

// The chapter's own optimizer: p -= p.grad * lr for each parameter.
class BasicOptim {
 public:
  BasicOptim(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {}
  void step() {
    NoGradGuard no_grad;
    for (auto& p : params_) p.sub_(p.grad(), lr_);
  }
  void zero_grad() {
    for (auto& p : params_) p.zero_grad();
  }

 private:
  std::vector<Tensor> params_;
  double lr_;
};

void Chapter::stage_linear_module() {
  const auto start = Clock::now();
  heading("4. The same with nn::Linear, BasicOptim, optim::SGD and the Learner");
  SampleLoaders loaders(split_, data::Layout::flat, opt_.seed, 256, 256);
  data::DataLoader& dl = loaders.train;
  Generator& gen = loaders.gen;
  auto validate = [&](nn::Module& model) {
    return validate_epoch(loaders.valid, [&](const Tensor& x) { return model(x); });
  };
  const double lr = 1.0;

  auto model = std::make_shared<nn::Linear>(28 * 28, 1, gen);
  say("%s: weight %s, bias %s\n", model->repr().c_str(), shape_str(model->weight.shape()).c_str(),
      shape_str(model->bias.shape()).c_str());
  BasicOptim basic(model->parameters(), lr);
  for (int epoch = 0; epoch < epochs(20); ++epoch) {
    for (const auto& b : dl) {
      nn::mnist_loss((*model)(b.x), b.y).backward();
      basic.step();
      basic.zero_grad();
    }
  }
  const double acc_basic = validate(*model);
  say("BasicOptim, 20 epochs: validation accuracy %.4f\n", acc_basic);

  auto model2 = std::make_shared<nn::Linear>(28 * 28, 1, gen);
  optim::SGD sgd(model2->parameters(), lr);
  for (int epoch = 0; epoch < epochs(20); ++epoch) {
    for (const auto& b : dl) {
      nn::mnist_loss((*model2)(b.x), b.y).backward();
      sgd.step();
      sgd.zero_grad();
    }
  }
  const double acc_sgd = validate(*model2);
  say("optim::SGD, 20 epochs: validation accuracy %.4f\n", acc_sgd);

  auto model3 = std::make_shared<nn::Linear>(28 * 28, 1, gen);
  auto opt = std::make_shared<optim::SGD>(model3->parameters(), lr);
  Learner learn(model3, dl, loaders.valid, opt, nn::mnist_loss,
                {{"batch_accuracy", nn::batch_accuracy}});
  learn.quiet(opt_.json);
  say("Learner.fit(10, lr=1.0):\n");
  learn.fit(epochs(10), lr);
  const double acc_learner = learn.history().back().metrics.at(0);
  char buf[128];
  std::snprintf(buf, sizeof buf, "BasicOptim %.4f, SGD %.4f, Learner %.4f", acc_basic, acc_sgd,
                acc_learner);
  finish_stage("linear_module", buf,
               {{"accuracy_basic_optim", acc_basic},
                {"accuracy_sgd", acc_sgd},
                {"accuracy_learner", acc_learner}},
               start);
}

void Chapter::stage_simple_net() {
  const auto start = Clock::now();
  heading("5. A neural network: simple_net = Linear(784, 30), ReLU, Linear(30, 1)");
  SampleLoaders loaders(split_, data::Layout::flat, opt_.seed, 256, 256);
  Generator& gen = loaders.gen;
  auto simple_net =
      std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
          std::make_shared<nn::Linear>(28 * 28, 30, gen), std::make_shared<nn::ReLU>(),
          std::make_shared<nn::Linear>(30, 1, gen)});
  say("%s\n", simple_net->repr().c_str());
  auto opt = std::make_shared<optim::SGD>(simple_net->parameters(), 0.1);
  Learner learn(simple_net, loaders.train, loaders.valid, opt, nn::mnist_loss,
                {{"batch_accuracy", nn::batch_accuracy}});
  learn.quiet(opt_.json);
  say("Learner.fit(40, lr=0.1):\n");
  learn.fit(epochs(40), 0.1);
  finish_fit_stage("simple_net", learn, "the chapter: 0.9828", figures_.simple_net, start);
}

void Chapter::stage_cnn() {
  const auto start = Clock::now();
  heading("6. Going deeper: a small residual network on the same 3s and 7s");
  SampleLoaders loaders(split_, data::Layout::image, opt_.seed, 128, 512);  // batch 128
  Generator& gen = loaders.gen;
  // the app's `resnet`: a conv stem with batch norm, three residual blocks, average pooling, one
  // logit (3 or 7); trained with AdamW and the one-cycle schedule on lightly shifted and rotated
  // images, as fast.ai trains its resnet18 (which reaches 0.9971 here).
  const ModelSpec spec = make_model("resnet", 28, 28, 2, gen);
  say("%s\n", spec.model->repr().c_str());
  data::AugmentOptions augment;
  augment.max_shift = 2;
  augment.max_degrees = 10;
  loaders.train.transform(data::random_affine(augment, opt_.seed));
  auto opt = std::make_shared<optim::AdamW>(spec.model->parameters(), 1e-2, 0.9, 0.999, 1e-8, 0.01);
  Learner learn(spec.model, loaders.train, loaders.valid, opt, nn::binary_cross_entropy_with_logits,
                {{"batch_accuracy", nn::batch_accuracy}});
  learn.quiet(opt_.json);
  const int n_epochs = opt_.quick ? 1 : 2;
  say("Learner.fit_one_cycle(%d, 1e-2), AdamW, binary cross-entropy, random shifts and "
      "rotations:\n",
      n_epochs);
  learn.fit_one_cycle(n_epochs, 1e-2);
  finish_fit_stage("cnn", learn, "the chapter's resnet18: 0.9971", figures_.cnn, start);
}

int Chapter::run() {
  const auto start = Clock::now();
  load_data();
  stage_pixel_similarity();
  stage_gradients_and_quadratic();
  stage_linear_by_hand();
  stage_linear_module();
  stage_simple_net();
  stage_cnn();
  if (!opt_.json) {
    std::printf("\n== Results ==\n");
    std::printf("%-20s  %-52s  %8s\n", "stage", "result", "seconds");
    for (const auto& r : results_)
      std::printf("%-20s  %-52s  %8.2f\n", r.name.c_str(), r.summary.c_str(), r.seconds);
    std::printf("total %.1f s\n", seconds_since(start));
  }
  if (!opt_.report_dir.empty()) {
    const std::string path = write_chapter_report(opt_.report_dir, figures_, results_);
    if (!opt_.json) std::printf("report: %s\n", path.c_str());
  }
  return 0;
}

}  // namespace

int run_chapter(const ChapterOptions& options) {
  Chapter chapter(options);
  return chapter.run();
}

}  // namespace ember_app
