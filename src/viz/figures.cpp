// The chapter's figures.
#include "ember/viz/figures.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "ember/core/error.hpp"
#include "viz/viz_util.hpp"

namespace ember::viz {

using detail::coord;

Plot loss_accuracy_plot(const TrainingHistory& h) {
  const std::size_t n = h.epochs.size();
  auto check = [&](const std::vector<double>& v, const char* name) {
    if (!v.empty() && v.size() != n) {
      throw Error(std::string("loss_accuracy_plot: ") + name + " has " + std::to_string(v.size()) +
                  " values for " + std::to_string(n) + " epochs");
    }
  };
  check(h.train_loss, "train_loss");
  check(h.valid_loss, "valid_loss");
  check(h.metric, "metric");
  Plot p;
  p.title(h.metric.empty() ? "Loss per epoch" : "Loss and " + h.metric_name + " per epoch")
      .x_label("epoch")
      .y_label("loss");
  if (!h.train_loss.empty()) p.line("train loss", h.epochs, h.train_loss, palette_color(0));
  if (!h.valid_loss.empty()) p.line("valid loss", h.epochs, h.valid_loss, palette_color(1));
  if (!h.metric.empty()) {
    Series s;
    s.name = h.metric_name;
    s.x = h.epochs;
    s.y = h.metric;
    s.color = palette_color(2);
    s.axis = YAxis::right;
    p.add(s);
    s.name.clear();
    s.kind = Series::Kind::points;
    s.width = 3;
    p.add(std::move(s));
    p.y2_label(h.metric_name);
    // Accuracy-like metrics read best on their whole scale.
    const auto [lo, hi] = std::minmax_element(h.metric.begin(), h.metric.end());
    if (*lo >= 0 && *hi <= 1) p.y2_range(std::min(*lo, 0.0), 1.0);
  }
  return p;
}

Plot loss_accuracy_plot(const std::vector<double>& epochs, const std::vector<double>& train_loss,
                        const std::vector<double>& valid_loss, const std::vector<double>& metric,
                        const std::string& metric_name) {
  return loss_accuracy_plot(TrainingHistory{epochs, train_loss, valid_loss, metric, metric_name});
}

Plot sigmoid_plot() {
  std::vector<double> x, y;
  for (int i = 0; i <= 160; ++i) {
    const double v = -4.0 + 8.0 * i / 160.0;
    x.push_back(v);
    y.push_back(1.0 / (1.0 + std::exp(-v)));
  }
  Plot p;
  p.title("Sigmoid").x_label("x").y_label("sigmoid(x)").x_range(-4, 4).y_range(0, 1);
  p.line("", std::move(x), std::move(y), palette_color(0));
  return p;
}

Plot quadratic_fit_plot(const std::vector<double>& t, const std::vector<double>& speed,
                        const std::vector<std::vector<double>>& predictions) {
  if (t.size() != speed.size()) {
    throw Error("quadratic_fit_plot: " + std::to_string(t.size()) + " times but " +
                std::to_string(speed.size()) + " speeds");
  }
  for (std::size_t k = 0; k < predictions.size(); ++k) {
    if (predictions[k].size() != t.size()) {
      throw Error("quadratic_fit_plot: step " + std::to_string(k) + " has " +
                  std::to_string(predictions[k].size()) + " predictions for " +
                  std::to_string(t.size()) + " times");
    }
  }
  Plot p;
  p.title("Fitting a quadratic with SGD").x_label("time").y_label("speed");
  // Keep the axis on the data: early predictions can be far off, and are clipped.
  if (!speed.empty()) {
    const auto [lo, hi] = std::minmax_element(speed.begin(), speed.end());
    const double margin = std::max(1e-9, (*hi - *lo) * 0.35);
    p.y_range(*lo - margin, *hi + margin);
  }
  // The curves are drawn in the order of t.
  std::vector<std::size_t> order(t.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t[a] < t[b]; });
  std::vector<double> ts;
  for (std::size_t i : order) ts.push_back(t[i]);
  const std::size_t steps = predictions.size();
  for (std::size_t k = 0; k < steps; ++k) {
    std::vector<double> ys;
    for (std::size_t i : order) ys.push_back(predictions[k][i]);
    // From light to dark red as the steps go on; the first and last are named in the legend.
    const double f = steps > 1 ? static_cast<double>(k) / static_cast<double>(steps - 1) : 1.0;
    const Color c{static_cast<std::uint8_t>(std::lround(250 - 60 * f)),
                  static_cast<std::uint8_t>(std::lround(190 - 170 * f)),
                  static_cast<std::uint8_t>(std::lround(170 - 140 * f))};
    std::string name;
    if (k == 0) name = "step 1";
    if (k + 1 == steps && steps > 1) name = "step " + std::to_string(steps);
    Series s;
    s.name = name;
    s.x = ts;
    s.y = std::move(ys);
    s.color = c;
    s.width = k + 1 == steps ? 2.5 : 1.5;
    p.add(std::move(s));
  }
  p.points("measured speed", t, speed, palette_color(0));
  return p;
}

Plot quadratic_fit_plot(const Tensor& t, const Tensor& speed,
                        const std::vector<Tensor>& predictions) {
  std::vector<std::vector<double>> preds;
  for (const auto& pr : predictions) preds.push_back(detail::tensor_values(pr));
  return quadratic_fit_plot(detail::tensor_values(t), detail::tensor_values(speed), preds);
}

Plot lr_find_plot(const std::vector<double>& lrs, const std::vector<double>& losses,
                  double suggested) {
  if (lrs.size() != losses.size()) {
    throw Error("lr_find_plot: " + std::to_string(lrs.size()) + " learning rates but " +
                std::to_string(losses.size()) + " losses");
  }
  Plot p;
  p.title("Learning rate finder").x_label("learning rate (log scale)").y_label("loss").log_x();
  // The loss usually explodes at the end; keep the axis on the useful part.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : losses) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (lo <= hi && !losses.empty() && std::isfinite(losses.front())) {
    const double first = losses.front();
    const double top = std::min(hi, first + 2.0 * (first - lo) + 1e-12);
    if (top > lo) p.y_range(lo - 0.05 * (top - lo), top);
  }
  p.line("loss", lrs, losses, palette_color(0));
  if (suggested > 0 && std::isfinite(suggested)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "suggested lr %.2g", suggested);
    p.vline(suggested, buf, palette_color(3));
  }
  return p;
}

Color diverging_color(double t) {
  if (std::isnan(t)) return {0xbb, 0xbb, 0xbb};
  t = std::clamp(t, -1.0, 1.0);
  // White in the middle, to a deep blue (-1) or a deep red (+1).
  const Color end = t < 0 ? Color{0x21, 0x66, 0xac} : Color{0xb2, 0x18, 0x2b};
  const double a = std::fabs(t);
  auto mix = [&](std::uint8_t to) {
    return static_cast<std::uint8_t>(std::lround(255.0 + (to - 255.0) * a));
  };
  return {mix(end.r), mix(end.g), mix(end.b)};
}

std::string weight_heatmap_svg(const Tensor& w, int rows, int cols, const std::string& title,
                               int cell) {
  if (!w.defined()) throw Error("weight_heatmap_svg: undefined tensor");
  if (rows <= 0 || cols <= 0 || cell <= 0) throw Error("weight_heatmap_svg: bad size");
  const auto values = detail::tensor_values(w);
  if (static_cast<std::int64_t>(values.size()) != static_cast<std::int64_t>(rows) * cols) {
    throw Error("weight_heatmap_svg: " + shape_str(w.shape()) + " has " +
                std::to_string(values.size()) + " values, expected " + std::to_string(rows) + "x" +
                std::to_string(cols));
  }
  double scale = 0;
  for (double v : values) {
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  }
  if (scale == 0) scale = 1;
  const int top = title.empty() ? 10 : 34;
  const int map_w = cols * cell, map_h = rows * cell;
  const int bar_x = 10 + map_w + 16, bar_w = 14;
  const int width = bar_x + bar_w + 64, height = top + map_h + 12;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height
    << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\" "
       "role=\"img\" shape-rendering=\"crispEdges\">\n";
  if (!title.empty()) o << "<title>" << xml_escape(title) << "</title>\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  if (!title.empty()) {
    o << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" "
      << "font-weight=\"bold\" fill=\"#222\">" << xml_escape(title) << "</text>\n";
  }
  o << "<g transform=\"translate(10," << top << ")\">\n";
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double v = values[static_cast<std::size_t>(r) * cols + c];
      o << "<rect x=\"" << c * cell << "\" y=\"" << r * cell << "\" width=\"" << cell
        << "\" height=\"" << cell << "\" fill=\""
        << diverging_color(std::isfinite(v) ? v / scale : std::nan("")).hex() << "\"/>";
    }
    o << "\n";
  }
  o << "<rect width=\"" << map_w << "\" height=\"" << map_h
    << "\" fill=\"none\" stroke=\"#888\"/>\n</g>\n";
  // The colour bar: +scale at the top, -scale at the bottom.
  const int steps = 64;
  o << "<g transform=\"translate(" << bar_x << "," << top << ")\">\n";
  for (int i = 0; i < steps; ++i) {
    const double t = 1.0 - 2.0 * (i + 0.5) / steps;
    o << "<rect x=\"0\" y=\"" << coord(map_h * static_cast<double>(i) / steps) << "\" width=\""
      << bar_w << "\" height=\"" << coord(map_h / static_cast<double>(steps) + 0.5) << "\" fill=\""
      << diverging_color(t).hex() << "\"/>";
  }
  o << "\n<rect width=\"" << bar_w << "\" height=\"" << map_h
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  char buf[32];
  const double label_at[3] = {0.0, map_h / 2.0, static_cast<double>(map_h)};
  const double label_value[3] = {scale, 0.0, -scale};
  for (int i = 0; i < 3; ++i) {
    std::snprintf(buf, sizeof buf, "%.3g", label_value[i]);
    o << "<line x1=\"" << bar_w << "\" x2=\"" << bar_w + 4 << "\" y1=\"" << coord(label_at[i])
      << "\" y2=\"" << coord(label_at[i]) << "\" stroke=\"#444\"/>";
    o << "<text x=\"" << bar_w + 7 << "\" y=\"" << coord(label_at[i] + 4) << "\" fill=\"#333\">"
      << xml_escape(buf) << "</text>\n";
  }
  o << "</g>\n</svg>\n";
  return o.str();
}

}  // namespace ember::viz
