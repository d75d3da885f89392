// Report: a self-contained page with every kind of section.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "ember/viz/viz.hpp"
#include "io/test_files.hpp"
#include "viz/report_fixture.hpp"
#include "viz/xml_check.hpp"

using namespace ember;
using ember::testing::TempDir;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(VizReport, SaveWritesASelfContainedPage) {
  TempDir dir;
  const std::string path = ember::testing::demo_report().save(dir / "report");
  EXPECT_EQ(path, dir / "report/index.html");
  ASSERT_TRUE(std::filesystem::exists(path));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "report"))
    ++files;
  EXPECT_EQ(files, 1u);  // index.html only: no temporary file, no side files
  const std::string html = read_text(path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  // Images inline: the single image, the 10-image batch and the grid.
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,"), 12u);
  EXPECT_EQ(count(html, "<img"), 12u);
  // Five plots inline (the sigmoid, the quadratic, loss and accuracy, the lr finder, the heat map).
  EXPECT_EQ(count(html, "<figure>\n<svg "), 5u);
  // Nothing refers to the network, nor to any other file.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("//cdn"), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex(R"((src|href)=\"(?!data:))")));
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // Text is escaped; the self-check script is there.
  EXPECT_NE(html.find("&lt;b&gt;not bold&lt;/b&gt; &amp; &quot;quoted&quot;"), std::string::npos);
  EXPECT_NE(html.find("label 8 / pred 3 / 0.98"), std::string::npos);
  EXPECT_NE(html.find("document.body.dataset.check"), std::string::npos);
}

TEST(VizReport, InlineSvgsAreWellFormed) {
  const std::string html = ember::testing::demo_report().to_html();
  // Each figure's SVG runs from "<figure>\n<svg " to the "</svg>" before "<figcaption>".
  std::size_t found = 0;
  for (std::size_t at = html.find("<figure>\n<svg "); at != std::string::npos;
       at = html.find("<figure>\n<svg ", at + 1)) {
    const std::size_t start = at + 9;
    const std::size_t end = html.find("</svg>\n<figcaption>", start);
    ASSERT_NE(end, std::string::npos);
    const std::string svg = html.substr(start, end + 6 - start);
    EXPECT_EQ(ember::testing::xml_wellformed_error(svg), "") << svg.substr(0, 200);
    ++found;
  }
  EXPECT_EQ(found, 5u);
}

TEST(VizReport, TablesAndPixelTables) {
  viz::Report r;
  r.table({"name", "value"}, {{"accuracy", "0.9812"}, {"<x>", "12 %"}, {"short"}});
  r.pixel_table(ember::testing::fake_digit(3, 0), 4, 15, 4, 22);
  const std::string html = r.to_html();
  EXPECT_NE(html.find("<td class=\"num\">0.9812</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>&lt;x&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">12 %</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>short</td><td></td>"), std::string::npos);  // short rows padded
  // 11 rows of 18 values, each a shaded cell.
  EXPECT_EQ(count(html, "<td style=\"background:#"), 11u * 18u);
  EXPECT_NE(html.find("<td style=\"background:#ffffff;color:#000\">0</td>"), std::string::npos);
  EXPECT_NE(html.find("<title>ember report</title>"), std::string::npos);
}

TEST(VizReport, SaveFailsClearly) {
  TempDir dir;
  ember::testing::write_bytes(dir / "file", {1, 2, 3});
  viz::Report r;
  EXPECT_THROW(r.save(dir / "file/sub"), ember::Error);
}
