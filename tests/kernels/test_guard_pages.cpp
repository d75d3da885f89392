// The convolution kernels' AVX2 paths never touch memory outside their buffers: every input,
// output and scratch buffer sits right after, then right before, a PROT_NONE page (an access past
// either end faults and the test dies). The image rows are read with masked loads whose masked-off
// lanes lie outside the image at its first and last column; the hardware never touches those.
// With small-integer data every product and sum is exact, so the AVX2 and the plain path must
// agree to the bit: outputs, codes and gradients (the independent computation).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv_direct.hpp"
#include "kernels/gemm.hpp"
#include "kernels/winograd.hpp"

using namespace ember::kernels;

namespace {

// n values of T between two PROT_NONE pages: starting right after the first (back = false) or
// ending right before the second (back = true).
template <class T>
class Guarded {
 public:
  Guarded(const std::vector<T>& values, bool back) : n_(values.size()) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t bytes = std::max<std::size_t>(1, n_ * sizeof(T));
    const std::size_t pages = (bytes + page - 1) / page;
    total_ = (pages + 2) * page;
    base_ = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap failed");
    char* b = static_cast<char*>(base_);
    mprotect(b, page, PROT_NONE);
    mprotect(b + (pages + 1) * page, page, PROT_NONE);
    p_ = reinterpret_cast<T*>(back ? b + (pages + 1) * page - n_ * sizeof(T) : b + page);
    if (n_ > 0) std::memcpy(p_, values.data(), n_ * sizeof(T));
  }
  ~Guarded() { munmap(base_, total_); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  T* get() { return n_ > 0 ? p_ : nullptr; }
  std::vector<T> values() const { return std::vector<T>(p_, p_ + n_); }

 private:
  void* base_ = nullptr;
  std::size_t total_ = 0, n_;
  T* p_ = nullptr;
};

std::vector<float> small_ints(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-3, 3);
  std::vector<float> v(n);
  for (float& e : v) e = static_cast<float>(d(rng));
  return v;
}

struct Outputs {
  std::vector<float> y, dx, dw;
  std::vector<std::uint8_t> code;
};

// Forward then backward on one ISA path, every buffer guarded (outputs pre-filled with junk).
Outputs winograd_run(Isa isa, const WinogradGeometry& g, int64_t n, bool pooled,
                     const std::vector<float>& x, const std::vector<float>& u,
                     const std::vector<float>& bias, const std::vector<float>& dy, bool back) {
  force_isa(isa);
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  const auto ysz =
      static_cast<std::size_t>(pooled ? n * g.O * (Ho / 2) * (Wo / 2) : n * g.O * Ho * Wo);
  const auto ss = static_cast<std::size_t>(winograd_scratch_size(g, n));
  Guarded<float> scratch(std::vector<float>(ss, NAN), back), gx(x, back), gu(u, back),
      gb(bias, back), gy(std::vector<float>(ysz, -777.f), back),
      gdy(std::vector<float>(dy.begin(), dy.begin() + static_cast<std::ptrdiff_t>(ysz)), !back),
      gdx(std::vector<float>(x.size(), -555.f), back), gdu(std::vector<float>(u.size()), back);
  Guarded<std::uint8_t> gc(std::vector<std::uint8_t>(pooled ? ysz : 0, 0xEE), back);
  winograd_forward(gx.get(), gu.get(), gb.get(), g, n, gy.get(), scratch.get(), gc.get(), pooled);
  winograd_backward(gx.get(), gu.get(), gdy.get(), g, n, gdx.get(), gdu.get(), false, scratch.get(),
                    gc.get());
  return {gy.values(), gdx.values(), gdu.values(),
          pooled ? gc.values() : std::vector<std::uint8_t>{}};
}

Outputs direct_run(Isa isa, const DirectGeometry& g, int64_t n, bool pooled,
                   const std::vector<float>& x, const std::vector<float>& w,
                   const std::vector<float>& bias, const std::vector<float>& dy, bool back) {
  force_isa(isa);
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  const auto ysz =
      static_cast<std::size_t>(pooled ? n * g.O * (Ho / 2) * (Wo / 2) : n * g.O * Ho * Wo);
  const auto ss = static_cast<std::size_t>(conv3x3_single_channel_scratch_size(g, n));
  Guarded<float> scratch(std::vector<float>(ss, NAN), back), gx(x, back), gw(w, back),
      gb(bias, back), gy(std::vector<float>(ysz, -777.f), back),
      gdy(std::vector<float>(dy.begin(), dy.begin() + static_cast<std::ptrdiff_t>(ysz)), !back),
      gdwb(std::vector<float>(static_cast<std::size_t>(10 * g.O), -555.f), back);
  Guarded<std::uint8_t> gc(std::vector<std::uint8_t>(pooled ? ysz : 0, 0xEE), back);
  conv3x3_single_channel_forward(gx.get(), gw.get(), gb.get(), g, n, gy.get(), scratch.get(),
                                 gc.get(), pooled);
  conv3x3_single_channel_backward(gx.get(), gdy.get(), g, n, gdwb.get(), scratch.get(), gc.get());
  return {gy.values(), {}, gdwb.values(), pooled ? gc.values() : std::vector<std::uint8_t>{}};
}

void expect_same(const Outputs& plain, const Outputs& avx2, const std::string& where) {
  EXPECT_EQ(plain.y, avx2.y) << where;
  EXPECT_EQ(plain.code, avx2.code) << where;
  EXPECT_EQ(plain.dx, avx2.dx) << where;
  EXPECT_EQ(plain.dw, avx2.dw) << where;
}

}  // namespace

TEST(GuardPages, ConvolutionKernelsStayInsideTheirBuffers) {
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "no AVX2 on this CPU: only the plain path";
  const Isa saved = active_isa();
  std::mt19937 rng(17);
  // widths around the vector widths (tiles of 8, 16 columns a step), paddings 0..2, 1 to 3 images
  for (const int64_t W : {1, 2, 5, 8, 13, 14, 16, 18, 28, 33})
    for (const int64_t H : {1, 4, 7, 14})
      for (int64_t pad = 0; pad <= 2; ++pad) {
        if (H + 2 * pad < 3 || W + 2 * pad < 3) continue;
        const int64_t n = 1 + (W + H + pad) % 3;
        for (const bool pooled : {false, true}) {
          const WinogradGeometry wg{3, 5, H, W, pad, pad};
          const DirectGeometry dg{5, H, W, pad, pad};
          if (pooled && (wg.Ho() % 2 != 0 || wg.Wo() % 2 != 0)) continue;
          const std::vector<float> x = small_ints(static_cast<std::size_t>(n * 3 * H * W), rng);
          const std::vector<float> u = small_ints(16 * 5 * 3, rng), w = small_ints(5 * 9, rng),
                                   bias = small_ints(5, rng);
          const std::vector<float> dy =
              small_ints(static_cast<std::size_t>(n * 5 * wg.Ho() * wg.Wo()), rng);
          const std::vector<float> x1(x.begin(), x.begin() + n * H * W);  // one channel
          for (const bool back : {false, true}) {
            const std::string where = "H " + std::to_string(H) + " W " + std::to_string(W) +
                                      " pad " + std::to_string(pad) + " n " + std::to_string(n) +
                                      (pooled ? " pooled" : "") + (back ? " back" : " front");
            expect_same(winograd_run(Isa::generic, wg, n, pooled, x, u, bias, dy, back),
                        winograd_run(Isa::avx2, wg, n, pooled, x, u, bias, dy, back),
                        "winograd " + where);
            expect_same(direct_run(Isa::generic, dg, n, pooled, x1, w, bias, dy, back),
                        direct_run(Isa::avx2, dg, n, pooled, x1, w, bias, dy, back),
                        "direct " + where);
          }
        }
      }
  force_isa(saved);
}
