// The demonstration report. Built into test_viz (the report tests) and, with
// EMBER_VIZ_FIXTURE_MAIN defined, as the program viz_report_fixture DIR that writes
// DIR/index.html for the browser test (see tests/CTestExtra.cmake).
#include "report_fixture.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <exception>

#include "ember/viz/viz.hpp"

namespace ember::testing {

namespace {

// Seven-segment strokes (a..g) on a 28x28 canvas, as (x0, y0, x1, y1).
constexpr std::array<std::array<double, 4>, 7> kSegments = {{
    {8, 5, 20, 5},     // a: top
    {20, 5, 20, 14},   // b: upper right
    {20, 14, 20, 23},  // c: lower right
    {8, 23, 20, 23},   // d: bottom
    {8, 14, 8, 23},    // e: lower left
    {8, 5, 8, 14},     // f: upper left
    {8, 14, 20, 14},   // g: middle
}};
// Which segments each digit lights, as a bit mask over a..g.
constexpr std::array<int, 10> kDigitSegments = {0x3F, 0x06, 0x5B, 0x4F, 0x66,
                                                0x6D, 0x7D, 0x07, 0x7F, 0x6F};

double segment_distance(double px, double py, const std::array<double, 4>& s) {
  const double dx = s[2] - s[0], dy = s[3] - s[1];
  const double len2 = dx * dx + dy * dy;
  const double t = std::clamp(((px - s[0]) * dx + (py - s[1]) * dy) / len2, 0.0, 1.0);
  const double ex = px - (s[0] + t * dx), ey = py - (s[1] + t * dy);
  return std::sqrt(ex * ex + ey * ey);
}

}  // namespace

Tensor fake_digit(int digit, int variant) {
  Tensor img = zeros({28, 28}, DType::u8);
  auto* p = img.data_ptr<std::uint8_t>();
  const double slant = 0.12 * ((variant * 37) % 5 - 2);
  const double shift = (variant * 13) % 3 - 1.0;
  const double thick = 1.4 + 0.3 * (variant % 3);
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      // Slanted handwriting: shift x by the height.
      const double px = x - shift - slant * (14 - y), py = y;
      double d = 1e9;
      for (int s = 0; s < 7; ++s) {
        if (kDigitSegments[static_cast<std::size_t>(digit % 10)] >> s & 1) {
          d = std::min(d, segment_distance(px, py, kSegments[static_cast<std::size_t>(s)]));
        }
      }
      const double v = std::clamp((thick + 1.0 - d) / 1.0, 0.0, 1.0);
      p[y * 28 + x] = static_cast<std::uint8_t>(std::lround(255 * v));
    }
  }
  return img;
}

viz::Report demo_report() {
  viz::Report r;
  r.title("ember viz: test report");
  r.paragraph(
      "Every kind of section a report can hold, from made-up data. Text is escaped: "
      "<b>not bold</b> & \"quoted\".");

  r.heading("Images");
  const Tensor three = fake_digit(3, 0);
  r.image(three, "a 3, drawn four times its size");
  std::vector<Tensor> digits;
  std::vector<std::string> captions;
  for (int i = 0; i < 10; ++i) {
    digits.push_back(fake_digit(i, i));
    captions.push_back(i < 7 ? "label " + std::to_string(i)
                             : "label " + std::to_string(i) + " / pred 3 / 0.98");
  }
  r.images(digits, captions, 5, 3, "a batch, with the most-wrong images last");
  r.image(viz::image_grid(digits, 5), "the same batch as one image_grid", 2);
  r.subheading("Pixel values");
  r.pixel_table(three, 4, 15, 4, 22, "rows 4 to 14, columns 4 to 21, shaded by value");

  r.heading("Plots");
  r.svg(viz::sigmoid_plot().to_svg(), "the sigmoid");
  std::vector<double> t, speed;
  std::vector<std::vector<double>> preds(6);
  for (int i = 0; i < 20; ++i) {
    t.push_back(i);
    speed.push_back(0.75 * (i - 9.5) * (i - 9.5) + 1 + std::sin(i * 1.7) * 3);
    for (int k = 0; k < 6; ++k) {
      const double f = k / 5.0;
      preds[static_cast<std::size_t>(k)].push_back((0.2 + 0.55 * f) * (i - 9.5) * (i - 9.5) +
                                                   (1 - f) * 20 * std::sin(i * 0.3) + f);
    }
  }
  r.svg(viz::quadratic_fit_plot(t, speed, preds).to_svg(), "a quadratic fitted by SGD");
  std::vector<double> epochs, train, valid, acc;
  for (int e = 0; e < 10; ++e) {
    epochs.push_back(e);
    train.push_back(0.6 * std::exp(-e / 3.0) + 0.05);
    valid.push_back(0.55 * std::exp(-e / 3.5) + 0.08);
    acc.push_back(0.98 - 0.4 * std::exp(-e / 2.0));
  }
  r.svg(viz::loss_accuracy_plot(epochs, train, valid, acc, "accuracy").to_svg(),
        "loss and accuracy per epoch");
  std::vector<double> lrs, losses;
  for (int i = 0; i < 80; ++i) {
    lrs.push_back(1e-7 * std::pow(10.0, i * 7.0 / 79));
    losses.push_back(2.3 - 1.6 / (1 + std::exp(-(i - 45) / 5.0)) + (i > 68 ? (i - 68) * 0.35 : 0) +
                     0.03 * std::sin(i * 2.1));
  }
  r.svg(viz::lr_find_plot(lrs, losses, 3e-3).to_svg(), "the learning-rate finder");
  std::vector<float> w(784);
  const auto seven = fake_digit(7, 1).to_vector<double>();
  const auto three_v = three.to_vector<double>();
  for (std::size_t i = 0; i < 784; ++i) {
    w[i] = static_cast<float>((seven[i] - three_v[i]) / 255.0 * 0.8 + 0.1 * std::sin(i * 0.37));
  }
  r.svg(viz::weight_heatmap_svg(from_vector(w, {784}), 28, 28, "weights"),
        "what a linear model learned: red pushes towards 7, blue towards 3");

  r.heading("Numbers");
  std::vector<std::vector<std::string>> rows;
  for (std::size_t e = 0; e < epochs.size(); ++e) {
    char a[32], b[32], c[32];
    std::snprintf(a, sizeof a, "%.4f", train[e]);
    std::snprintf(b, sizeof b, "%.4f", valid[e]);
    std::snprintf(c, sizeof c, "%.4f", acc[e]);
    rows.push_back({std::to_string(e), a, b, c, "00:01"});
  }
  r.table({"epoch", "train_loss", "valid_loss", "accuracy", "time"}, rows);
  r.pre(viz::render_terminal(three, false));
  return r;
}

}  // namespace ember::testing

#ifdef EMBER_VIZ_FIXTURE_MAIN
int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR   (writes DIR/index.html)\n", argv[0]);
    return 2;
  }
  try {
    std::printf("%s\n", ember::testing::demo_report().save(argv[1]).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "viz_report_fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
#endif
