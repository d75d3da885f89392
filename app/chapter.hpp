#pragma once
// `ember chapter`: the "MNIST basics" chapter of fast.ai's course, run natively, stage by stage.
#include <cstdint>
#include <string>

namespace ember_app {

struct ChapterOptions {
  std::uint64_t seed = 42;
  bool json = false;       // one JSON object per stage instead of the human output
  std::string report_dir;  // when set, write DIR/index.html telling the chapter
  std::string data = "mnist-sample";
  bool quick = false;  // fewer epochs (tests)
};

int run_chapter(const ChapterOptions& options);

}  // namespace ember_app
