#pragma once
// Small helpers shared by the ember command's subcommands.
#include <chrono>
#include <string>

#include "ember/ember.hpp"

namespace ember_app {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A [28, 28] image in [0, 1] drawn with grey-scale characters (two per pixel).
std::string shade_digit(const ember::Tensor& image);

}  // namespace ember_app
