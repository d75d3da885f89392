// `ember show`: a digit drawn in the terminal, and its pixel values as a shaded table.
#include <cstdio>

#include "common.hpp"
#include "ember/ember.hpp"
#include "show.hpp"

namespace ember_app {

using namespace ember;

int run_show(const ShowOptions& o) {
  Tensor img;
  std::string what;
  if (!o.image.empty()) {
    img = data::to_unit_float(io::read_png(o.image));
    what = o.image;
  } else {
    const data::DataSplit split = data::load_dataset(o.data);
    const data::ImageData& part = o.split == "valid" ? split.valid : split.train;
    if (o.split != "train" && o.split != "valid")
      throw Error("--split must be train or valid, got '" + o.split + "'");
    if (o.index < 0 || o.index >= part.size()) {
      throw Error("--index " + std::to_string(o.index) + " is out of range: " + split.name + " " +
                  o.split + " has " + std::to_string(part.size()) + " images");
    }
    img = data::to_unit_float(part.images[o.index]);
    const auto label = part.labels[o.index].item<std::int64_t>();
    what = split.name + " " + o.split + " #" + std::to_string(o.index) + ", label " +
           part.classes[static_cast<std::size_t>(label)];
  }
  const bool color = !o.plain && viz::terminal_supports_truecolor();
  std::printf("%s (%lldx%lld)\n", what.c_str(), static_cast<long long>(img.size(0)),
              static_cast<long long>(img.size(1)));
  if (o.values) {
    // the chapter's view: rows 4 to 14 and columns 4 to 21 (im3_t[4:15, 4:22])
    const int r1 = static_cast<int>(std::min<std::int64_t>(15, img.size(0)));
    const int c1 = static_cast<int>(std::min<std::int64_t>(22, img.size(1)));
    std::printf("%s",
                viz::pixel_table(img, std::min(4, r1), r1, std::min(4, c1), c1, color).c_str());
  } else {
    std::printf("%s", viz::render_terminal(img, color).c_str());
  }
  return 0;
}

}  // namespace ember_app
