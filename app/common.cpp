#include "common.hpp"

namespace ember_app {

std::string shade_digit(const ember::Tensor& image) {
  static const char* ramp = " .:-=+*#%@";
  const auto v = image.contiguous().to_vector<float>();
  const auto h = image.size(0), w = image.size(1);
  std::string out;
  for (std::int64_t r = 0; r < h; ++r) {
    out += "  ";
    for (std::int64_t c = 0; c < w; ++c) {
      float p = v[static_cast<std::size_t>(r * w + c)];
      p = p < 0 ? 0 : (p > 1 ? 1 : p);
      const char ch = ramp[static_cast<int>(p * 9.0f + 0.5f)];
      out += ch;
      out += ch;
    }
    out += '\n';
  }
  return out;
}

}  // namespace ember_app
