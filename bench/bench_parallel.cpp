// The cost of one parallel_for call: an empty two-chunk job, and jobs of 5, 20 and 100 us of
// arithmetic run inline and split over the pool. Prints the median time per call over many calls.
//
//   ./build/release/bench/bench_parallel [--calls 20000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <ember/ember.hpp>

namespace {

volatile float g_sink = 0;
volatile int64_t g_per_item = 300;

// About `us` microseconds of dependent arithmetic per call on a ~3 GHz core, spread over n items.
void work(int64_t lo, int64_t hi, int64_t per_item) {
  float acc = g_sink + 1.0f;
  for (int64_t i = lo; i < hi; ++i)
    for (int64_t k = 0; k < per_item; ++k) acc = acc * 0.999f + 1e-3f;
  g_sink = acc;
}

double median_us(int calls, const auto& fn) {
  std::vector<double> t;
  t.reserve(static_cast<size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 20000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--calls") && i + 1 < argc)
      calls = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_parallel [--calls N]\n");
      return 2;
    }
  }
  std::printf("threads %d, median of %d calls\n", ember::get_num_threads(), calls);
  const double empty =
      median_us(calls, [] { ember::parallel_for(0, 2, 1, [](int64_t, int64_t) {}); });
  std::printf("%-22s %8.2f us\n", "empty 2-chunk job", empty);
  // calibrate: items of ~0.1 us each
  const int64_t per_item = g_per_item;
  for (int64_t items : {50, 200, 1000}) {
    const double inl = median_us(calls / 10, [&] { work(0, items, per_item); });
    const double par = median_us(calls / 10, [&] {
      ember::parallel_for(0, items, 1, [&](int64_t lo, int64_t hi) { work(lo, hi, per_item); });
    });
    std::printf("job of %6.1f us inline: split %8.2f us  (speed-up %.2fx)\n", inl, par, inl / par);
  }
  return 0;
}
