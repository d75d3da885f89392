// GFLOP/s of conv2d (the path conv2d picks: direct for the one-channel first layer, Winograd for
// 3x3 stride 1, else im2col + sgemm; EMBER_CONV_IM2COL=1 forces im2col), forward and backward, on 1
// thread and on all, for the layers of the MNIST CNN (issue 6) and a few residual-network layers,
// beside the sgemm figure for 256x784x30 that the convolutions are lowered onto. The "+relu+pool"
// rows time conv2d_max_pool2x2 with ReLU, what the CNN's Sequential runs (GFLOP/s counted from the
// convolution alone).
//
//   bench_conv            all shapes
//   bench_conv --quick    the two MNIST CNN layers only
//   bench_conv --cpu      one thread, timed by CPU time (steadier on a busy machine)
//
// Each figure is the median of several timed runs after a warm-up. Backward is the conv2d node's
// backward rule alone (dx and dw, plus db), called directly on a fixed output gradient.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "ember/ember.hpp"
#include "ember/ops/conv.hpp"
#include "kernels/gemm.hpp"

namespace {

using namespace ember;

struct Layer {
  const char* name;
  Shape x, w;
  std::array<int64_t, 2> stride, padding;
  bool input_grad;     // false for a first layer, whose input is the data
  bool fused = false;  // conv2d_max_pool2x2 with ReLU (what the CNN's Sequential runs)
};

// --cpu: time by the process's CPU clock instead of the wall clock. With one thread that is
// the work itself, little disturbed by other programs on a busy machine (A/B comparisons).
bool g_cpu_clock = false;

double now_seconds() {
  if (g_cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds per call of fn, timing enough calls per run to last ~50 ms.
template <class F>
double median_seconds(F&& fn, int runs = 7) {
  fn();
  double t0 = now_seconds();
  fn();
  const double one = now_seconds() - t0;
  const int reps = std::max(1, static_cast<int>(0.05 / std::max(one, 1e-9)));
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    t0 = now_seconds();
    for (int i = 0; i < reps; ++i) fn();
    times.push_back((now_seconds() - t0) / reps);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Result {
  double fwd_s, bwd_s;
};

Result time_layer(const Layer& l) {
  Generator gen(1);
  Tensor x = randn(l.x, gen);
  Tensor w = randn(l.w, gen).requires_grad_();
  Tensor b = randn({l.w[0]}, gen).requires_grad_();
  if (l.input_grad) x.requires_grad_();
  Result r{};
  const auto run = [&] {
    return l.fused ? conv2d_max_pool2x2(x, w, b, l.padding, true)
                   : conv2d(x, w, b, l.stride, l.padding);
  };
  {
    NoGradGuard no_grad;
    r.fwd_s = median_seconds([&] { run(); });
  }
  Tensor y = run();
  Tensor dy = randn(y.shape(), gen);
  const auto node = y.grad_fn();
  r.bwd_s = median_seconds([&] {
    NoGradGuard no_grad;
    node->backward(dy);
  });
  return r;
}

double sgemm_gflops(int64_t M, int64_t N, int64_t K) {
  std::vector<float> a(static_cast<size_t>(M * K), 0.5f), b(static_cast<size_t>(K * N), 0.25f),
      c(static_cast<size_t>(M * N));
  const double s = median_seconds(
      [&] { kernels::sgemm(false, false, M, N, K, a.data(), K, b.data(), N, 0.f, c.data(), N); });
  return 2.0 * M * N * K / s * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, single = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strcmp(argv[i], "--cpu") == 0) g_cpu_clock = single = true;
  }
  std::vector<Layer> layers = {
      {"cnn conv1 1->16 3x3 p1", {256, 1, 28, 28}, {16, 1, 3, 3}, {1, 1}, {1, 1}, false},
      {"cnn conv2 16->32 3x3 p1", {256, 16, 14, 14}, {32, 16, 3, 3}, {1, 1}, {1, 1}, true},
      {"cnn conv1+relu+pool", {256, 1, 28, 28}, {16, 1, 3, 3}, {1, 1}, {1, 1}, false, true},
      {"cnn conv2+relu+pool", {256, 16, 14, 14}, {32, 16, 3, 3}, {1, 1}, {1, 1}, true, true},
  };
  if (!quick) {
    layers.push_back(
        {"res 32->32 3x3 p1", {128, 32, 14, 14}, {32, 32, 3, 3}, {1, 1}, {1, 1}, true});
    layers.push_back({"res 64->64 3x3 p1", {128, 64, 7, 7}, {64, 64, 3, 3}, {1, 1}, {1, 1}, true});
    layers.push_back(
        {"res 32->64 3x3 s2", {128, 32, 14, 14}, {64, 32, 3, 3}, {2, 2}, {1, 1}, true});
    layers.push_back(
        {"res 32->64 1x1 s2", {128, 32, 14, 14}, {64, 32, 1, 1}, {2, 2}, {0, 0}, true});
  }
  const int max_threads = get_num_threads();
  std::vector<int> thread_counts{1};
  if (max_threads > 1 && !single) thread_counts.push_back(max_threads);
  for (int t : thread_counts) {
    set_num_threads(t);
    std::printf("sgemm 256x784 * 784x30 on %d thread(s): %.1f GFLOP/s\n", t,
                sgemm_gflops(256, 30, 784));
  }
  std::printf("%-26s %-18s %-16s %3s | %9s %9s | %9s %9s   (median)\n", "layer", "input", "weight",
              "thr", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s");
  for (const Layer& l : layers) {
    for (int t : thread_counts) {
      set_num_threads(t);
      const Result r = time_layer(l);
      const int64_t Ho = (l.x[2] + 2 * l.padding[0] - l.w[2]) / l.stride[0] + 1;
      const int64_t Wo = (l.x[3] + 2 * l.padding[1] - l.w[3]) / l.stride[1] + 1;
      const double fwd_flop = 2.0 * l.x[0] * l.w[0] * Ho * Wo * l.w[1] * l.w[2] * l.w[3];
      const double bwd_flop = fwd_flop * (l.input_grad ? 2.0 : 1.0);
      std::printf("%-26s %-18s %-16s %3d | %9.3f %9.1f | %9.3f %9.1f\n", l.name,
                  shape_str(l.x).c_str(), shape_str(l.w).c_str(), t, r.fwd_s * 1e3,
                  fwd_flop / r.fwd_s * 1e-9, r.bwd_s * 1e3, bwd_flop / r.bwd_s * 1e-9);
    }
  }
  set_num_threads(max_threads);
  return 0;
}
