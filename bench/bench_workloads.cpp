// The speed workloads of the performance issue, through ember's public API, on real MNIST.
// Per workload: wall seconds (median of --runs runs after a warm-up), images/s, GFLOP/s counted
// from the model's shapes, peak resident memory, final accuracy. --json prints one object each.
//
//   ./build/release/bench/bench_workloads [--runs 5] [--only linear,mlp] [--json] [--no-warmup]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <ember/ember.hpp>

using namespace ember;

namespace {

struct Outcome {
  double accuracy = 0;
  double images = 0;  // images processed (training and validation)
  double flops = 0;   // floating-point operations of the matmuls/convolutions
};

struct Data {
  data::DataSplit sample, full;
};

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// flops of one image through Linear layers: forward 2*in*out each; training adds the weight
// gradient (2*in*out) and the input gradient (2*in*out) except for the first layer.
double mlp_flops(const std::vector<std::pair<double, double>>& layers, bool training) {
  double f = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const double mac = layers[i].first * layers[i].second;
    f += 2 * mac;
    if (training) f += 2 * mac + (i > 0 ? 2 * mac : 0);
  }
  return f;
}

Outcome linear_loop(Data& d) {
  // The chapter's hand-written loop: x @ w + b, mnist_loss, p -= grad * lr. 20 epochs, lr 1.
  Generator gen(0);
  data::ImageDataset train_ds(d.sample.train), valid_ds(d.sample.valid);
  data::DataLoader dl(train_ds, 256, true, &gen), valid_dl(valid_ds, 256);
  dl.float_targets();
  valid_dl.float_targets();
  Tensor w = randn({784, 1}, gen).requires_grad_(), b = randn({1}, gen).requires_grad_();
  for (int epoch = 0; epoch < 20; ++epoch) {
    for (const auto& batch : dl) {
      nn::mnist_loss(matmul(batch.x, w) + b, batch.y).backward();
      NoGradGuard no_grad;
      w.sub_(w.grad(), 1.0);
      b.sub_(b.grad(), 1.0);
      w.zero_grad();
      b.zero_grad();
    }
  }
  NoGradGuard no_grad;
  double correct = 0;
  for (const auto& batch : valid_dl)
    correct += nn::batch_accuracy(matmul(batch.x, w) + b, batch.y).item<double>() *
               static_cast<double>(batch.x.size(0));
  const double n = static_cast<double>(d.sample.train.size());
  return {correct / static_cast<double>(d.sample.valid.size()), 20 * n,
          20 * n * mlp_flops({{784, 1}}, true)};
}

Outcome simple_net(Data& d) {
  Generator gen(0);
  data::ImageDataset train_ds(d.sample.train), valid_ds(d.sample.valid);
  data::DataLoader dl(train_ds, 256, true, &gen), valid_dl(valid_ds, 256);
  dl.float_targets();
  valid_dl.float_targets();
  auto model = nn::make_sequential(
      {nn::make_linear(784, 30, gen), nn::make_relu(), nn::make_linear(30, 1, gen)});
  Learner learn(model, dl, valid_dl, std::make_shared<optim::SGD>(model->parameters(), 0.1),
                nn::mnist_loss, {{"batch_accuracy", nn::batch_accuracy}});
  learn.quiet(true);
  learn.fit(40, 0.1);
  const double n = static_cast<double>(d.sample.train.size()),
               v = static_cast<double>(d.sample.valid.size());
  const std::vector<std::pair<double, double>> layers{{784, 30}, {30, 1}};
  return {learn.history().back().metrics.at(0), 40 * (n + v),
          40 * (n * mlp_flops(layers, true) + v * mlp_flops(layers, false))};
}

std::shared_ptr<nn::Module> trained_mlp;

Outcome mlp(Data& d) {
  Generator gen(0);
  data::ImageDataset train_ds(d.full.train), valid_ds(d.full.valid);
  data::DataLoader dl(train_ds, 256, true, &gen), valid_dl(valid_ds, 1000);
  auto model = nn::make_sequential(
      {nn::make_linear(784, 128, gen), nn::make_relu(), nn::make_linear(128, 10, gen)});
  Learner learn(model, dl, valid_dl, std::make_shared<optim::SGD>(model->parameters(), 0.1, 0.9),
                nn::cross_entropy, {{"accuracy", nn::accuracy}});
  learn.quiet(true);
  learn.fit(5, 0.1);
  trained_mlp = model;
  const double n = static_cast<double>(d.full.train.size()),
               v = static_cast<double>(d.full.valid.size());
  const std::vector<std::pair<double, double>> layers{{784, 128}, {128, 10}};
  return {learn.history().back().metrics.at(0), 5 * (n + v),
          5 * (n * mlp_flops(layers, true) + v * mlp_flops(layers, false))};
}

// flops of one image through the CNN: each conv 2*Ho*Wo*O*C*9 forward, the Linear 2*1568*10;
// training adds the weight gradient for all three and the input gradient for all but the first.
double cnn_flops(bool training) {
  const double c1 = 2.0 * 28 * 28 * 16 * 1 * 9, c2 = 2.0 * 14 * 14 * 32 * 16 * 9,
               l = 2.0 * 1568 * 10;
  return training ? 2 * c1 + 3 * c2 + 3 * l : c1 + c2 + l;
}

Outcome cnn(Data& d) {
  // conv(1->16,3x3,p1)-ReLU-maxpool2-conv(16->32,3x3,p1)-ReLU-maxpool2-Linear(1568->10),
  // 2 epochs on full MNIST, batch 256, Adam lr 1e-3, cross-entropy, test accuracy at the end.
  Generator gen(0);
  data::ImageDataset train_ds(d.full.train, data::Layout::image),
      valid_ds(d.full.valid, data::Layout::image);
  data::DataLoader dl(train_ds, 256, true, &gen), valid_dl(valid_ds, 1000);
  auto model = nn::make_sequential({nn::make_conv2d(1, 16, {3, 3}, gen, {1, 1}, {1, 1}),
                                    nn::make_relu(), nn::make_max_pool2d({2, 2}),
                                    nn::make_conv2d(16, 32, {3, 3}, gen, {1, 1}, {1, 1}),
                                    nn::make_relu(), nn::make_max_pool2d({2, 2}),
                                    nn::make_flatten(), nn::make_linear(1568, 10, gen)});
  Learner learn(model, dl, valid_dl, std::make_shared<optim::Adam>(model->parameters(), 1e-3),
                nn::cross_entropy, {{"accuracy", nn::accuracy}});
  learn.quiet(true);
  learn.fit(2, 1e-3);
  const double n = static_cast<double>(d.full.train.size()),
               v = static_cast<double>(d.full.valid.size());
  return {learn.history().back().metrics.at(0), 2 * (n + v),
          2 * (n * cnn_flops(true) + v * cnn_flops(false))};
}

// As PyTorch's version: the images are converted to f32 once, before the clock starts (PyTorch's
// script converts its tensors when it loads them), and each batch of 1000 is a view of them. The
// conversion happens on first use so that the other workloads' peak memory leaves it out.
Tensor full_train_f32, full_valid_f32;

void prepare_inference(Data& d) {
  if (!trained_mlp) mlp(d);
  if (full_train_f32.defined()) return;
  full_train_f32 = data::to_unit_float(d.full.train.images).reshape({-1, 784});
  full_valid_f32 = data::to_unit_float(d.full.valid.images).reshape({-1, 784});
}

Outcome inference(Data& d) {
  trained_mlp->eval();
  NoGradGuard no_grad;
  double correct = 0;
  for (const Tensor& x : data::to_batched(full_train_f32, 1000)) (void)argmax((*trained_mlp)(x), 1);
  correct = nn::accuracy((*trained_mlp)(full_valid_f32), d.full.valid.labels).item<double>();
  const double n = static_cast<double>(d.full.train.size());
  return {correct, n, n * mlp_flops({{784, 128}, {128, 10}}, false)};
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  bool json = false, warmup = true;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--json"))
      json = true;
    else if (!std::strcmp(argv[i], "--no-warmup"))
      warmup = false;
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: bench_workloads [--runs N] [--only a,b] [--json] [--no-warmup]\n");
      return 2;
    }
  }
  Data d{data::load_dataset("mnist-sample"), data::load_dataset("mnist")};
  std::vector<std::pair<std::string, std::function<Outcome(Data&)>>> workloads = {
      {"linear", linear_loop},
      {"simple_net", simple_net},
      {"mlp", mlp},
      {"cnn", cnn},
      {"inference", inference}};
  if (!json)
    std::printf("%-12s %9s %12s %9s %9s %9s   (threads %d, median of %d)\n", "workload", "seconds",
                "images/s", "GFLOP/s", "peak MB", "accuracy", get_num_threads(), runs);
  for (auto& [name, fn] : workloads) {
    if (!only.empty() && ("," + only + ",").find("," + name + ",") == std::string::npos) continue;
    if (name == "inference") prepare_inference(d);
    if (warmup) fn(d);
    std::vector<double> times;
    Outcome o;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      o = fn(d);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    const double med = times[times.size() / 2];
    if (json)
      std::printf(
          "{\"workload\": \"%s\", \"engine\": \"ember\", \"threads\": %d, \"seconds\": %.4f, "
          "\"images_per_s\": %.0f, \"gflops\": %.2f, \"peak_rss_mb\": %.1f, \"accuracy\": %.4f}\n",
          name.c_str(), get_num_threads(), med, o.images / med, o.flops / med / 1e9, peak_rss_mb(),
          o.accuracy);
    else
      std::printf("%-12s %9.3f %12.0f %9.2f %9.1f %9.4f\n", name.c_str(), med, o.images / med,
                  o.flops / med / 1e9, peak_rss_mb(), o.accuracy);
    std::fflush(stdout);
  }
  return 0;
}
