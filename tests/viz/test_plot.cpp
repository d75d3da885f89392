// Plots: nice and log ticks, XML escaping, and every figure's SVG well-formed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "ember/viz/figures.hpp"
#include "ember/viz/plot.hpp"
#include "viz/svg_checks.hpp"

using namespace ember;
using namespace ember::viz;
using ember::testing::TempDir;
using ember::testing::well_formed;
using ember::testing::xml_wellformed_error;

namespace {

// The step is 1, 2 or 5 times a power of ten.
bool nice_step(double step) {
  const double mag = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double f = step / mag;
  return std::fabs(f - 1) < 1e-9 || std::fabs(f - 2) < 1e-9 || std::fabs(f - 5) < 1e-9;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// Every figure the chapter shows, made from small made-up data.
std::map<std::string, std::string> all_figures() {
  std::map<std::string, std::string> svgs;
  svgs["loss_accuracy"] =
      loss_accuracy_plot({0, 1, 2, 3, 4}, {0.9, 0.5, 0.3, 0.25, 0.2}, {0.8, 0.55, 0.35, 0.3, 0.28},
                         {0.6, 0.8, 0.9, 0.93, 0.95}, "accuracy")
          .to_svg();
  svgs["sigmoid"] = sigmoid_plot().to_svg();
  std::vector<double> t, speed;
  std::vector<std::vector<double>> preds(4);
  for (int i = 0; i < 20; ++i) {
    t.push_back(i);
    speed.push_back(0.75 * (i - 9.5) * (i - 9.5) + 1);
    for (int k = 0; k < 4; ++k)
      preds[k].push_back((k + 1) * 0.2 * (i - 9.5) * (i - 9.5) - 80 + 20 * k);
  }
  svgs["quadratic"] = quadratic_fit_plot(t, speed, preds).to_svg();
  std::vector<double> lrs, losses;
  for (int i = 0; i < 50; ++i) {
    lrs.push_back(1e-6 * std::pow(10.0, i * 6.0 / 49));
    losses.push_back(2.3 - 1.5 / (1 + std::exp(-(i - 25) / 4.0)) + (i > 44 ? (i - 44) * 0.8 : 0));
  }
  svgs["lr_find"] = lr_find_plot(lrs, losses, 1e-2).to_svg();
  std::vector<float> w(784);
  for (int i = 0; i < 784; ++i) w[i] = static_cast<float>(std::sin(i * 0.05) * 0.3);
  svgs["heatmap"] = weight_heatmap_svg(from_vector(w, {784, 1}), 28, 28, "weights & <bias>");
  return svgs;
}

}  // namespace

TEST(VizTicks, NiceTicksOnCommonRanges) {
  const Ticks t = nice_ticks(0, 1, 6);
  EXPECT_DOUBLE_EQ(t.step, 0.2);
  ASSERT_EQ(t.ticks.size(), 6u);
  EXPECT_EQ(t.labels.front(), "0.0");
  EXPECT_EQ(t.labels[3], "0.6");
  EXPECT_EQ(t.labels.back(), "1.0");
  const Ticks e = nice_ticks(1, 10, 6);
  EXPECT_DOUBLE_EQ(e.step, 2);
  EXPECT_EQ(e.labels.front(), "0");
  EXPECT_EQ(e.labels.back(), "10");
  const Ticks neg = nice_ticks(-230, 47, 5);
  EXPECT_DOUBLE_EQ(neg.step, 50);
  EXPECT_EQ(neg.labels.front(), "-250");
  EXPECT_EQ(neg.labels.back(), "50");
}

TEST(VizTicks, TicksAreNiceNumbersCoveringTheData) {
  std::uint64_t state = 12345;
  auto uniform = [&]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int trial = 0; trial < 500; ++trial) {
    const double scale = std::pow(10.0, uniform() * 12 - 6);
    const double a = (uniform() - 0.5) * scale, b = a + uniform() * scale;
    const int target = 3 + trial % 8;
    const Ticks t = nice_ticks(a, b, target);
    SCOPED_TRACE(::testing::Message() << "[" << a << ", " << b << "] target " << target);
    EXPECT_TRUE(nice_step(t.step)) << t.step;
    EXPECT_LE(t.lo, a);
    EXPECT_GE(t.hi, b);
    ASSERT_GE(t.ticks.size(), 2u);
    EXPECT_LE(static_cast<double>(t.ticks.size()), 1.5 * (target - 1) + 3);
    ASSERT_EQ(t.ticks.size(), t.labels.size());
    for (std::size_t i = 0; i < t.ticks.size(); ++i) {
      // Each tick is a whole multiple of the step, and its label reads back as its value.
      const double k = t.ticks[i] / t.step;
      EXPECT_NEAR(k, std::round(k), 1e-6);
      EXPECT_NEAR(std::strtod(t.labels[i].c_str(), nullptr), t.ticks[i], t.step * 1e-6)
          << t.labels[i];
      if (i > 0) {
        EXPECT_NEAR(t.ticks[i] - t.ticks[i - 1], t.step, t.step * 1e-6);
      }
    }
  }
}

TEST(VizTicks, DegenerateRangesStillGiveTicks) {
  const Ticks t = nice_ticks(5, 5);
  EXPECT_LT(t.lo, 5);
  EXPECT_GT(t.hi, 5);
  const Ticks z = nice_ticks(0, 0);
  EXPECT_LT(z.lo, 0);
  EXPECT_GT(z.hi, 0);
  const Ticks n = nice_ticks(std::nan(""), 3);
  EXPECT_GE(n.ticks.size(), 2u);
}

TEST(VizTicks, FormatTick) {
  EXPECT_EQ(format_tick(0.1 * 3, 0.1), "0.3");
  EXPECT_EQ(format_tick(-0.0, 1), "0");
  EXPECT_EQ(format_tick(1e-17, 0.1), "0.0");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(format_tick(1500, 500), "1500");
  EXPECT_EQ(format_tick(0.05, 0.05), "0.05");
  EXPECT_EQ(format_tick(-2.5, 0.5), "-2.5");
}

TEST(VizTicks, LogTicksArePowersOfTen) {
  for (auto [lo, hi] : std::vector<std::pair<double, double>>{
           {1e-6, 1.0}, {3e-5, 7e-1}, {0.5, 2}, {1e-30, 1e30}, {10, 10}, {2e3, 9e3}}) {
    const Ticks t = log10_ticks(lo, hi);
    SCOPED_TRACE(::testing::Message() << "[" << lo << ", " << hi << "]");
    EXPECT_LE(t.lo, lo * (1 + 1e-12));
    EXPECT_GE(t.hi, hi * (1 - 1e-12));
    ASSERT_GE(t.ticks.size(), 2u);
    EXPECT_LE(t.ticks.size(), 10u);
    for (std::size_t i = 0; i < t.ticks.size(); ++i) {
      const double e = std::log10(t.ticks[i]);
      EXPECT_NEAR(e, std::round(e), 1e-9) << t.ticks[i];
      EXPECT_EQ(t.labels[i].rfind("10", 0), 0u) << t.labels[i];
    }
  }
  const Ticks t = log10_ticks(1e-3, 1);
  ASSERT_EQ(t.labels.size(), 4u);
  EXPECT_EQ(t.labels[0], "10⁻³");
  EXPECT_EQ(t.labels[3], "10⁰");
  EXPECT_EQ(t.minor.size(), 3u * 8u);
}

TEST(VizXml, EscapesMarkup) {
  EXPECT_EQ(xml_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  EXPECT_EQ(xml_escape(std::string("x\x01y\tz")), "xy\tz");
  EXPECT_EQ(xml_escape("µ ✓"), "µ ✓");
}

TEST(VizXml, CheckerCatchesBrokenXml) {
  EXPECT_EQ(xml_wellformed_error("<a x=\"1\"><b/>t &amp; &#60; &#x3C;</a>"), "");
  EXPECT_NE(xml_wellformed_error("<a><b></a></b>"), "");
  EXPECT_NE(xml_wellformed_error("<a><b></b>"), "");
  EXPECT_NE(xml_wellformed_error("<a x=1></a>"), "");
  EXPECT_NE(xml_wellformed_error("<a x=\"1\" x=\"2\"></a>"), "");
  EXPECT_NE(xml_wellformed_error("<a>&nbsp;</a>"), "");
  EXPECT_NE(xml_wellformed_error("<a>a & b</a>"), "");
  EXPECT_NE(xml_wellformed_error("<a>1 < 2</a>"), "");
  EXPECT_NE(xml_wellformed_error("<a x=\"<\"></a>"), "");
  EXPECT_NE(xml_wellformed_error("<a></a><b></b>"), "");
  EXPECT_NE(xml_wellformed_error("text<a></a>"), "");
  EXPECT_NE(xml_wellformed_error(""), "");
}

TEST(VizPlot, SvgIsWellFormedWithHostileText) {
  Plot p;
  p.title("Loss & <accuracy> \"quoted\" 'x'").x_label("epoch <n>").y_label("a & b");
  p.line("train & <valid>", {0, 1, 2, 3}, {1, 0.5, std::nan(""), 0.2});
  p.points("pts \"x\"", {0, 1, 2}, {0.3, 0.2, 0.1});
  const std::string svg = p.to_svg(500, 300);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_NE(svg.find("Loss &amp; &lt;accuracy&gt;"), std::string::npos);
  EXPECT_NE(svg.find("train &amp; &lt;valid&gt;"), std::string::npos);
  EXPECT_NE(svg.find("width=\"500\""), std::string::npos);
  // The NaN breaks the line in two pieces: two move-to commands.
  const std::size_t d = svg.find("<path d=\"");
  ASSERT_NE(d, std::string::npos);
  const std::string path = svg.substr(d + 9, svg.find('"', d + 9) - d - 9);
  EXPECT_EQ(count(path, "M"), 2u) << path;
  EXPECT_EQ(count(svg, "<circle"), 3u + 1u);  // three points and the legend's marker
}

TEST(VizPlot, LogAxisSkipsNonPositiveX) {
  Plot p;
  p.log_x().line("loss", {0, 1e-4, 1e-3, 1e-2, -1}, {3, 2, 1, 0.5, 9});
  const std::string svg = p.to_svg();
  EXPECT_TRUE(well_formed(svg));
  EXPECT_NE(svg.find("10⁻⁴"), std::string::npos);
  EXPECT_NE(svg.find("10⁻²"), std::string::npos);
}

TEST(VizPlot, EmptyPlotAndErrors) {
  EXPECT_TRUE(well_formed(Plot().to_svg()));
  EXPECT_THROW(Plot().line("x", {1, 2}, {1}), ember::Error);
  EXPECT_THROW(Plot().to_svg(10, 10), ember::Error);
  EXPECT_THROW(loss_accuracy_plot({0, 1}, {1}, {}, {}), ember::Error);
  EXPECT_THROW(quadratic_fit_plot({0, 1}, {1, 2}, {{1}}), ember::Error);
  EXPECT_THROW(lr_find_plot({1e-3}, {1, 2}, 0), ember::Error);
  EXPECT_THROW(weight_heatmap_svg(zeros({10})), ember::Error);
}

TEST(VizPlot, SaveWritesTheFileAtomically) {
  TempDir dir;
  const std::string path = dir / "sigmoid.svg";
  sigmoid_plot().save(path, 320, 200);
  ASSERT_TRUE(std::filesystem::exists(path));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.str())) ++files;
  EXPECT_EQ(files, 1u);  // no temporary file left behind
  EXPECT_THROW(sigmoid_plot().save(dir / "missing/folder/x.svg"), ember::Error);
}

TEST(VizFigures, AllWellFormed) {
  for (const auto& [name, svg] : all_figures()) {
    EXPECT_TRUE(well_formed(svg)) << name;
    EXPECT_EQ(svg.find("<svg"), 0u) << name;
  }
}

TEST(VizFigures, AllAcceptedByXmllint) {
  if (!ember::testing::xmllint_available()) {
    GTEST_SKIP() << "xmllint not installed (Debian package libxml2-utils); skipping that check";
  }
  for (const auto& [name, svg] : all_figures()) {
    EXPECT_TRUE(ember::testing::xmllint_accepts(svg, name));
  }
}

TEST(VizFigures, Contents) {
  const auto figs = all_figures();
  const std::string& la = figs.at("loss_accuracy");
  EXPECT_NE(la.find("train loss"), std::string::npos);
  EXPECT_NE(la.find("valid loss"), std::string::npos);
  EXPECT_NE(la.find(">accuracy<"), std::string::npos);
  EXPECT_NE(figs.at("lr_find").find("suggested lr 0.01"), std::string::npos);
  EXPECT_NE(figs.at("quadratic").find("measured speed"), std::string::npos);
  EXPECT_EQ(count(figs.at("quadratic"), "<path"), 4u);  // one curve per step
  // 784 cells, 64 colour-bar bands, 2 frames and the background.
  EXPECT_EQ(count(figs.at("heatmap"), "<rect"), 784u + 64u + 2u + 1u);
  EXPECT_NE(figs.at("heatmap").find("weights &amp; &lt;bias&gt;"), std::string::npos);
}

TEST(VizFigures, DivergingColours) {
  EXPECT_EQ(diverging_color(0).hex(), "#ffffff");
  const Color blue = diverging_color(-1), red = diverging_color(1);
  EXPECT_GT(blue.b, blue.r);
  EXPECT_GT(red.r, red.b);
  EXPECT_EQ(diverging_color(-5).hex(), blue.hex());
  const Color half = diverging_color(0.5);
  EXPECT_GT(half.g, red.g);
  EXPECT_EQ(diverging_color(std::nan("")).hex(), "#bbbbbb");
}
