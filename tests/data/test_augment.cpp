// Data augmentation: affine_warp on hand-checked patterns, RandomAffine's seeded repeatability,
// and its use as a DataLoader transform.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "ember/core/random.hpp"
#include "ember/data/augment.hpp"
#include "ember/data/dataloader.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/ops/movement.hpp"
#include "io/test_files.hpp"

using namespace ember;
using namespace ember::data;
using ember::testing::expect_error;

namespace {

// One H x W image [1, 1, H, W] with pixel (r, c) = 1 + r * W + c (all distinct, none zero).
Tensor numbered_image(std::int64_t H, std::int64_t W) {
  std::vector<float> v;
  for (std::int64_t i = 0; i < H * W; ++i) v.push_back(static_cast<float>(1 + i));
  return from_vector(v, {1, 1, H, W});
}

std::vector<float> warp1(const Tensor& x, AffineParams p, Sampling s = Sampling::bilinear) {
  const std::vector<AffineParams> ps{p};
  return affine_warp(x, ps, s).to_vector<float>();
}

void expect_near_all(const std::vector<float>& got, const std::vector<float>& want,
                     float tol = 1e-4f) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// A batch of B random images [B, 1, 8, 8].
Tensor random_batch(std::int64_t B, std::uint64_t seed) {
  Generator gen(seed);
  return rand({B, 1, 8, 8}, gen);
}

}  // namespace

TEST(Augment, ZeroShiftAndRotationIsTheIdentity) {
  const Tensor x = random_batch(3, 1);
  const std::vector<AffineParams> zero(3);
  for (Sampling s : {Sampling::bilinear, Sampling::nearest}) {
    EXPECT_EQ(affine_warp(x, zero, s).to_vector<float>(), x.to_vector<float>());
  }
  RandomAffine none({.max_shift = 0, .max_degrees = 0}, 7);
  EXPECT_EQ(none.apply(x.clone()).to_vector<float>(), x.to_vector<float>());
}

TEST(Augment, OnePixelShiftMovesThePattern) {
  // A 4x4 image with a 2x2 block of ones at rows 1-2, columns 0-1.
  const Tensor x = from_vector(std::vector<float>{0, 0, 0, 0,  //
                                                  1, 1, 0, 0,  //
                                                  1, 1, 0, 0,  //
                                                  0, 0, 0, 0},
                               {1, 1, 4, 4});
  // Right by one: columns 1-2.
  EXPECT_EQ(warp1(x, {.dx = 1}),
            (std::vector<float>{0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0}));
  // Down by one: rows 2-3.
  EXPECT_EQ(warp1(x, {.dy = 1}),
            (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0}));
  // Left by one: column 0 leaves the image and what comes in is zero.
  EXPECT_EQ(warp1(x, {.dx = -1}),
            (std::vector<float>{0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
  // Up and right together; nearest sampling agrees on whole-pixel shifts.
  const std::vector<float> up_right{0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(warp1(x, {.dx = 1, .dy = -1}), up_right);
  EXPECT_EQ(warp1(x, {.dx = 1, .dy = -1}, Sampling::nearest), up_right);
}

TEST(Augment, QuarterTurnsByHand) {
  // 3x3, 1..9 row by row. Counterclockwise by 90 degrees as displayed, the right column becomes
  // the top row: out(r, c) = in(c, W-1-r).
  const Tensor x3 = numbered_image(3, 3);
  expect_near_all(warp1(x3, {.degrees = 90}), {3, 6, 9, 2, 5, 8, 1, 4, 7});
  // Clockwise: the left column, read bottom up, becomes the top row.
  expect_near_all(warp1(x3, {.degrees = -90}), {7, 4, 1, 8, 5, 2, 9, 6, 3});
  expect_near_all(warp1(x3, {.degrees = 180}), {9, 8, 7, 6, 5, 4, 3, 2, 1});
  expect_near_all(warp1(x3, {.degrees = 90}, Sampling::nearest), {3, 6, 9, 2, 5, 8, 1, 4, 7});

  // 4x4 (the centre lies between pixels, at 1.5, 1.5): the same rule, no pixel lost.
  const Tensor x4 = numbered_image(4, 4);
  std::vector<float> want;
  const auto in = x4.to_vector<float>();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) want.push_back(in[static_cast<std::size_t>(c * 4 + (3 - r))]);
  expect_near_all(warp1(x4, {.degrees = 90}), want);
  // Four quarter turns come back to the start.
  Tensor y = x4;
  for (int i = 0; i < 4; ++i) y = affine_warp(y, std::vector<AffineParams>{{.degrees = 90}});
  expect_near_all(y.to_vector<float>(), in);
}

TEST(Augment, SmallRotationBlendsNeighbours) {
  // A single bright pixel at the centre of a 5x5 image stays at the centre under any rotation
  // (its neighbours' sampling points, turned by 10 degrees, only just reach it); away from the
  // centre a pixel turns onto points between pixels, so bilinear spreads it out while keeping
  // about its total.
  std::vector<float> v(25, 0.0f);
  v[12] = 1.0f;
  const auto turned = warp1(from_vector(v, {1, 1, 5, 5}), {.degrees = 10});
  EXPECT_NEAR(turned[12], 1.0f, 1e-6f);
  for (std::size_t i = 0; i < turned.size(); ++i)
    if (i != 12) {
      EXPECT_LT(turned[i], 0.05f) << "at " << i;
    }
  std::vector<float> w(25, 0.0f);
  w[2 * 5 + 4] = 1.0f;  // right edge, middle row
  const auto out = warp1(from_vector(w, {1, 1, 5, 5}), {.degrees = 10});
  float total = 0, peak = 0;
  for (float f : out) {
    EXPECT_GE(f, 0.0f);
    total += f;
    peak = std::max(peak, f);
  }
  EXPECT_NEAR(total, 1.0f, 0.1f);
  EXPECT_LT(peak, 1.0f);
  // Counterclockwise: the ink moves up (to row 1), not down.
  EXPECT_GT(out[1 * 5 + 4] + out[1 * 5 + 3], out[3 * 5 + 4] + out[3 * 5 + 3]);
}

TEST(Augment, LayoutsAgree) {
  const Tensor x = random_batch(4, 2);  // [4, 1, 8, 8]
  std::vector<AffineParams> ps;
  for (int i = 0; i < 4; ++i) ps.push_back({.dx = i - 2.0, .dy = 1.0 - i, .degrees = 7.0 * i - 10});
  const auto image = affine_warp(x, ps).to_vector<float>();
  EXPECT_EQ(affine_warp(x.reshape({4, 64}), ps).to_vector<float>(), image);    // flat, square
  EXPECT_EQ(affine_warp(x.reshape({4, 8, 8}), ps).to_vector<float>(), image);  // [B, H, W]
  // Flat non-square images need their size.
  Generator g(3);
  const Tensor wide = rand({2, 3 * 5}, g);
  const std::vector<AffineParams> two{{.dx = 1}, {.dy = 1}};
  EXPECT_EQ(affine_warp(wide, two, Sampling::bilinear, 3, 5).to_vector<float>(),
            affine_warp(wide.reshape({2, 1, 3, 5}), two).to_vector<float>());
  // Every channel of an image gets the image's transform.
  const Tensor two_ch = cat({x, x * 2.0}, 1);  // [4, 2, 8, 8]
  const Tensor out = affine_warp(two_ch, ps);
  EXPECT_EQ(out.slice(1, 0, 1).contiguous().to_vector<float>(), image);
  expect_near_all(out.slice(1, 1, 2).contiguous().to_vector<float>(),
                  (affine_warp(x, ps) * 2.0).to_vector<float>());
  // A non-contiguous batch (every other image) gives the same as its contiguous copy.
  RandomAffine a({.max_shift = 2, .max_degrees = 10}, 9), b({.max_shift = 2, .max_degrees = 10}, 9);
  const Tensor strided = x.slice(0, 0, 4, 2);
  EXPECT_FALSE(strided.is_contiguous());
  EXPECT_EQ(a.apply(strided).to_vector<float>(), b.apply(strided.contiguous()).to_vector<float>());
}

TEST(Augment, SameSeedSameImages) {
  const AugmentOptions opts{.max_shift = 3, .max_degrees = 15};
  const Tensor x = random_batch(16, 4);
  RandomAffine a(opts, 123), b(opts, 123), c(opts, 124);
  const auto a1 = a.apply(x.clone()).to_vector<float>();
  EXPECT_EQ(b.apply(x.clone()).to_vector<float>(), a1);
  EXPECT_NE(c.apply(x.clone()).to_vector<float>(), a1);
  // The stream moves on: the next batch gets new transforms, the same for both.
  const auto a2 = a.apply(x.clone()).to_vector<float>();
  EXPECT_NE(a2, a1);
  EXPECT_EQ(b.apply(x.clone()).to_vector<float>(), a2);
}

TEST(Augment, DrawsCoverTheRanges) {
  RandomAffine aug({.max_shift = 2, .max_degrees = 10}, 5);
  std::set<double> shifts;
  double lo = 0, hi = 0;
  for (const auto& p : aug.draw(2000)) {
    shifts.insert(p.dx);
    shifts.insert(p.dy);
    EXPECT_EQ(p.dx, std::round(p.dx));
    EXPECT_GE(p.degrees, -10.0);
    EXPECT_LE(p.degrees, 10.0);
    lo = std::min(lo, p.degrees);
    hi = std::max(hi, p.degrees);
  }
  EXPECT_EQ(shifts, (std::set<double>{-2, -1, 0, 1, 2}));
  EXPECT_LT(lo, -9.0);
  EXPECT_GT(hi, 9.0);
}

TEST(Augment, AsADataLoaderTransform) {
  Generator g(1);
  auto ds = std::make_shared<TensorDataset>(rand({10, 1, 8, 8}, g), arange(10));
  auto batches = [&](std::uint64_t seed) {
    Generator shuffle(3);
    DataLoader dl(ds, 4, true, &shuffle);
    dl.transform(random_affine({.max_shift = 2, .max_degrees = 10}, seed));
    std::vector<std::vector<float>> out;
    for (int epoch = 0; epoch < 2; ++epoch)
      for (const Batch& b : dl) {
        EXPECT_EQ(b.x.shape(), (Shape{b.y.size(0), 1, 8, 8}));
        out.push_back(b.x.to_vector<float>());
      }
    return out;
  };
  const auto first = batches(11);
  EXPECT_EQ(batches(11), first);  // repeatable
  EXPECT_NE(batches(12), first);
  // The dataset itself is untouched (the loader's own buffers are warped).
  Generator again(1);
  EXPECT_EQ(ds->get(0).first.to_vector<float>(), rand({10, 1, 8, 8}, again)[0].to_vector<float>());
}

TEST(Augment, BadInput) {
  const std::vector<AffineParams> one(1);
  expect_error([&] { affine_warp(zeros({1, 10}), one); }, {"augment", "10 pixels"});
  expect_error([&] { affine_warp(zeros({1, 1, 4, 4}, DType::f64), one); }, {"augment", "f32"});
  expect_error(
      [&] {
        affine_warp(zeros({2, 1, 4, 4}), one);
      },
      {"augment", "1 parameter sets", "2 images"});
  expect_error([&] { affine_warp(zeros({4}), {}); }, {"augment", "[B, C, H, W]"});
  expect_error([&] { RandomAffine({.max_shift = -1}, 0); }, {"max_shift"});
}
