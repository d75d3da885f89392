#pragma once
// Data augmentation: random small rotations and translations of each image of a batch, applied
// as a DataLoader transform, seeded and repeatable.
//
//   data::DataLoader train_dl(train_ds, 256, /*shuffle=*/true, &gen);
//   train_dl.transform(data::random_affine({.max_shift = 2, .max_degrees = 10}, /*seed=*/42));
//
// Each image gets its own rotation (uniform in [-max_degrees, max_degrees], counterclockwise as
// the image is displayed, about the image's centre) and its own shift (whole pixels, uniform in
// [-max_shift, max_shift] along each axis; positive dx moves the content right, positive dy
// down). Pixels that come from outside the image are 0 (MNIST's background). With no rotation
// the shift is an exact copy of the pixels; with bilinear sampling a rotation blends the four
// nearest source pixels.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"
#include "ember/data/dataloader.hpp"

namespace ember::data {

enum class Sampling { nearest, bilinear };

struct AugmentOptions {
  std::int64_t max_shift = 2;  // pixels, >= 0
  double max_degrees = 10;     // >= 0
  Sampling sampling = Sampling::bilinear;
  // Only for flat batches [B, H*W]: the image size. 0, 0 means square (H = W = sqrt(H*W)).
  std::int64_t height = 0, width = 0;
};

// The transform of one image: rotate by `degrees` about the centre, then shift by (dx, dy).
struct AffineParams {
  double dx = 0, dy = 0, degrees = 0;
};

// Warps each image of x by its own parameters (params[i] for image i; every channel of an image
// alike). x: f32 [B, C, H, W], [B, H, W], or [B, H*W] (with height and width, or square)
// -> a new tensor of x's shape. Throws Error when the shape or dtype does not fit or
// params.size() != B.
Tensor affine_warp(const Tensor& x, std::span<const AffineParams> params,
                   Sampling sampling = Sampling::bilinear, std::int64_t height = 0,
                   std::int64_t width = 0);

// Random rotations and shifts, drawn from its own Generator: the same seed gives the same images
// batch after batch. Scratch memory is kept and reused, so steady-state batches do not allocate.
class RandomAffine {
 public:
  RandomAffine(AugmentOptions opts, std::uint64_t seed);

  // Draws parameters for B images (B values of each of dx, dy, degrees, in that order per image).
  std::vector<AffineParams> draw(std::int64_t batch);
  // x as affine_warp accepts it -> augmented, same shape. Writes into x itself when it is
  // contiguous (and returns it), else into a new tensor.
  Tensor apply(Tensor x);
  // As a DataLoader transform: replaces b.x by apply(b.x); b.y is untouched.
  void operator()(Batch& b) { b.x = apply(b.x); }

  const AugmentOptions& options() const { return opts_; }

 private:
  AugmentOptions opts_;
  Generator gen_;
  std::vector<float> scratch_;  // a copy of the batch's source pixels
  std::vector<AffineParams> params_;
};

// A RandomAffine wrapped for DataLoader::transform (the std::function shares one RandomAffine,
// so copies of it continue the same random stream).
std::function<void(Batch&)> random_affine(AugmentOptions opts, std::uint64_t seed);

}  // namespace ember::data
