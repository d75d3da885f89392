#pragma once
#include <cstdint>
#include <string>

namespace ember_app {

struct ShowOptions {
  std::string image;                  // a PNG, or else:
  std::string data = "mnist-sample";  // a data set and an image in it
  std::string split = "train";
  std::int64_t index = 0;
  bool values = false;  // the pixel values as a shaded table
  bool plain = false;   // no colour even on a 24-bit terminal
};

int run_show(const ShowOptions& options);

}  // namespace ember_app
