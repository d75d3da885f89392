// The fast paths a CNN's training step takes, against their references: the AVX2 2x2 max-pool
// kernels on widths that are not multiples of 8 (masked tails), on both instruction-set paths,
// the fused ReLU backward against its where(y > 0, g, 0) rule, and the Winograd convolution of
// conv2d against the reference loops through the op, with its bias gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ember/ember.hpp"
#include "kernels/conv.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::random_f64;

TEST(ConvFast, MaxPool2x2MatchesGeneralOnEveryWidth) {
  const kernels::Isa saved = kernels::active_isa();  // EMBER_ISA may have chosen it
  for (kernels::Isa isa : {kernels::Isa::generic, kernels::Isa::avx2}) {
    kernels::force_isa(isa);
    for (int64_t H : {2, 3, 14, 28})
      for (int64_t W : {2, 3, 14, 15, 17, 28, 33, 40}) {
        Tensor x = random_f64({H, W}, static_cast<uint64_t>(H * 100 + W)).to(DType::f32);
        float* px = x.data_ptr<float>();
        px[1] = px[0];  // a tie
        if (H * W > 20) px[W + 2] = std::numeric_limits<float>::quiet_NaN();
        const kernels::PoolGeometry g{H, W, 2, 2, 2, 2, 0, 0, H / 2, W / 2};
        std::vector<float> fast(static_cast<size_t>(g.Ho * g.Wo) + 1, -3.f), general(fast);
        std::vector<std::uint8_t> code(static_cast<size_t>(g.Ho * g.Wo));
        std::vector<float> plain(fast);
        kernels::max_pool2d_2x2_plane(px, H, W, fast.data(), code.data());
        kernels::max_pool2d_2x2_plane(px, H, W, plain.data());  // without codes: the same values
        for (size_t i = 0; i < fast.size(); ++i)
          EXPECT_TRUE(fast[i] == plain[i] || (std::isnan(fast[i]) && std::isnan(plain[i])));
        kernels::max_pool2d_plane(px, g, general.data());
        for (size_t i = 0; i < fast.size(); ++i)
          EXPECT_TRUE(fast[i] == general[i] || (std::isnan(fast[i]) && std::isnan(general[i])))
              << H << "x" << W << " at " << i;
        Tensor dy = random_f64({g.Ho, g.Wo}, 5).to(DType::f32);
        std::vector<float> dfast(static_cast<size_t>(H * W) + 1, -1.f), dgeneral(dfast);
        kernels::max_pool2d_2x2_backward_plane(code.data(), dy.data_ptr<float>(), H, W,
                                               dfast.data());
        kernels::max_pool2d_backward_plane(px, dy.data_ptr<float>(), g, dgeneral.data());
        EXPECT_EQ(dfast, dgeneral) << H << "x" << W;  // including the untouched guard element
      }
  }
  kernels::force_isa(saved);
}

TEST(ConvFast, ReluBackwardMatchesWhereRule) {
  Tensor x = random_f64({3, 70001}, 7).to(DType::f32);  // big enough to split over threads
  x.data_ptr<float>()[5] = 0.0f;                        // the kink gets no gradient
  Tensor g = random_f64({3, 70001}, 8).to(DType::f32);
  g.data_ptr<float>()[9] = std::numeric_limits<float>::infinity();
  Tensor xr = x.detach().requires_grad_();
  Tensor y = relu(xr);
  y.backward(g);
  const Tensor expected = where(relu(x) > 0, g, 0.0);
  EXPECT_EQ(xr.grad().to_vector<float>(), expected.to_vector<float>());
  EXPECT_EQ(y.to_vector<float>(), maximum(x, zeros_like(x)).to_vector<float>());
}

TEST(ConvFast, WinogradOpMatchesReference) {
  // 3x3, stride 1, padding 1 and 0, enough channels: conv2d takes the Winograd path
  for (std::array<int64_t, 2> pad : {std::array<int64_t, 2>{1, 1}, std::array<int64_t, 2>{0, 2}}) {
    Tensor x = random_f64({5, 6, 9, 8}, 30).to(DType::f32).requires_grad_();
    Tensor w = random_f64({7, 6, 3, 3}, 31).to(DType::f32).requires_grad_();
    Tensor b = random_f64({7}, 32).to(DType::f32).requires_grad_();
    Tensor y = conv2d(x, w, b, {1, 1}, pad);
    Tensor dy = random_f64(y.shape(), 33).to(DType::f32);
    y.backward(dy);
    const Tensor xd = x.detach().to(DType::f64), wd = w.detach().to(DType::f64);
    const Tensor bd = b.detach().to(DType::f64), dyd = dy.to(DType::f64);
    const kernels::ConvGeometry g{6, 9, 8, 3, 3, 1, 1, pad[0], pad[1], 1, 1, y.size(2), y.size(3)};
    Tensor yr = empty(y.shape(), DType::f64), dx = empty(x.shape(), DType::f64);
    Tensor dw = empty(w.shape(), DType::f64), db = empty(b.shape(), DType::f64);
    kernels::conv2d_reference(xd.data_ptr<double>(), wd.data_ptr<double>(), bd.data_ptr<double>(),
                              5, 7, 1, g, yr.data_ptr<double>());
    kernels::conv2d_backward_reference(xd.data_ptr<double>(), wd.data_ptr<double>(),
                                       dyd.data_ptr<double>(), 5, 7, 1, g, dx.data_ptr<double>(),
                                       dw.data_ptr<double>(), db.data_ptr<double>());
    EXPECT_TRUE(allclose(y, yr.to(DType::f32), 1e-4, 1e-4));
    EXPECT_TRUE(allclose(x.grad(), dx.to(DType::f32), 1e-4, 1e-4));
    EXPECT_TRUE(allclose(w.grad(), dw.to(DType::f32), 2e-4, 2e-4));
    EXPECT_TRUE(allclose(b.grad(), db.to(DType::f32), 1e-4, 1e-4));
  }
}

TEST(ConvFast, DirectFirstLayerOpMatchesReferenceAndThreadCount) {
  // one input channel, 3x3, stride 1: conv2d takes the direct path (forward, dw, db; dx by im2col)
  const int saved_threads = get_num_threads();
  for (std::array<int64_t, 2> pad : {std::array<int64_t, 2>{1, 1}, std::array<int64_t, 2>{2, 0}}) {
    std::vector<std::vector<float>> runs;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Tensor x = random_f64({37, 1, 11, 19}, 40).to(DType::f32).requires_grad_();
      Tensor w = random_f64({6, 1, 3, 3}, 41).to(DType::f32).requires_grad_();
      Tensor b = random_f64({6}, 42).to(DType::f32).requires_grad_();
      Tensor y = conv2d(x, w, b, {1, 1}, pad);
      Tensor dy = random_f64(y.shape(), 43).to(DType::f32);
      y.backward(dy);
      const Tensor xd = x.detach().to(DType::f64), wd = w.detach().to(DType::f64);
      const Tensor bd = b.detach().to(DType::f64), dyd = dy.to(DType::f64);
      const kernels::ConvGeometry g{1,      11,     19, 3, 3,         1,        1,
                                    pad[0], pad[1], 1,  1, y.size(2), y.size(3)};
      Tensor yr = empty(y.shape(), DType::f64), dx = empty(x.shape(), DType::f64);
      Tensor dw = empty(w.shape(), DType::f64), db = empty(b.shape(), DType::f64);
      kernels::conv2d_reference(xd.data_ptr<double>(), wd.data_ptr<double>(), bd.data_ptr<double>(),
                                37, 6, 1, g, yr.data_ptr<double>());
      kernels::conv2d_backward_reference(xd.data_ptr<double>(), wd.data_ptr<double>(),
                                         dyd.data_ptr<double>(), 37, 6, 1, g, dx.data_ptr<double>(),
                                         dw.data_ptr<double>(), db.data_ptr<double>());
      EXPECT_TRUE(allclose(y, yr.to(DType::f32), 1e-4, 1e-4));
      EXPECT_TRUE(allclose(x.grad(), dx.to(DType::f32), 1e-4, 1e-4));
      EXPECT_TRUE(allclose(w.grad(), dw.to(DType::f32), 1e-3, 1e-3));
      EXPECT_TRUE(allclose(b.grad(), db.to(DType::f32), 1e-3, 1e-3));
      std::vector<float> all = y.to_vector<float>();
      for (const Tensor& t : {x.grad(), w.grad(), b.grad()}) {
        const std::vector<float> v = t.to_vector<float>();
        all.insert(all.end(), v.begin(), v.end());
      }
      runs.push_back(all);
    }
    EXPECT_EQ(runs[0], runs[1]);  // bit-identical whatever the thread count
  }
  set_num_threads(saved_threads);
}
