#pragma once
// Report: a single self-contained HTML page (DIR/index.html) built section by section. CSS is
// inline, images are inline data: URIs, plots are inline SVG; nothing refers to the network, so
// it opens offline in any browser.
//
//   viz::Report r;
//   r.title("Chapter 4: MNIST basics");
//   r.heading("The ideal 3");
//   r.image(mean3, "the mean of every 3");
//   r.svg(viz::sigmoid_plot().to_svg(), "the sigmoid");
//   r.save("report");  // report/index.html
//
// The page carries a small inline script that, once loaded, checks that every image decoded
// (naturalWidth > 0) and every SVG has a non-zero size, and writes "ok" or "fail: ..." into
// document.body.dataset.check (the browser test reads it).
#include <string>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::viz {

class Report {
 public:
  // The page title (the <title> and a top heading); may be called once, at any time.
  void title(std::string text);
  void heading(std::string text);     // a section heading (<h2>)
  void subheading(std::string text);  // <h3>
  void paragraph(std::string text);   // plain text, escaped
  // A table; cells that read as numbers are right-aligned. Rows may be shorter than the header.
  void table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows,
             std::string caption = "");
  // An SVG document (Plot::to_svg(), weight_heatmap_svg()) inlined, with a caption.
  void svg(std::string svg, std::string caption = "");
  // One image ([H, W] u8 or floats in [0, 1], or [H, W, C]) drawn `scale` times its size.
  void image(const Tensor& img, std::string caption = "", int scale = 4);
  // A grid of images with captions (see image_grid_html).
  void images(const std::vector<Tensor>& imgs, const std::vector<std::string>& captions, int cols,
              int scale = 3, std::string caption = "");
  // Rows [r0, r1) and columns [c0, c1) of an image as numbers on cells shaded by value (the
  // chapter's df.style.background_gradient view).
  void pixel_table(const Tensor& img, int r0, int r1, int c0, int c1, std::string caption = "");
  void pre(std::string text);  // monospace, as is (escaped)
  // Raw HTML, inserted as given (the caller escapes it).
  void html(std::string fragment);

  // The whole page.
  std::string to_html() const;
  // Writes DIR/index.html (creating DIR) under a temporary name, then renames; returns its path.
  std::string save(const std::string& dir) const;

 private:
  std::string title_;
  std::vector<std::string> body_;
};

}  // namespace ember::viz
