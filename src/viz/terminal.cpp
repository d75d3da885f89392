// Digits in the terminal.
#include "ember/viz/terminal.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ember/viz/image.hpp"
#include "viz/viz_util.hpp"

namespace ember::viz {

bool terminal_supports_truecolor() {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* colorterm = std::getenv("COLORTERM");
  if (!colorterm) return false;
  if (std::strcmp(colorterm, "truecolor") != 0 && std::strcmp(colorterm, "24bit") != 0) {
    return false;
  }
  return ::isatty(STDOUT_FILENO) == 1;
}

namespace {

// "\x1b[38;2;R;G;Bm" (foreground) or "\x1b[48;2;R;G;Bm" (background) for a grey level.
std::string grey_code(bool background, int level) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "\x1b[%d;2;%d;%d;%dm", background ? 48 : 38, level, level, level);
  return buf;
}

}  // namespace

std::string render_terminal(const Tensor& img, bool color) {
  const Tensor u8 = to_u8_image(img);
  const auto H = u8.size(0), W = u8.size(1);
  const auto* p = u8.data_ptr<std::uint8_t>();
  std::string out;
  if (!color) {
    static constexpr char ramp[] = " .:-=+*#%@";
    for (std::int64_t y = 0; y < H; ++y) {
      for (std::int64_t x = 0; x < W; ++x) {
        const char c = ramp[std::min(9, p[y * W + x] * 10 / 256)];
        out += c;
        out += c;
      }
      out += '\n';
    }
    return out;
  }
  // Two pixel rows per text row: the upper half block shows the upper pixel in the foreground
  // colour and the lower pixel in the background colour.
  for (std::int64_t y = 0; y < H; y += 2) {
    int fg = -1, bg = -1;
    for (std::int64_t x = 0; x < W; ++x) {
      const int top = p[y * W + x];
      if (top != fg) out += grey_code(false, fg = top);
      if (y + 1 < H) {
        const int bottom = p[(y + 1) * W + x];
        if (bottom != bg) out += grey_code(true, bg = bottom);
      } else if (bg != -2) {
        out += "\x1b[49m";  // an odd last row: the terminal's own background below it
        bg = -2;
      }
      out += "\u2580";
    }
    out += "\x1b[0m\n";
  }
  return out;
}

std::string pixel_table(const Tensor& img, int r0, int r1, int c0, int c1, bool color) {
  const auto crop = detail::crop_pixels(img, r0, r1, c0, c1, "pixel_table");
  std::size_t cell = std::to_string(crop.c1 - 1).size();
  for (double v : crop.values) cell = std::max(cell, crop.text(v).size());
  const std::size_t index = std::to_string(crop.r1 - 1).size();
  auto pad = [](const std::string& s, std::size_t n) {
    return std::string(n > s.size() ? n - s.size() : 0, ' ') + s;
  };
  std::string out = std::string(index, ' ');
  for (int c = crop.c0; c < crop.c1; ++c) out += " " + pad(std::to_string(c), cell);
  out += '\n';
  for (int r = crop.r0; r < crop.r1; ++r) {
    out += pad(std::to_string(r), index);
    for (int c = crop.c0; c < crop.c1; ++c) {
      const double v = crop.at(r, c);
      const std::string text = " " + pad(crop.text(v), cell);
      if (!color) {
        out += text;
        continue;
      }
      // The 'Greys' gradient: white at the lowest value, black at the highest.
      const double s = crop.shade(v);
      const int level = static_cast<int>(255.0 * (1.0 - s) + 0.5);
      out += grey_code(true, level) + grey_code(false, s > 0.5 ? 255 : 0) + text;
    }
    if (color) out += "\x1b[0m";
    out += '\n';
  }
  return out;
}

}  // namespace ember::viz
