// Plot: ticks, scales and the SVG writer.
#include "ember/viz/plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "ember/core/error.hpp"
#include "viz/viz_util.hpp"

namespace ember::viz {

using detail::coord;

std::string Color::hex() const {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

Color palette_color(std::size_t i) {
  // Ten colours that stay apart from each other, on white and for most colour vision.
  static constexpr std::array<Color, 10> colors = {{{0x1f, 0x77, 0xb4},
                                                    {0xff, 0x7f, 0x0e},
                                                    {0x2c, 0xa0, 0x2c},
                                                    {0xd6, 0x27, 0x28},
                                                    {0x94, 0x67, 0xbd},
                                                    {0x8c, 0x56, 0x4b},
                                                    {0xe3, 0x77, 0xc2},
                                                    {0x7f, 0x7f, 0x7f},
                                                    {0xbc, 0xbd, 0x22},
                                                    {0x17, 0xbe, 0xcf}}};
  return colors[i % colors.size()];
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab, newline and return are not allowed in XML 1.0.
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += ch;
    }
  }
  return out;
}

// ---- ticks ----

std::string format_tick(double value, double step) {
  if (!std::isfinite(value)) return "";
  if (std::fabs(value) < std::fabs(step) * 1e-9) value = 0.0;  // no "-0.0" or "1e-17"
  const double a = std::fabs(value);
  char buf[64];
  const int decimals =
      step > 0 ? std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9))) : 6;
  if (a >= 1e7 || decimals > 6) {
    std::snprintf(buf, sizeof buf, "%.3g", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  }
  std::string s(buf);
  if (s.rfind("-0", 0) == 0 && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

Ticks nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(lo))) {
    const double d = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  target = std::max(target, 2);
  const double raw = (hi - lo) / (target - 1);
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double mag = std::pow(10.0, exponent);
  const double f = raw / mag;
  // The nearest of 1, 2, 5 and 10 (not the next above), so the count stays near the target.
  const int nice = f < 1.5 ? 1 : f < 3.0 ? 2 : f < 7.0 ? 5 : 10;
  // k * nice * 10^exponent, computed so that 0.1-steps give 0.3 and not 0.30000000000000004.
  const double inv = exponent < 0 ? std::pow(10.0, -exponent) : 0.0;
  auto at = [&](double k) { return inv > 0 ? k * nice / inv : k * nice * mag; };
  const double step = at(1);
  const double first = std::floor(lo / step + 1e-9);
  const double last = std::ceil(hi / step - 1e-9);
  Ticks t;
  t.step = step;
  t.lo = at(first);
  t.hi = at(last);
  for (double k = first; k <= last + 0.5; k += 1) {
    t.ticks.push_back(at(k));
    t.labels.push_back(format_tick(at(k), step));
  }
  return t;
}

namespace {

std::string superscript(int k) {
  static const char* digits[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string s = k < 0 ? "⁻" : "";
  const std::string num = std::to_string(k < 0 ? -k : k);
  for (char c : num) s += digits[c - '0'];
  return s;
}

}  // namespace

Ticks log10_ticks(double lo, double hi) {
  if (!(hi > 0) || !std::isfinite(hi)) hi = 1;
  if (!(lo > 0) || !std::isfinite(lo) || lo > hi) lo = hi / 10;
  int kmin = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int kmax = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (kmax <= kmin) kmax = kmin + 1;
  const int every = std::max(1, (kmax - kmin + 7) / 8);  // at most about 8 labels
  kmin = static_cast<int>(std::floor(static_cast<double>(kmin) / every)) * every;
  kmax = static_cast<int>(std::ceil(static_cast<double>(kmax) / every)) * every;
  Ticks t;
  t.lo = std::pow(10.0, kmin);
  t.hi = std::pow(10.0, kmax);
  for (int k = kmin; k <= kmax; k += every) {
    t.ticks.push_back(std::pow(10.0, k));
    t.labels.push_back("10" + superscript(k));
  }
  if (every == 1) {
    for (int k = kmin; k < kmax; ++k) {
      for (int m = 2; m <= 9; ++m) t.minor.push_back(m * std::pow(10.0, k));
    }
  }
  return t;
}

// ---- the builder ----

Plot& Plot::title(std::string text) {
  title_ = std::move(text);
  return *this;
}
Plot& Plot::x_label(std::string text) {
  x_label_ = std::move(text);
  return *this;
}
Plot& Plot::y_label(std::string text) {
  y_label_ = std::move(text);
  return *this;
}
Plot& Plot::y2_label(std::string text) {
  y2_label_ = std::move(text);
  return *this;
}
Plot& Plot::x_scale(Scale scale) {
  x_scale_ = scale;
  return *this;
}
Plot& Plot::x_range(double lo, double hi) {
  x_range_ = {lo, hi};
  return *this;
}
Plot& Plot::y_range(double lo, double hi) {
  y_range_ = {lo, hi};
  return *this;
}
Plot& Plot::y2_range(double lo, double hi) {
  y2_range_ = {lo, hi};
  return *this;
}

Plot& Plot::line(std::string name, std::vector<double> x, std::vector<double> y,
                 std::optional<Color> color) {
  Series s;
  s.name = std::move(name);
  s.x = std::move(x);
  s.y = std::move(y);
  s.color = color;
  return add(std::move(s));
}

Plot& Plot::points(std::string name, std::vector<double> x, std::vector<double> y,
                   std::optional<Color> color) {
  Series s;
  s.name = std::move(name);
  s.x = std::move(x);
  s.y = std::move(y);
  s.kind = Series::Kind::points;
  s.width = 3.5;
  s.color = color;
  return add(std::move(s));
}

Plot& Plot::add(Series series) {
  if (series.x.size() != series.y.size()) {
    throw Error("Plot: series '" + series.name + "' has " + std::to_string(series.x.size()) +
                " x values but " + std::to_string(series.y.size()) + " y values");
  }
  series_.push_back(std::move(series));
  return *this;
}

Plot& Plot::vline(double x, std::string label, Color color) {
  vlines_.push_back({x, std::move(label), color});
  return *this;
}

// ---- rendering ----

namespace {

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Maps data to pixels inside the plot area (origin at its top-left corner).
struct Mapper {
  Ticks x, y, y2;
  bool log_x = false;
  double w = 1, h = 1;
  double px(double v) const {
    if (log_x)
      return (std::log10(v) - std::log10(x.lo)) / (std::log10(x.hi) - std::log10(x.lo)) * w;
    return (v - x.lo) / (x.hi - x.lo) * w;
  }
  double py(double v, YAxis axis) const {
    const Ticks& t = axis == YAxis::left ? y : y2;
    return h - (v - t.lo) / (t.hi - t.lo) * h;
  }
  bool usable(double xv, double yv) const {
    return std::isfinite(xv) && std::isfinite(yv) && (!log_x || xv > 0);
  }
};

std::string text_el(double x, double y, const std::string& text, const std::string& attrs) {
  return "<text x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" " + attrs + ">" + xml_escape(text) +
         "</text>\n";
}

std::string line_el(double x1, double y1, double x2, double y2, const std::string& attrs) {
  return "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) + "\" y2=\"" +
         coord(y2) + "\" " + attrs + "/>\n";
}

}  // namespace

std::string Plot::to_svg(int width, int height) const {
  if (width < 120 || height < 100) {
    throw Error("Plot::to_svg: size " + std::to_string(width) + "x" + std::to_string(height) +
                " is too small (at least 120x100)");
  }
  const bool log_x = x_scale_ == Scale::log10;
  bool has_right = false;
  for (const auto& s : series_) has_right = has_right || s.axis == YAxis::right;

  // Data ranges.
  Range rx, ry, ry2;
  for (const auto& s : series_) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (log_x && s.x[i] <= 0)) continue;
      rx.add(s.x[i]);
      (s.axis == YAxis::left ? ry : ry2).add(s.y[i]);
    }
  }
  for (const auto& v : vlines_) {
    if (std::isfinite(v.x) && (!log_x || v.x > 0)) rx.add(v.x);
  }
  if (x_range_) rx = {x_range_->first, x_range_->second};
  if (y_range_) ry = {y_range_->first, y_range_->second};
  if (y2_range_) ry2 = {y2_range_->first, y2_range_->second};
  if (rx.empty()) rx = log_x ? Range{1, 10} : Range{0, 1};
  if (ry.empty()) ry = {0, 1};
  if (ry2.empty()) ry2 = {0, 1};

  // Layout.
  const double top = title_.empty() ? 14 : 38;
  const double bottom = x_label_.empty() ? 30 : 50;
  const double left = y_label_.empty() ? 54 : 70;
  const double right = has_right ? (y2_label_.empty() ? 54 : 70) : 20;
  Mapper m;
  m.log_x = log_x;
  m.w = std::max(10.0, width - left - right);
  m.h = std::max(10.0, height - top - bottom);
  const int xtarget = std::clamp(static_cast<int>(m.w / 80), 3, 10);
  const int ytarget = std::clamp(static_cast<int>(m.h / 50), 3, 10);
  m.x = log_x ? log10_ticks(rx.lo, rx.hi) : nice_ticks(rx.lo, rx.hi, xtarget);
  m.y = nice_ticks(ry.lo, ry.hi, ytarget);
  m.y2 = nice_ticks(ry2.lo, ry2.hi, ytarget);
  // A linear x axis spans the data exactly (a line plot should not end in empty space), with a
  // small margin when points are drawn, so that none is cut at the edge; the y axes widen to the
  // ticks around the data.
  if (!log_x && rx.hi > rx.lo) {
    bool has_points = false;
    for (const auto& s : series_) has_points = has_points || s.kind == Series::Kind::points;
    const double margin = has_points && !x_range_ ? 0.025 * (rx.hi - rx.lo) : 0.0;
    m.x.lo = rx.lo - margin;
    m.x.hi = rx.hi + margin;
  }

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height
    << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\" "
       "role=\"img\">\n";
  if (!title_.empty()) o << "<title>" << xml_escape(title_) << "</title>\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  if (!title_.empty()) {
    o << text_el(width / 2.0, 24, title_,
                 "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\"");
  }
  o << "<g transform=\"translate(" << coord(left) << "," << coord(top) << ")\">\n";

  // Grid, ticks and tick labels.
  const std::string tick_attr = "stroke=\"#444\" stroke-width=\"1\"";
  const std::string label_attr = "fill=\"#333\" font-size=\"11\"";
  auto inside = [](double p, double extent) { return p >= -0.5 && p <= extent + 0.5; };
  for (double v : m.x.minor) {
    const double p = m.px(v);
    if (inside(p, m.w)) o << line_el(p, 0, p, m.h, "stroke=\"#f0f0f0\" stroke-width=\"1\"");
  }
  for (std::size_t i = 0; i < m.x.ticks.size(); ++i) {
    const double p = m.px(m.x.ticks[i]);
    if (!inside(p, m.w)) continue;
    o << line_el(p, 0, p, m.h, "stroke=\"#e3e3e3\" stroke-width=\"1\"");
    o << line_el(p, m.h, p, m.h + 5, tick_attr);
    o << text_el(p, m.h + 18, m.x.labels[i], "text-anchor=\"middle\" " + label_attr);
  }
  for (std::size_t i = 0; i < m.y.ticks.size(); ++i) {
    const double p = m.py(m.y.ticks[i], YAxis::left);
    if (!inside(p, m.h)) continue;
    o << line_el(0, p, m.w, p, "stroke=\"#e3e3e3\" stroke-width=\"1\"");
    o << line_el(-5, p, 0, p, tick_attr);
    o << text_el(-8, p + 4, m.y.labels[i], "text-anchor=\"end\" " + label_attr);
  }
  if (has_right) {
    for (std::size_t i = 0; i < m.y2.ticks.size(); ++i) {
      const double p = m.py(m.y2.ticks[i], YAxis::right);
      if (!inside(p, m.h)) continue;
      o << line_el(m.w, p, m.w + 5, p, tick_attr);
      o << text_el(m.w + 8, p + 4, m.y2.labels[i], "text-anchor=\"start\" " + label_attr);
    }
  }
  // Axis labels.
  if (!x_label_.empty()) {
    o << text_el(m.w / 2, m.h + 40, x_label_, "text-anchor=\"middle\" fill=\"#222\"");
  }
  if (!y_label_.empty()) {
    o << "<text transform=\"translate(" << coord(-left + 16) << "," << coord(m.h / 2)
      << ") rotate(-90)\" text-anchor=\"middle\" fill=\"#222\">" << xml_escape(y_label_)
      << "</text>\n";
  }
  if (has_right && !y2_label_.empty()) {
    o << "<text transform=\"translate(" << coord(m.w + right - 10) << "," << coord(m.h / 2)
      << ") rotate(90)\" text-anchor=\"middle\" fill=\"#222\">" << xml_escape(y2_label_)
      << "</text>\n";
  }

  // The data, clipped to the plot area by a nested viewport (no ids, so several plots can be
  // inlined in one page).
  o << "<svg x=\"0\" y=\"0\" width=\"" << coord(m.w) << "\" height=\"" << coord(m.h)
    << "\" overflow=\"hidden\">\n";
  std::vector<std::string> colors;
  std::size_t next_color = 0;
  for (const auto& s : series_) {
    const Color c = s.color ? *s.color : palette_color(next_color++);
    colors.push_back(c.hex());
    if (s.kind == Series::Kind::line) {
      std::string d;
      bool pen_down = false;
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!m.usable(s.x[i], s.y[i])) {
          pen_down = false;
          continue;
        }
        d += (pen_down ? "L" : "M") + coord(m.px(s.x[i])) + " " + coord(m.py(s.y[i], s.axis));
        pen_down = true;
      }
      if (d.empty()) continue;
      o << "<path d=\"" << d << "\" fill=\"none\" stroke=\"" << colors.back()
        << "\" stroke-width=\"" << coord(s.width) << "\" stroke-linejoin=\"round\""
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
    } else {
      o << "<g fill=\"" << colors.back() << "\">";
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!m.usable(s.x[i], s.y[i])) continue;
        o << "<circle cx=\"" << coord(m.px(s.x[i])) << "\" cy=\"" << coord(m.py(s.y[i], s.axis))
          << "\" r=\"" << coord(s.width) << "\"/>";
      }
      o << "</g>\n";
    }
  }
  for (const auto& v : vlines_) {
    if (!std::isfinite(v.x) || (log_x && v.x <= 0)) continue;
    const double p = m.px(v.x);
    o << line_el(p, 0, p, m.h,
                 "stroke=\"" + v.color.hex() + "\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"");
  }
  o << "</svg>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << coord(m.w) << "\" height=\"" << coord(m.h)
    << "\" fill=\"none\" stroke=\"#444\" stroke-width=\"1\"/>\n";

  // The legend, in the corner of the plot area that hides the fewest data points.
  struct Entry {
    std::string name, color;
    bool points, dashed;
  };
  std::vector<Entry> entries;
  for (std::size_t i = 0; i < series_.size(); ++i) {
    if (series_[i].name.empty()) continue;
    entries.push_back(
        {series_[i].name, colors[i], series_[i].kind == Series::Kind::points, series_[i].dashed});
  }
  for (const auto& v : vlines_) {
    if (!v.label.empty()) entries.push_back({v.label, v.color.hex(), false, true});
  }
  if (!entries.empty()) {
    std::size_t longest = 0;
    for (const auto& e : entries) longest = std::max(longest, detail::utf8_length(e.name));
    const double row = 18;
    const double bw = 36 + 6.8 * static_cast<double>(longest) + 10;
    const double bh = row * static_cast<double>(entries.size()) + 8;
    const double pad = 8;
    const std::array<std::pair<double, double>, 4> corners = {{{m.w - bw - pad, pad},
                                                               {pad, pad},
                                                               {m.w - bw - pad, m.h - bh - pad},
                                                               {pad, m.h - bh - pad}}};
    std::size_t best = 0, best_hidden = std::numeric_limits<std::size_t>::max();
    for (std::size_t c = 0; c < corners.size(); ++c) {
      const auto [cx, cy] = corners[c];
      std::size_t hidden = 0;
      for (const auto& s : series_) {
        for (std::size_t i = 0; i < s.x.size(); ++i) {
          if (!m.usable(s.x[i], s.y[i])) continue;
          const double px = m.px(s.x[i]), py = m.py(s.y[i], s.axis);
          hidden += px >= cx && px <= cx + bw && py >= cy && py <= cy + bh;
        }
      }
      if (hidden < best_hidden) best = c, best_hidden = hidden;
    }
    const auto [lx, ly] = corners[best];
    o << "<g transform=\"translate(" << coord(lx) << "," << coord(ly) << ")\">\n";
    o << "<rect width=\"" << coord(bw) << "\" height=\"" << coord(bh)
      << "\" fill=\"#ffffff\" fill-opacity=\"0.88\" stroke=\"#bbb\" rx=\"3\"/>\n";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      const double y = 4 + row * static_cast<double>(i) + row / 2;
      if (e.points) {
        o << "<circle cx=\"18\" cy=\"" << coord(y) << "\" r=\"3.5\" fill=\"" << e.color << "\"/>\n";
      } else {
        o << line_el(6, y, 30, y,
                     "stroke=\"" + e.color + "\" stroke-width=\"2\"" +
                         (e.dashed ? " stroke-dasharray=\"5 3\"" : ""));
      }
      o << text_el(36, y + 4, e.name, "fill=\"#222\"");
    }
    o << "</g>\n";
  }
  o << "</g>\n</svg>\n";
  return o.str();
}

void Plot::save(const std::string& path, int width, int height) const {
  detail::write_file_atomic(path, to_svg(width, height), "Plot::save");
}

}  // namespace ember::viz
