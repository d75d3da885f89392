// Report: one self-contained HTML page.
#include "ember/viz/report.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ember/core/error.hpp"
#include "ember/viz/image.hpp"
#include "ember/viz/plot.hpp"
#include "viz/viz_util.hpp"

namespace ember::viz {

namespace {

constexpr const char* kStyle = R"(
:root { color-scheme: light; }
body { margin: 0; background: #f4f4f2; color: #222;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 880px; margin: 0 auto; padding: 28px 36px 64px; background: #fff;
  min-height: 100vh; box-sizing: border-box; box-shadow: 0 0 0 1px #e6e6e2; }
h1 { font-size: 1.9em; margin: 0.2em 0 0.6em; }
h2 { font-size: 1.35em; margin: 1.8em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid #e4e4e4; }
h3 { font-size: 1.1em; margin: 1.4em 0 0.4em; }
p { margin: 0.6em 0; }
figure { margin: 1.1em 0; }
figcaption { color: #555; font-size: 0.86em; margin-top: 0.35em; }
svg { max-width: 100%; height: auto; display: block; }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; }
table { border-collapse: collapse; font-size: 0.92em; font-variant-numeric: tabular-nums; margin: 0.4em 0; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e6e6e6; text-align: left; }
th { border-bottom: 2px solid #bbb; font-weight: 600; }
td.num { text-align: right; }
tbody tr:nth-child(even) td { background: #fafafa; }
table.pixels { font-size: 10px; }
table.pixels th, table.pixels td { padding: 1px 3px; border: none; text-align: right; min-width: 1.9em; }
table.pixels th { color: #777; font-weight: normal; }
pre { background: #f6f6f4; border: 1px solid #e6e6e2; border-radius: 4px; padding: 10px 14px;
  overflow-x: auto; font: 13px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
.scroll { overflow-x: auto; }
footer { margin-top: 3em; color: #888; font-size: 0.8em; }
)";

// Runs once the page has loaded: every image decoded, every SVG drawn with a non-zero size, no
// script or resource errors; the result goes into <body data-check="...">.
constexpr const char* kCheckScript = R"(
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    var t = e.target && e.target.tagName ? e.target.tagName : '';
    errors.push('error ' + (e.message || t || 'unknown'));
  }, true);
  window.addEventListener('load', function () {
    var bad = errors.slice();
    var imgs = document.querySelectorAll('img');
    imgs.forEach(function (img, i) {
      if (!img.complete || img.naturalWidth === 0) bad.push('img ' + i + ' not decoded');
    });
    var svgs = Array.prototype.filter.call(document.querySelectorAll('svg'),
                                           function (s) { return !s.ownerSVGElement; });
    svgs.forEach(function (svg, i) {
      var r = svg.getBoundingClientRect();
      if (!(r.width > 0 && r.height > 0)) bad.push('svg ' + i + ' is ' + r.width + 'x' + r.height);
    });
    document.body.dataset.images = String(imgs.length);
    document.body.dataset.svgs = String(svgs.length);
    document.body.dataset.check = bad.length ? 'fail: ' + bad.join('; ') : 'ok';
  });
})();
)";

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  std::string rest(end);
  // Allow a trailing unit such as "%" or " s".
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.erase(0, 1);
  return end != s.c_str() && (rest.empty() || rest == "%" || rest == "s" || rest == "ms");
}

std::string figure(const std::string& inner, const std::string& caption) {
  std::string o = "<figure>\n" + inner;
  if (!caption.empty()) o += "<figcaption>" + xml_escape(caption) + "</figcaption>\n";
  return o + "</figure>\n";
}

}  // namespace

void Report::title(std::string text) { title_ = std::move(text); }

void Report::heading(std::string text) { body_.push_back("<h2>" + xml_escape(text) + "</h2>\n"); }

void Report::subheading(std::string text) {
  body_.push_back("<h3>" + xml_escape(text) + "</h3>\n");
}

void Report::paragraph(std::string text) { body_.push_back("<p>" + xml_escape(text) + "</p>\n"); }

void Report::table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows,
                   std::string caption) {
  std::string o = "<div class=\"scroll\"><table>\n";
  if (!caption.empty()) o += "<caption>" + xml_escape(caption) + "</caption>\n";
  if (!header.empty()) {
    o += "<thead><tr>";
    for (const auto& h : header) o += "<th>" + xml_escape(h) + "</th>";
    o += "</tr></thead>\n";
  }
  o += "<tbody>\n";
  for (const auto& row : rows) {
    o += "<tr>";
    for (std::size_t i = 0; i < std::max(row.size(), header.size()); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      o += looks_numeric(cell) ? "<td class=\"num\">" : "<td>";
      o += xml_escape(cell) + "</td>";
    }
    o += "</tr>\n";
  }
  o += "</tbody></table></div>\n";
  body_.push_back(std::move(o));
}

void Report::svg(std::string svg, std::string caption) {
  // Inline SVG in HTML needs no namespace declaration; dropping it keeps the page free of URLs.
  const std::string ns = " xmlns=\"http://www.w3.org/2000/svg\"";
  if (const auto at = svg.find(ns); at != std::string::npos) svg.erase(at, ns.size());
  body_.push_back(figure(svg, caption));
}

void Report::image(const Tensor& img, std::string caption, int scale) {
  if (!img.defined()) throw Error("Report::image: undefined tensor");
  scale = std::max(scale, 1);
  const Tensor t = img.rank() == 3 && img.size(2) > 1 ? img : to_u8_image(img);
  const std::string alt = caption.empty() ? "image" : xml_escape(caption);
  body_.push_back(figure("<img class=\"pixelated\" src=\"" + png_data_uri(t) + "\" width=\"" +
                             std::to_string(t.size(1) * scale) + "\" height=\"" +
                             std::to_string(t.size(0) * scale) + "\" alt=\"" + alt + "\">\n",
                         caption));
}

void Report::images(const std::vector<Tensor>& imgs, const std::vector<std::string>& captions,
                    int cols, int scale, std::string caption) {
  body_.push_back(figure(image_grid_html(imgs, captions, cols, scale), caption));
}

void Report::pixel_table(const Tensor& img, int r0, int r1, int c0, int c1, std::string caption) {
  const auto crop = detail::crop_pixels(img, r0, r1, c0, c1, "Report::pixel_table");
  std::string o = "<div class=\"scroll\"><table class=\"pixels\">\n<thead><tr><th></th>";
  for (int c = crop.c0; c < crop.c1; ++c) o += "<th>" + std::to_string(c) + "</th>";
  o += "</tr></thead>\n<tbody>\n";
  for (int r = crop.r0; r < crop.r1; ++r) {
    o += "<tr><th>" + std::to_string(r) + "</th>";
    for (int c = crop.c0; c < crop.c1; ++c) {
      const double v = crop.at(r, c);
      const double s = crop.shade(v);
      const int level = static_cast<int>(255.0 * (1.0 - s) + 0.5);
      char style[64];
      std::snprintf(style, sizeof style, "background:#%02x%02x%02x;color:%s", level, level, level,
                    s > 0.5 ? "#fff" : "#000");
      o += "<td style=\"" + std::string(style) + "\">" + xml_escape(crop.text(v)) + "</td>";
    }
    o += "</tr>\n";
  }
  o += "</tbody></table></div>\n";
  body_.push_back(figure(o, caption));
}

void Report::pre(std::string text) { body_.push_back("<pre>" + xml_escape(text) + "</pre>\n"); }

void Report::html(std::string fragment) { body_.push_back(std::move(fragment)); }

std::string Report::to_html() const {
  const std::string title = title_.empty() ? "ember report" : title_;
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"ember\">\n<title>" +
      xml_escape(title) + "</title>\n<style>" + kStyle + "</style>\n<script>" + kCheckScript +
      "</script>\n</head>\n<body>\n<main>\n<h1>" + xml_escape(title) + "</h1>\n";
  for (const auto& part : body_) o += part;
  o += "<footer>Written by ember. Self-contained: every image and plot is inside this "
       "file.</footer>\n";
  o += "</main>\n</body>\n</html>\n";
  return o;
}

std::string Report::save(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("Report::save: cannot create folder " + dir + ": " + ec.message());
  const std::string path = (std::filesystem::path(dir) / "index.html").string();
  detail::write_file_atomic(path, to_html(), "Report::save");
  return path;
}

}  // namespace ember::viz
