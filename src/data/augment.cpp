// Random rotations and shifts of images (data augmentation): one inverse-mapped affine warp per
// image, sampled nearest or bilinear with zero fill.
#include "ember/data/augment.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numbers>
#include <string>

#include "ember/core/error.hpp"

namespace ember::data {

namespace {

// The image geometry of a batch: B images of C channels of H x W pixels, contiguous.
struct Geometry {
  std::int64_t batch = 0, channels = 0, height = 0, width = 0;
};

Geometry geometry_of(const Tensor& x, std::int64_t height, std::int64_t width) {
  if (!x.defined()) throw Error("augment: the batch is undefined");
  if (x.dtype() != DType::f32)
    throw Error(std::string("augment: images must be f32, got ") + dtype_name(x.dtype()));
  const Shape& s = x.shape();
  Geometry g;
  if (s.size() == 4) {
    g = {s[0], s[1], s[2], s[3]};
  } else if (s.size() == 3) {
    g = {s[0], 1, s[1], s[2]};
  } else if (s.size() == 2) {
    g.batch = s[0];
    g.channels = 1;
    if (height > 0 && width > 0) {
      g.height = height;
      g.width = width;
    } else {
      const auto side =
          static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(s[1]))));
      g.height = g.width = side;
    }
    if (g.height * g.width != s[1]) {
      throw Error("augment: flat images of " + std::to_string(s[1]) + " pixels are not " +
                  std::to_string(g.height) + " x " + std::to_string(g.width) +
                  " (give the height and width)");
    }
  } else {
    throw Error("augment: expected images [B, C, H, W], [B, H, W] or [B, H*W], got " +
                shape_str(s));
  }
  return g;
}

// dst: [H, W] <- src: [H, W] warped: dst(r, c) = src at the inverse transform of (c, r), that is
// the point that rotation by `degrees` about the centre, then the shift (dx, dy), brings to (c, r).
// Outside the source image counts as 0.
void warp_plane(const float* src, float* dst, std::int64_t H, std::int64_t W, const AffineParams& p,
                Sampling sampling) {
  const double theta = p.degrees * std::numbers::pi / 180.0;
  const double cs = std::cos(theta), sn = std::sin(theta);
  const double cx = 0.5 * static_cast<double>(W - 1), cy = 0.5 * static_cast<double>(H - 1);
  auto at = [&](std::int64_t r, std::int64_t c) -> float {
    return (r >= 0 && r < H && c >= 0 && c < W) ? src[r * W + c] : 0.0f;
  };
  for (std::int64_t r = 0; r < H; ++r) {
    const double v = static_cast<double>(r) - cy - p.dy;
    for (std::int64_t c = 0; c < W; ++c) {
      const double u = static_cast<double>(c) - cx - p.dx;
      const double sx = cx + u * cs - v * sn;  // the rotation's inverse, about the centre
      const double sy = cy + u * sn + v * cs;
      float value;
      if (sampling == Sampling::nearest) {
        value = at(static_cast<std::int64_t>(std::floor(sy + 0.5)),
                   static_cast<std::int64_t>(std::floor(sx + 0.5)));
      } else {
        const double x0 = std::floor(sx), y0 = std::floor(sy);
        const auto fx = static_cast<float>(sx - x0), fy = static_cast<float>(sy - y0);
        const auto c0 = static_cast<std::int64_t>(x0), r0 = static_cast<std::int64_t>(y0);
        const float top = at(r0, c0) * (1.0f - fx) + at(r0, c0 + 1) * fx;
        const float bottom = at(r0 + 1, c0) * (1.0f - fx) + at(r0 + 1, c0 + 1) * fx;
        value = top * (1.0f - fy) + bottom * fy;
      }
      dst[r * W + c] = value;
    }
  }
}

// Every plane of `src` (laid out as g says) into `dst`, image i by params[i].
void warp_batch(const float* src, float* dst, const Geometry& g,
                std::span<const AffineParams> params, Sampling sampling) {
  const std::int64_t plane = g.height * g.width;
  for (std::int64_t i = 0; i < g.batch; ++i) {
    for (std::int64_t ch = 0; ch < g.channels; ++ch) {
      const std::int64_t at = (i * g.channels + ch) * plane;
      warp_plane(src + at, dst + at, g.height, g.width, params[static_cast<std::size_t>(i)],
                 sampling);
    }
  }
}

void check_params(const Geometry& g, std::span<const AffineParams> params) {
  if (static_cast<std::int64_t>(params.size()) != g.batch) {
    throw Error("augment: " + std::to_string(params.size()) + " parameter sets for a batch of " +
                std::to_string(g.batch) + " images");
  }
}

}  // namespace

Tensor affine_warp(const Tensor& x, std::span<const AffineParams> params, Sampling sampling,
                   std::int64_t height, std::int64_t width) {
  const Geometry g = geometry_of(x, height, width);
  check_params(g, params);
  const Tensor src = x.contiguous();
  Tensor out = empty(x.shape(), DType::f32);
  warp_batch(src.data_ptr<float>(), out.data_ptr<float>(), g, params, sampling);
  return out;
}

RandomAffine::RandomAffine(AugmentOptions opts, std::uint64_t seed) : opts_(opts), gen_(seed) {
  if (opts_.max_shift < 0)
    throw Error("augment: max_shift must be >= 0, got " + std::to_string(opts_.max_shift));
  if (!(opts_.max_degrees >= 0)) throw Error("augment: max_degrees must be >= 0");
}

std::vector<AffineParams> RandomAffine::draw(std::int64_t batch) {
  std::vector<AffineParams> out(static_cast<std::size_t>(std::max<std::int64_t>(batch, 0)));
  for (auto& p : out) {
    p.dx = static_cast<double>(gen_.randint(-opts_.max_shift, opts_.max_shift + 1));
    p.dy = static_cast<double>(gen_.randint(-opts_.max_shift, opts_.max_shift + 1));
    p.degrees = (2.0 * gen_.uniform() - 1.0) * opts_.max_degrees;
  }
  return out;
}

Tensor RandomAffine::apply(Tensor x) {
  const Geometry g = geometry_of(x, opts_.height, opts_.width);
  params_ = draw(g.batch);
  if (!x.is_contiguous()) return affine_warp(x, params_, opts_.sampling, opts_.height, opts_.width);
  // In place: the source pixels go to the scratch buffer (kept between batches), the warp writes x.
  const auto n = static_cast<std::size_t>(x.numel());
  if (scratch_.size() < n) scratch_.resize(n);
  float* data = x.data_ptr<float>();
  if (n > 0) std::memcpy(scratch_.data(), data, n * sizeof(float));
  warp_batch(scratch_.data(), data, g, params_, opts_.sampling);
  return x;
}

std::function<void(Batch&)> random_affine(AugmentOptions opts, std::uint64_t seed) {
  auto aug = std::make_shared<RandomAffine>(opts, seed);
  return [aug](Batch& b) { (*aug)(b); };
}

}  // namespace ember::data
