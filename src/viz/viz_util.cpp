#include "viz/viz_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "ember/core/error.hpp"
#include "io/file_util.hpp"

namespace ember::viz::detail {

void write_file_atomic(const std::string& path, const std::string& text, const char* what) {
  const std::string tmp = io::detail::temp_name_beside(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(std::string(what) + ": cannot write " + path);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(std::string(what) + ": cannot write " + path);
    }
  }
  io::detail::rename_over(tmp, path, what);
}

std::string coord(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s(buf);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0" || s.empty()) s = "0";
  return s;
}

std::vector<double> tensor_values(const Tensor& t) {
  if (!t.defined()) return {};
  return t.to_vector<double>();
}

std::size_t utf8_length(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string PixelCrop::text(double v) const {
  char buf[48];
  if (integers) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

double PixelCrop::shade(double v) const {
  if (!std::isfinite(v) || hi <= lo) return 0;
  return std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
}

PixelCrop crop_pixels(const Tensor& img, int r0, int r1, int c0, int c1, const char* what) {
  if (!img.defined()) throw Error(std::string(what) + ": undefined tensor");
  Tensor t = img;
  if (t.rank() == 3 && t.size(0) == 1) t = t.select(0, 0);
  if (t.rank() == 3 && t.size(2) == 1) t = t.select(2, 0);
  if (t.rank() != 2) {
    throw Error(std::string(what) + ": expected an image [H, W], got " + shape_str(img.shape()));
  }
  const auto H = static_cast<int>(t.size(0)), W = static_cast<int>(t.size(1));
  PixelCrop p;
  p.r0 = std::clamp(r0, 0, H);
  p.r1 = std::clamp(r1, 0, H);
  p.c0 = std::clamp(c0, 0, W);
  p.c1 = std::clamp(c1, 0, W);
  if (p.r0 >= p.r1 || p.c0 >= p.c1) {
    throw Error(std::string(what) + ": rows [" + std::to_string(r0) + ", " + std::to_string(r1) +
                ") and columns [" + std::to_string(c0) + ", " + std::to_string(c1) +
                ") select nothing of an image " + shape_str(img.shape()));
  }
  const Tensor crop = t.slice(0, p.r0, p.r1).slice(1, p.c0, p.c1);
  p.values = crop.to_vector<double>();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : p.values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    p.integers = p.integers && v == std::floor(v);
  }
  // The scale of the image's type (0..255 for u8, 0..1 for floats in [0, 1]), widened to the
  // values when they leave it.
  const bool is_u8 = t.dtype() == DType::u8;
  p.lo = std::min(0.0, lo);
  p.hi = std::max(is_u8 || (p.integers && hi > 1) ? 255.0 : 1.0, hi);
  if (!is_floating(t.dtype())) p.integers = true;
  return p;
}

}  // namespace ember::viz::detail
