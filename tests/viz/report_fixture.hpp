#pragma once
// A report with every kind of section, made from small made-up data: the report tests read it,
// and the browser test (render_report.sh) opens it in headless Chromium.
#include <string>
#include <vector>

#include "ember/core/tensor.hpp"
#include "ember/viz/report.hpp"

namespace ember::testing {

// A 28x28 u8 image of a made-up handwritten digit (0..9), a little different for each `variant`.
Tensor fake_digit(int digit, int variant);

// The whole demonstration report.
viz::Report demo_report();

}  // namespace ember::testing
