// GFLOP/s of the matrix multiply kernels: reference loops vs the generic, AVX2 and (where the CPU
// has it) AVX-512 paths of sgemm, on 1 and on all threads, for the shapes ember's MNIST MLPs use
// and for squares.
//
//   bench_matmul            all shapes
//   bench_matmul --quick    skip the 2048 square and the slow reference on big squares
//
// Each figure is the median of several timed runs after a warm-up run. The "MNIST" rows hold real
// images (the first of the training set, as floats in [0, 1]) in the operand x, where sgemm skips
// the steps whose pixels are all zero; their GFLOP/s count every multiply-add of 2*M*N*K, skipped
// or not, so they compare with the random-data row of the same shape. They are left out when
// MNIST is not in the cache (`make run` or `ember fetch` puts it there).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/data/data.hpp"
#include "kernels/gemm.hpp"

namespace {

using ember::kernels::Isa;

struct Shape {
  const char* name;
  bool trans_a, trans_b;
  int64_t M, N, K;
  char mnist = 0;  // 'A' or 'B': that operand holds MNIST images, one per row
};

// The first images of MNIST's training set as floats in [0, 1], [n, 784]; empty when MNIST is
// not in the cache.
std::vector<float> mnist_images(int64_t n) {
  try {
    const ember::data::DataSplit d = ember::data::load_mnist(ember::data::mnist_dir());
    const ember::Tensor x = ember::data::to_unit_float(d.train.images).reshape({-1, 784});
    const float* p = x.data_ptr<float>();
    return std::vector<float>(p, p + std::min<int64_t>(n, x.size(0)) * 784);
  } catch (const std::exception& e) {
    std::printf("(MNIST rows left out: %s)\n", e.what());
    return {};
  }
}

// Median seconds per call of fn, timing enough calls per run to last ~20 ms.
template <class F>
double median_seconds(F&& fn, int runs) {
  fn();  // warm-up: caches, packing buffers, pool threads
  auto t0 = std::chrono::steady_clock::now();
  fn();
  const double one = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int reps = std::max(1, static_cast<int>(0.02 / std::max(one, 1e-9)));
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                    reps);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const std::vector<Shape> shapes = {
      {"fwd 256x784 * 784x30", false, false, 256, 30, 784},
      {"fwd 256x784 * (30x784)^T", false, true, 256, 30, 784},
      {"fwd 256x784 * 784x128", false, false, 256, 128, 784},
      {"fwd as linear: * (128x784)^T", false, true, 256, 128, 784},
      {"inf as linear: 1000x784 * (128x784)^T", false, true, 1000, 128, 784},
      {"MNIST fwd x * (30x784)^T", false, true, 256, 30, 784, 'A'},
      {"MNIST fwd x * (128x784)^T", false, true, 256, 128, 784, 'A'},
      {"MNIST inf x1000 * (128x784)^T", false, true, 1000, 128, 784, 'A'},
      {"MNIST dW (256x30)^T * x", true, false, 30, 784, 256, 'B'},
      {"MNIST dW (256x128)^T * x", true, false, 128, 784, 256, 'B'},
      {"dW (256x784)^T * 256x30", true, false, 784, 30, 256},
      {"dW (256x784)^T * 256x128", true, false, 784, 128, 256},
      {"dW as linear: (256x30)^T * 256x784", true, false, 30, 784, 256},
      {"dW as linear: (256x128)^T * 256x784", true, false, 128, 784, 256},
      {"dX 256x30 * (784x30)^T", false, true, 256, 784, 30},
      {"fwd 256x30 * 30x1", false, false, 256, 1, 30},
      {"inf 1000x784 * 784x30", false, false, 1000, 30, 784},
      {"inf 10x784 * 784x128", false, false, 10, 128, 784},
      {"sq 256", false, false, 256, 256, 256},
      {"sq 512", false, false, 512, 512, 512},
      {"sq 512 A^T B^T", true, true, 512, 512, 512},
      {"sq 1024", false, false, 1024, 1024, 1024},
      {"sq 2048", false, false, 2048, 2048, 2048},
  };
  const int max_threads = ember::get_num_threads();
  const Isa detected = ember::kernels::detected_isa();
  std::printf("detected ISA: %s, threads available: %d\n",
              detected == Isa::avx512 ? "avx512"
              : detected == Isa::avx2 ? "avx2"
                                      : "generic",
              max_threads);
  const Isa isas[3] = {Isa::generic, Isa::avx2, Isa::avx512};
  const int n_isa = static_cast<int>(detected) + 1;
  std::printf("%-28s %9s | %9s %9s %9s | %9s %9s %9s   (GFLOP/s, median)\n", "shape", "reference",
              "generic/1", "avx2/1", "avx512/1", "generic/N", "avx2/N", "avx512/N");

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const std::vector<float> mnist = mnist_images(1000);
  for (const Shape& s : shapes) {
    if (quick && s.M >= 2048) continue;
    if (s.mnist != 0 && mnist.empty()) continue;
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (auto& x : A) x = dist(rng);
    for (auto& x : B) x = dist(rng);
    if (s.mnist != 0) {  // x is [images, 784]: A (M rows) or B (K rows), not transposed
      std::vector<float>& x = s.mnist == 'A' ? A : B;
      std::copy(mnist.begin(), mnist.begin() + static_cast<std::ptrdiff_t>(x.size()), x.begin());
    }
    const int64_t lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
    const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
    auto gflops = [&](double sec) { return flops / sec * 1e-9; };

    double ref = 0;
    if (!(quick && s.M * s.N * s.K > (int64_t{1} << 27)) && s.M * s.N * s.K <= (int64_t{1} << 30)) {
      ref = gflops(median_seconds(
          [&] {
            ember::kernels::sgemm_reference(s.trans_a, s.trans_b, s.M, s.N, s.K, A.data(), lda,
                                            B.data(), ldb, 0.0f, C.data(), s.N);
          },
          3));
    }
    double result[2][3] = {};  // [threads 1 / N][generic / avx2 / avx512]
    for (int t = 0; t < 2; ++t) {
      ember::set_num_threads(t == 0 ? 1 : max_threads);
      for (int isa = 0; isa < n_isa; ++isa) {
        ember::kernels::force_isa(isas[isa]);
        result[t][isa] = gflops(median_seconds(
            [&] {
              ember::kernels::sgemm(s.trans_a, s.trans_b, s.M, s.N, s.K, A.data(), lda, B.data(),
                                    ldb, 0.0f, C.data(), s.N);
            },
            7));
      }
    }
    char ref_text[32] = "   (skip)";  // the reference takes minutes on the 2048 square
    if (ref > 0) std::snprintf(ref_text, sizeof(ref_text), "%9.2f", ref);
    std::printf("%-28s %9s |", s.name, ref_text);
    for (int t = 0; t < 2; ++t) {
      for (int isa = 0; isa < 3; ++isa) {
        if (isa < n_isa) {
          std::printf(" %9.2f", result[t][isa]);
        } else {
          std::printf(" %9s", "-");
        }
      }
      std::printf(t == 0 ? " |" : "\n");
    }
  }
  ember::set_num_threads(max_threads);
  ember::kernels::force_isa(detected);
  return 0;
}
