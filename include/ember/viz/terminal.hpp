#pragma once
// Digits in the terminal: shaded blocks in 24-bit colour, grey-scale characters otherwise, and a
// table of pixel values shaded by value.
#include <string>

#include "ember/core/tensor.hpp"

namespace ember::viz {

// True when standard output is a terminal that says it shows 24-bit colour (COLORTERM is
// "truecolor" or "24bit") and NO_COLOR is not set.
bool terminal_supports_truecolor();

// Draws img ([H, W]; u8, or floats in [0, 1]) as text, one line per text row, each ending in '\n'.
// color: 24-bit ANSI colours with the upper-half block U+2580 (foreground = the upper pixel,
// background = the lower), so one text row shows two pixel rows; every row ends with a reset.
// !color: two characters per pixel from " .:-=+*#%@" (dark to bright); no control characters.
std::string render_terminal(const Tensor& img, bool color);

// Rows [r0, r1) and columns [c0, c1) of img ([H, W]) as a table of values (integers for u8 and
// whole-valued images, two decimals otherwise), with row and column indices, like the chapter's
// df.style.background_gradient('Greys') view. color: each cell's background is shaded by its value
// (white at the lowest, black at the highest) with readable text; !color: plain aligned numbers.
// The ranges are clamped to the image.
std::string pixel_table(const Tensor& img, int r0, int r1, int c0, int c1, bool color);

}  // namespace ember::viz
