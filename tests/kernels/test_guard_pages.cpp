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

// What both kernels take, guarded: NaN-filled scratch, the input, the bias, the output and codes
// (junk-filled) and the output's gradient (placed at the other end of its pages).
struct Common {
  Guarded<float> scratch, x, bias, y, dy;
  Guarded<std::uint8_t> code;
  Common(std::size_t scratch_size, const std::vector<float>& xv, const std::vector<float>& b,
         int64_t n, int64_t O, int64_t Ho, int64_t Wo, const std::vector<float>& dyv, bool pooled,
         bool back)
      : scratch(std::vector<float>(scratch_size, NAN), back),
        x(xv, back),
        bias(b, back),
        y(std::vector<float>(size(n, O, Ho, Wo, pooled), -777.f), back),
        dy(std::vector<float>(
               dyv.begin(), dyv.begin() + static_cast<std::ptrdiff_t>(size(n, O, Ho, Wo, pooled))),
           !back),
        code(std::vector<std::uint8_t>(pooled ? size(n, O, Ho, Wo, pooled) : 0, 0xEE), back) {}
  static std::size_t size(int64_t n, int64_t O, int64_t Ho, int64_t Wo, bool pooled) {
    return static_cast<std::size_t>(pooled ? n * O * (Ho / 2) * (Wo / 2) : n * O * Ho * Wo);
  }
  std::vector<std::uint8_t> codes() const { return code.values(); }
};

// Forward then backward on one ISA path, every buffer guarded.
Outputs winograd_run(Isa isa, const WinogradGeometry& g, int64_t n, bool pooled,
                     const std::vector<float>& x, const std::vector<float>& u,
                     const std::vector<float>& bias, const std::vector<float>& dy, bool back) {
  force_isa(isa);
  Common c(static_cast<std::size_t>(winograd_scratch_size(g, n)), x, bias, n, g.O, g.Ho(), g.Wo(),
           dy, pooled, back);
  Guarded<float> gu(u, back), gdx(std::vector<float>(x.size(), -555.f), back),
      gdu(std::vector<float>(u.size()), back);
  winograd_forward(c.x.get(), gu.get(), c.bias.get(), g, n, c.y.get(), c.scratch.get(),
                   c.code.get(), pooled);
  winograd_backward(c.x.get(), gu.get(), c.dy.get(), g, n, gdx.get(), gdu.get(), false,
                    c.scratch.get(), c.code.get());
  return {c.y.values(), gdx.values(), gdu.values(), c.codes()};
}

Outputs direct_run(Isa isa, const DirectGeometry& g, int64_t n, bool pooled,
                   const std::vector<float>& x, const std::vector<float>& w,
                   const std::vector<float>& bias, const std::vector<float>& dy, bool back) {
  force_isa(isa);
  Common c(static_cast<std::size_t>(conv3x3_single_channel_scratch_size(g, n)), x, bias, n, g.O,
           g.Ho(), g.Wo(), dy, pooled, back);
  Guarded<float> gw(w, back),
      gdwb(std::vector<float>(static_cast<std::size_t>(10 * g.O), -555.f), back);
  conv3x3_single_channel_forward(c.x.get(), gw.get(), c.bias.get(), g, n, c.y.get(),
                                 c.scratch.get(), c.code.get(), pooled);
  conv3x3_single_channel_backward(c.x.get(), c.dy.get(), g, n, gdwb.get(), c.scratch.get(),
                                  c.code.get());
  return {c.y.values(), {}, gdwb.values(), c.codes()};
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
            const Outputs plain = winograd_run(Isa::generic, wg, n, pooled, x, u, bias, dy, back);
            expect_same(plain, winograd_run(Isa::avx2, wg, n, pooled, x, u, bias, dy, back),
                        "winograd " + where);
            // the products' AVX-512 geometry, compiled for AVX2 and (where the CPU has it) on
            // AVX-512
            force_winograd_products(WinogradProducts::wide_on_avx2);
            expect_same(plain, winograd_run(Isa::avx2, wg, n, pooled, x, u, bias, dy, back),
                        "winograd, AVX-512 products on AVX2, " + where);
            force_winograd_products(WinogradProducts::by_isa);
            if (detected_isa() == Isa::avx512)
              expect_same(plain, winograd_run(Isa::avx512, wg, n, pooled, x, u, bias, dy, back),
                          "winograd, AVX-512, " + where);
            expect_same(direct_run(Isa::generic, dg, n, pooled, x1, w, bias, dy, back),
                        direct_run(Isa::avx2, dg, n, pooled, x1, w, bias, dy, back),
                        "direct " + where);
          }
        }
      }
  force_isa(saved);
}
