#pragma once
// Small helpers shared by the viz sources (private to the library).
#include <string>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::viz::detail {

// Writes `text` to `path` under a temporary name in the same folder, then renames; throws Error
// naming `what` and the path on failure.
void write_file_atomic(const std::string& path, const std::string& text, const char* what);

// A number for SVG coordinates: at most two decimals, no trailing zeros ("12.5", "3", "-0.25").
std::string coord(double v);

// All values of a tensor as doubles, row-major (any dtype).
std::vector<double> tensor_values(const Tensor& t);

// The number of Unicode code points in UTF-8 text (for estimating text widths).
std::size_t utf8_length(const std::string& text);

// Rows [r0, r1) and columns [c0, c1) of an image [H, W] (ranges clamped to it), for the pixel
// tables of the terminal and the report.
struct PixelCrop {
  int r0 = 0, r1 = 0, c0 = 0, c1 = 0;
  std::vector<double> values;  // (r1 - r0) * (c1 - c0), row-major
  bool integers = true;        // every value is whole: printed without decimals
  double lo = 0, hi = 255;     // the range the shading spans
  double at(int r, int c) const {
    return values[static_cast<std::size_t>((r - r0) * (c1 - c0) + c - c0)];
  }
  std::string text(double v) const;  // "253" or "0.99"
  double shade(double v) const;      // 0 at lo, 1 at hi
};
// Throws Error naming `what` when img is not [H, W] or the clamped range is empty.
PixelCrop crop_pixels(const Tensor& img, int r0, int r1, int c0, int c1, const char* what);

}  // namespace ember::viz::detail
