// Image grids, PNG bytes, base64 and the show_batch-style HTML figure.
#include "ember/viz/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "ember/core/error.hpp"
#include "ember/io/png.hpp"
#include "ember/viz/plot.hpp"
#include "io/file_util.hpp"

namespace ember::viz {

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    const std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0u);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += rest == 2 ? alphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Tensor to_u8_image(const Tensor& img) {
  if (!img.defined()) throw Error("to_u8_image: undefined tensor");
  Tensor t = img;
  if (t.rank() == 3 && t.size(0) == 1) t = t.select(0, 0);
  if (t.rank() == 3 && t.size(2) == 1) t = t.select(2, 0);
  if (t.rank() != 2) {
    throw Error("to_u8_image: expected an image [H, W], got " + shape_str(img.shape()));
  }
  if (t.dtype() == DType::u8) return t.contiguous();
  const auto values = t.to_vector<double>();
  Tensor out = empty(t.shape(), DType::u8);
  auto* p = out.data_ptr<std::uint8_t>();
  const double k = is_floating(t.dtype()) ? 255.0 : 1.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = std::isnan(values[i]) ? 0.0 : std::clamp(values[i] * k, 0.0, 255.0);
    p[i] = static_cast<std::uint8_t>(std::lround(v));
  }
  return out;
}

std::vector<std::uint8_t> png_bytes(const Tensor& img) {
  // io::write_png writes files only, so go through a temporary file.
  const auto dir = std::filesystem::temp_directory_path();
  const std::string path = io::detail::temp_name_beside((dir / "ember-viz.png").string());
  struct Remove {
    const std::string& path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{path};
  io::write_png(img, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("png_bytes: cannot read back " + path);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>());
}

std::string png_data_uri(const Tensor& img) {
  const Tensor t = img.rank() == 3 && img.size(2) > 1 ? img : to_u8_image(img);
  return "data:image/png;base64," + base64_encode(png_bytes(t));
}

Tensor image_grid(const std::vector<Tensor>& images, int cols, int pad, std::uint8_t pad_value) {
  if (images.empty()) throw Error("image_grid: no images");
  if (cols <= 0) throw Error("image_grid: cols must be positive, got " + std::to_string(cols));
  if (pad < 0) throw Error("image_grid: pad must not be negative, got " + std::to_string(pad));
  std::vector<Tensor> u8s;
  std::int64_t ch = 0, cw = 0;
  for (const auto& im : images) {
    u8s.push_back(to_u8_image(im));
    ch = std::max(ch, u8s.back().size(0));
    cw = std::max(cw, u8s.back().size(1));
  }
  const std::int64_t n = static_cast<std::int64_t>(images.size());
  const std::int64_t c = std::min<std::int64_t>(cols, n);
  const std::int64_t r = (n + c - 1) / c;
  const std::int64_t H = r * ch + (r + 1) * pad, W = c * cw + (c + 1) * pad;
  Tensor out = full({H, W}, pad_value, DType::u8);
  auto* dst = out.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    const Tensor& im = u8s[static_cast<std::size_t>(i)];
    const auto* src = im.data_ptr<std::uint8_t>();
    const std::int64_t y0 = pad + (i / c) * (ch + pad), x0 = pad + (i % c) * (cw + pad);
    const std::int64_t h = im.size(0), w = im.size(1);
    // A smaller image sits in the middle of its cell, on black.
    const std::int64_t oy = (ch - h) / 2, ox = (cw - w) / 2;
    for (std::int64_t y = 0; y < ch; ++y) {
      std::fill_n(dst + (y0 + y) * W + x0, cw, std::uint8_t{0});
    }
    for (std::int64_t y = 0; y < h; ++y) {
      std::copy_n(src + y * w, w, dst + (y0 + oy + y) * W + x0 + ox);
    }
  }
  return out;
}

std::string image_grid_html(const std::vector<Tensor>& images,
                            const std::vector<std::string>& captions, int cols, int scale) {
  if (!captions.empty() && captions.size() != images.size()) {
    throw Error("image_grid_html: " + std::to_string(captions.size()) + " captions for " +
                std::to_string(images.size()) + " images");
  }
  if (cols <= 0) throw Error("image_grid_html: cols must be positive, got " + std::to_string(cols));
  scale = std::max(scale, 1);
  std::string o = "<div class=\"ember-grid\" style=\"display:grid;grid-template-columns:repeat(" +
                  std::to_string(std::min<std::size_t>(static_cast<std::size_t>(cols),
                                                       std::max<std::size_t>(images.size(), 1))) +
                  ",max-content);gap:10px 14px;align-items:start\">\n";
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Tensor u8 = to_u8_image(images[i]);
    o += "<figure style=\"margin:0;text-align:center\"><img src=\"" + png_data_uri(u8) +
         "\" width=\"" + std::to_string(u8.size(1) * scale) + "\" height=\"" +
         std::to_string(u8.size(0) * scale) +
         "\" style=\"image-rendering:pixelated;display:block;margin:0 auto\" alt=\"" +
         (captions.empty() ? std::string("image ") + std::to_string(i) : xml_escape(captions[i])) +
         "\">";
    if (!captions.empty()) {
      o += "<figcaption style=\"font:12px/1.3 sans-serif;margin-top:3px;color:#333\">" +
           xml_escape(captions[i]) + "</figcaption>";
    }
    o += "</figure>\n";
  }
  o += "</div>\n";
  return o;
}

}  // namespace ember::viz
