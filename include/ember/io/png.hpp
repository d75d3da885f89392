#pragma once
// PNG images through libpng.
#include <cstdint>
#include <string>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::io {

// Reads any PNG (grayscale 1/2/4/8/16-bit, grey+alpha, RGB, RGBA, palette, with or without a
// tRNS chunk, interlaced or not) as a u8 [H, W] grey image:
//   grey = round(255 * (0.299 R + 0.587 G + 0.114 B) * A)   (ITU-R BT.601 luma, all in [0, 1])
// Transparent pixels are composited onto black, the background of MNIST's white-on-black digits.
// 16-bit samples are used at full precision and rounded once at the end.
// Throws Error naming the file when it is missing or is not a valid PNG.
Tensor read_png(const std::string& path);

// Writes an image: [H, W] (grey), [H, W, 1], [H, W, 2] (grey+alpha), [H, W, 3] (RGB) or
// [H, W, 4] (RGBA); u8 values as they are, f32/f64 values in [0, 1] scaled by 255, rounded and
// clamped. Writes under a temporary name in the same folder, then renames.
void write_png(const Tensor& image, const std::string& path);

// PNG colour types (the values of the PNG specification).
enum class PngColor : int { gray = 0, rgb = 2, palette = 3, gray_alpha = 4, rgba = 6 };

// A PNG's pixels exactly as the file stores them: `rows` holds `height` rows of
// ceil(width * channels * bit_depth / 8) bytes each, samples packed most significant bits first,
// 16-bit samples big-endian. `palette` holds RGB triples (palette images); `trns` is the optional
// tRNS chunk (one alpha per palette entry; or one 16-bit big-endian grey/RGB value marking
// transparency, 2 or 6 bytes).
struct PngRaw {
  std::int64_t width = 0;
  std::int64_t height = 0;
  PngColor color = PngColor::gray;
  int bit_depth = 8;
  std::vector<std::uint8_t> rows;
  std::vector<std::uint8_t> palette;
  std::vector<std::uint8_t> trns;
  bool interlaced = false;
};

// Writes `raw` as given, for any colour type and bit depth the PNG specification allows (tests use
// it to make every kind of PNG). Same temporary-name-then-rename rule as write_png.
void write_png_raw(const PngRaw& raw, const std::string& path);

}  // namespace ember::io
