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
#include <utility>
#include <vector>

#include "kernels/conv_direct.hpp"
#include "kernels/conv_pooled_grad.hpp"
#include "kernels/gemm.hpp"
#include "kernels/winograd.hpp"
#include "kernels/winograd_layout.hpp"

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

// The Winograd product kernels on their own (winograd_products.hpp), every operand between guard
// pages (ending right before the second, so a read or write past a row's end faults), against
// their definition computed here: each element one std::fma chain from zero, k (or t) in order,
// which every geometry must equal to the bit. nn: c [R][ld] = a b with a read both ways (rows of
// u, or u transposed); nt: du [O][C] (+)= m vt with vt [ld][round8(C)]. Row counts around 4 and 8,
// ld around the 48-column blocks and their 32-, 16- and 8-column tails, C around 8 and 16.
TEST(GuardPages, WinogradProductsMatchFmaChains) {
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "no AVX2 on this CPU: no vector products";
  std::mt19937 rng(29);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const auto floats = [&](int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& e : v) e = dist(rng);
    return v;
  };
  std::vector<std::pair<const wino::Products*, std::string>> sets = {
      {&wino::products_avx2(), "AVX2"}, {&wino::products_avx2_wide(), "AVX-512 geometry on AVX2"}};
  if (detected_isa() == Isa::avx512) sets.push_back({&wino::products_avx512(), "AVX-512"});
  for (const auto& [pr, name] : sets) {
    for (const int64_t ld : {8, 16, 24, 32, 40, 48, 56, 88, 104, 136})
      for (const int64_t R : {1, 3, 4, 5, 8, 9, 13, 17})
        for (const int64_t K : {1, 7, 16})
          for (const bool transposed : {false, true}) {
            const auto av = floats(R * K), bv = floats(K * ld);
            const int64_t ars = transposed ? 1 : K, aks = transposed ? R : 1;
            Guarded<float> a(av, true), b(bv, true), c(std::vector<float>(R * ld, -9.f), true);
            pr->nn(R, ld, K, a.get(), ars, aks, b.get(), c.get());
            const auto got = c.values();
            for (int64_t r = 0; r < R; ++r)
              for (int64_t t = 0; t < ld; ++t) {
                float want = 0.f;
                for (int64_t k = 0; k < K; ++k)
                  want = std::fma(av[r * ars + k * aks], bv[k * ld + t], want);
                ASSERT_EQ(want, got[r * ld + t])
                    << name << " nn: R " << R << " ld " << ld << " K " << K
                    << (transposed ? " a^T" : "") << " at (" << r << ", " << t << ")";
              }
          }
    for (const int64_t ld : {8, 16, 48, 88, 104})
      for (const int64_t O : {1, 4, 5, 8, 9, 13})
        for (const int64_t C : {1, 7, 8, 9, 16, 17, 24, 25, 32, 33})
          for (const bool accumulate : {false, true}) {
            const int64_t ldv = (C + 7) / 8 * 8;
            const auto mv = floats(O * ld), vtv = floats(ld * ldv), du0 = floats(O * C);
            Guarded<float> m(mv, true), vt(vtv, true), du(du0, true);
            pr->nt(O, C, ld, m.get(), vt.get(), ldv, du.get(), accumulate);
            const auto got = du.values();
            for (int64_t o = 0; o < O; ++o)
              for (int64_t j = 0; j < C; ++j) {
                float sum = 0.f;
                for (int64_t t = 0; t < ld; ++t)
                  sum = std::fma(mv[o * ld + t], vtv[t * ldv + j], sum);
                const float want = accumulate ? du0[o * C + j] + sum : sum;
                ASSERT_EQ(want, got[o * C + j])
                    << name << " nt: O " << O << " C " << C << " ld " << ld
                    << (accumulate ? " accumulate" : "") << " at (" << o << ", " << j << ")";
              }
          }
  }
}

// The pooled weight gradient (conv_pooled_grad) likewise: input, pooled gradient, codes, ReLU
// output, partial and scratch each between guard pages, at either end; channel counts around the
// kernel's 8-channel vectors, widths under and over its 8-column blocks. Small integers: the AVX2
// and the plain path must agree to the bit.
TEST(GuardPages, PooledConvGradStaysInsideItsBuffers) {
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "no AVX2 on this CPU: only the plain path";
  const Isa saved = active_isa();
  std::mt19937 rng(23);
  for (const int64_t W : {2, 4, 6, 8, 14, 16})
    for (const int64_t H : {2, 4, 6})
      for (int64_t pad = 0; pad <= 2; ++pad)
        for (const int64_t C : {1, 8, 9})
          for (const bool back : {false, true}) {
            const WinogradGeometry g{C, 3, H, W, pad, pad};
            if (H + 2 * pad < 3 || W + 2 * pad < 3 || g.Ho() % 2 != 0 || g.Wo() % 2 != 0) continue;
            const int64_t n = 1 + (W + H + pad + C) % 3;
            const auto pooled = static_cast<std::size_t>(n * 3 * (g.Ho() / 2) * (g.Wo() / 2));
            const std::vector<float> x = small_ints(static_cast<std::size_t>(n * C * H * W), rng),
                                     w = small_ints(static_cast<std::size_t>(3 * C * 9), rng),
                                     dp = small_ints(pooled, rng), relu = small_ints(pooled, rng);
            std::vector<std::uint8_t> codes(pooled);
            for (auto& k : codes) k = static_cast<std::uint8_t>(rng() % 4);
            std::vector<float> dw[2], dx[2];
            for (const Isa isa : {Isa::generic, Isa::avx2}) {
              force_isa(isa);
              Guarded<float> gw(w, back),
                  gwt(std::vector<float>(static_cast<std::size_t>(pooled_conv_grad_weights_size(g)),
                                         NAN),
                      !back);
              pooled_conv_grad_weights(gw.get(), g, gwt.get());
              Guarded<float> gx(x, back), gdp(dp, !back), grelu(relu, back),
                  scratch(std::vector<float>(
                              static_cast<std::size_t>(pooled_conv_grad_scratch_size(g)), NAN),
                          back),
                  partial(std::vector<float>(
                              static_cast<std::size_t>(pooled_conv_grad_partial_size(g)), NAN),
                          !back),
                  gdx(std::vector<float>(x.size(), NAN), !back);
              Guarded<std::uint8_t> gcode(codes, back);
              pooled_conv_grad(gx.get(), gwt.get(), gdp.get(), gcode.get(), grelu.get(), g, n,
                               partial.get(), false, gdx.get(), scratch.get());
              Guarded<float> out(std::vector<float>(static_cast<std::size_t>(3 * C * 9)), back);
              pooled_conv_grad_finish(partial.get(), g, out.get());
              dw[isa == Isa::avx2 ? 1 : 0] = out.values();
              dx[isa == Isa::avx2 ? 1 : 0] = gdx.values();
            }
            const std::string where = "H " + std::to_string(H) + " W " + std::to_string(W) +
                                      " pad " + std::to_string(pad) + " C " + std::to_string(C) +
                                      " n " + std::to_string(n) + (back ? " back" : " front");
            EXPECT_EQ(dw[0], dw[1]) << where;
            EXPECT_EQ(dx[0], dx[1]) << where;  // small integers: exact on both paths
          }
  force_isa(saved);
}
