#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
#include "kernels/winograd.hpp"
namespace ember::kernels {
#define DECL(v) \
int64_t winograd_scratch_size_##v(const WinogradGeometry&, int64_t); \
void winograd_forward_##v(const float*, const float*, const float*, const WinogradGeometry&, int64_t, float*, float*, std::uint8_t*, bool); \
void winograd_backward_##v(const float*, const float*, const float*, const WinogradGeometry&, int64_t, float*, float*, bool, float*, const std::uint8_t*, const float*);
DECL(old) DECL(new)
}
using namespace ember::kernels;
double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc, char** argv) {
  const int64_t N = 256, n = 2; WinogradGeometry g{16, 32, 14, 14, 1, 1};
  if (argc > 1) g = WinogradGeometry{32, 32, 7, 7, 1, 1};
  const int64_t in = g.C * g.H * g.W, out = g.O * (g.H / 2) * (g.W / 2);
  std::mt19937 rng(1); std::normal_distribution<float> nd;
  std::vector<float> x(N * in), u(16 * g.O * g.C), b(g.O), y(N * out), y2(N * out), dy(N * out), dx(N * in), du(16 * g.O * g.C);
  std::vector<uint8_t> code(N * out);
  for (auto& v : x) v = std::max(0.0f, nd(rng)); for (auto& v : u) v = nd(rng); for (auto& v : dy) v = nd(rng);
  std::vector<float> scr(winograd_scratch_size_new(g, n) + 64);
  std::vector<double> f[2], bw[2];
  for (int rep = 0; rep < 40; ++rep) for (int v = 0; v < 2; ++v) {
    double t0 = now();
    for (int64_t n0 = 0; n0 < N; n0 += n) (v ? winograd_forward_new : winograd_forward_old)(x.data() + n0 * in, u.data(), b.data(), g, n, (v ? y2 : y).data() + n0 * out, scr.data(), code.data() + n0 * out, true);
    double t1 = now();
    for (int64_t n0 = 0; n0 < N; n0 += n) (v ? winograd_backward_new : winograd_backward_old)(x.data() + n0 * in, u.data(), dy.data() + n0 * out, g, n, dx.data() + n0 * in, du.data(), n0 > 0, scr.data(), code.data() + n0 * out, y.data() + n0 * out);
    double t2 = now();
    f[v].push_back(t1 - t0); bw[v].push_back(t2 - t1);
  }
  for (int v = 0; v < 2; ++v) { std::sort(f[v].begin(), f[v].end()); std::sort(bw[v].begin(), bw[v].end()); }
  printf("fwd old %.3f new %.3f ms | bwd old %.3f new %.3f ms | same %d\n", f[0][20]*1e3, f[1][20]*1e3, bw[0][20]*1e3, bw[1][20]*1e3, (int)(y == y2));
}
