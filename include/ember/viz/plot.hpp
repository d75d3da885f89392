#pragma once
// Plot: a small builder for line and point charts, rendered by ember itself to SVG (text, axes,
// "nice" ticks with labels, grid, legend). Nothing is fetched at view time: the SVG stands alone
// and can be inlined in an HTML page.
//
//   viz::Plot p;
//   p.title("Loss").x_label("epoch").y_label("loss");
//   p.line("train", epochs, train_loss).line("valid", epochs, valid_loss);
//   p.save("loss.svg");
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ember::viz {

// An sRGB colour.
struct Color {
  std::uint8_t r = 0;
  std::uint8_t g = 0;
  std::uint8_t b = 0;
  std::string hex() const;  // "#1f77b4"
};

// The default colour cycle (ten well-separated colours); palette_color(i) wraps around.
Color palette_color(std::size_t i);

enum class Scale { linear, log10 };

// Which y axis a series is drawn against: the left one, or a second one on the right (used, for
// example, for accuracy beside a loss).
enum class YAxis { left, right };

// One axis's ticks: the axis runs over [lo, hi]; `ticks` are the labelled positions and `labels`
// their text; `minor` are unlabelled positions (the 2..9 multiples on a log axis).
struct Ticks {
  double lo = 0;
  double hi = 1;
  double step = 0;  // the distance between ticks on a linear axis (0 on a log axis)
  std::vector<double> ticks;
  std::vector<std::string> labels;
  std::vector<double> minor;
};

// Linear-axis ticks for data in [lo, hi]: about `target` ticks (at most 1.5 * (target - 1) + 3) at
// multiples of a step of 1, 2 or 5 times a power of ten, and a range [Ticks::lo, Ticks::hi]
// widened to the first tick at or below lo and the last at or above hi. A degenerate range
// (lo == hi) is widened around its value.
Ticks nice_ticks(double lo, double hi, int target = 6);

// Log-axis ticks for positive data in [lo, hi]: the powers of ten that cover the range (every
// k-th power when there are many decades), labelled 10^k, with the 2..9 multiples as minor ticks.
Ticks log10_ticks(double lo, double hi);

// "0.25", "3", "-1.5", "1e-05"... the shortest text of a tick value given the tick step.
std::string format_tick(double value, double step);

// Escapes text for XML/HTML character data and attribute values: & < > " '.
std::string xml_escape(const std::string& text);

struct Series {
  enum class Kind { line, points };
  std::string name;  // legend text; empty: not in the legend
  std::vector<double> x;
  std::vector<double> y;
  Kind kind = Kind::line;
  std::optional<Color> color;  // empty: the next colour of the palette
  double width = 2.0;          // line width, or point radius
  bool dashed = false;
  YAxis axis = YAxis::left;
};

// A vertical marker line at x (for example the learning rate the finder suggests).
struct VLine {
  double x = 0;
  std::string label;
  Color color{0x55, 0x55, 0x55};
};

class Plot {
 public:
  Plot& title(std::string text);
  Plot& x_label(std::string text);
  Plot& y_label(std::string text);
  Plot& y2_label(std::string text);  // the right-hand axis (only drawn when a series uses it)
  Plot& x_scale(Scale scale);
  Plot& log_x() { return x_scale(Scale::log10); }
  // Sets an axis's range instead of fitting the data. A linear x axis spans exactly [lo, hi]; a
  // y axis, and a log x axis, widen it to the nearest ticks around it.
  Plot& x_range(double lo, double hi);
  Plot& y_range(double lo, double hi);
  Plot& y2_range(double lo, double hi);

  // x and y must have the same length; non-finite values (and x <= 0 on a log axis) break a line.
  Plot& line(std::string name, std::vector<double> x, std::vector<double> y,
             std::optional<Color> color = std::nullopt);
  Plot& points(std::string name, std::vector<double> x, std::vector<double> y,
               std::optional<Color> color = std::nullopt);
  Plot& add(Series series);
  Plot& vline(double x, std::string label, Color color = {0x55, 0x55, 0x55});

  const std::vector<Series>& series() const { return series_; }

  // A standalone SVG document (no XML prolog, so it can also be inlined in HTML).
  std::string to_svg(int width = 640, int height = 400) const;
  // Writes to_svg() to `path` under a temporary name in the same folder, then renames.
  void save(const std::string& path, int width = 640, int height = 400) const;

 private:
  std::string title_, x_label_, y_label_, y2_label_;
  Scale x_scale_ = Scale::linear;
  std::optional<std::pair<double, double>> x_range_, y_range_, y2_range_;
  std::vector<Series> series_;
  std::vector<VLine> vlines_;
};

}  // namespace ember::viz
