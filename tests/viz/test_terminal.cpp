// Digits in the terminal: shaded blocks, grey-scale characters and the pixel table.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "ember/viz/terminal.hpp"

using namespace ember;
using namespace ember::viz;

namespace {

// A 5x4 image: a gradient from 0 to 255.
Tensor gradient_image() {
  std::vector<std::uint8_t> v;
  for (int i = 0; i < 20; ++i) v.push_back(static_cast<std::uint8_t>(i * 255 / 19));
  return from_vector(v, {5, 4});
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at = s.find('\n'); at != std::string::npos; at = s.find('\n', start)) {
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  EXPECT_EQ(start, s.size()) << "the text should end with a newline";
  return out;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(VizTerminal, GreyScaleHasNoControlCharacters) {
  const std::string s = render_terminal(gradient_image(), false);
  for (char c : s) {
    EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "byte " << static_cast<int>(c);
  }
  const auto rows = lines(s);
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& r : rows) EXPECT_EQ(r.size(), 8u);  // two characters per pixel
  EXPECT_EQ(rows[0].substr(0, 2), "  ");               // 0: blank
  EXPECT_EQ(rows[4].substr(6, 2), "@@");               // 255: the densest character
}

TEST(VizTerminal, FloatImagesLikeU8) {
  const Tensor u8 = gradient_image();
  const Tensor f = u8.to(DType::f32).mul_(1.0 / 255.0);
  EXPECT_EQ(render_terminal(f, false), render_terminal(u8, false));
}

TEST(VizTerminal, ColourUsesHalfBlocks) {
  const std::string s = render_terminal(gradient_image(), true);
  const auto rows = lines(s);
  ASSERT_EQ(rows.size(), 3u);  // five pixel rows: two per text row, rounded up
  EXPECT_EQ(count(s, "\u2580"), 3u * 4u);
  EXPECT_EQ(s.rfind("\x1b[38;2;0;0;0m", 0), 0u);  // the first pixel is black
  EXPECT_NE(s.find("\x1b[48;2;"), std::string::npos);
  EXPECT_NE(s.find("\x1b[49m"), std::string::npos);  // the odd last row
  for (const auto& r : rows) EXPECT_EQ(r.substr(r.size() - 4), "\x1b[0m");
}

TEST(VizTerminal, TruecolorNeedsColortermAndATerminal) {
  ::setenv("COLORTERM", "truecolor", 1);
  ::setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(terminal_supports_truecolor());
  ::unsetenv("NO_COLOR");
  ::unsetenv("COLORTERM");
  EXPECT_FALSE(terminal_supports_truecolor());
  ::setenv("COLORTERM", "256color", 1);
  EXPECT_FALSE(terminal_supports_truecolor());
  ::unsetenv("COLORTERM");
}

TEST(VizTerminal, PixelTablePlain) {
  const std::string s = pixel_table(gradient_image(), 1, 4, 1, 3, false);
  EXPECT_EQ(s.find('\x1b'), std::string::npos);
  const auto rows = lines(s);
  ASSERT_EQ(rows.size(), 4u);  // header and rows 1, 2, 3
  EXPECT_EQ(rows[0], "    1   2");
  // Row 1 holds pixels 5 and 6 of the gradient: 67 and 80.
  EXPECT_EQ(rows[1], "1  67  80");
  for (const auto& r : rows) EXPECT_EQ(r.size(), rows[0].size());
}

TEST(VizTerminal, PixelTableFloatsAndShading) {
  const Tensor f = tensor({{0.0, 0.25}, {0.5, 1.0}});
  const std::string plain = pixel_table(f, 0, 2, 0, 2, false);
  EXPECT_NE(plain.find("0.25"), std::string::npos);
  EXPECT_NE(plain.find("1.00"), std::string::npos);
  const std::string shaded = pixel_table(f, 0, 2, 0, 2, true);
  EXPECT_NE(shaded.find("\x1b[48;2;255;255;255m"), std::string::npos);                  // 0: white
  EXPECT_NE(shaded.find("\x1b[48;2;0;0;0m\x1b[38;2;255;255;255m"), std::string::npos);  // 1: black
}

TEST(VizTerminal, PixelTableClampsAndRejectsEmptyRanges) {
  const std::string s = pixel_table(gradient_image(), -3, 100, 2, 100, false);
  EXPECT_EQ(lines(s).size(), 6u);
  EXPECT_THROW(pixel_table(gradient_image(), 3, 3, 0, 2, false), ember::Error);
  EXPECT_THROW(pixel_table(zeros({2, 2, 2}), 0, 1, 0, 1, false), ember::Error);
}
