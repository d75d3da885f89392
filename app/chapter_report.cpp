// The chapter as one self-contained HTML page: each stage's numbers, figures and pictures.
#include "chapter_report.hpp"

#include <cstdio>

namespace ember_app {

using namespace ember;

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
}  // namespace

std::string write_chapter_report(const std::string& dir, const ChapterFigures& fig,
                                 const std::vector<StageResult>& results) {
  viz::Report r;
  r.title("MNIST basics, run natively by ember");
  r.paragraph(
      "fast.ai's chapter 4 on the real 3s and 7s of MNIST (6131 + 6265 training images, "
      "1010 + 1028 validation images), every number below computed by this run.");

  r.heading("1. Pixels and the ideal digits");
  if (fig.sample3.defined()) {
    r.pixel_table(fig.sample3, 4, 15, 4, 22,
                  "a 3, rows 4-14 and columns 4-21, shaded by value "
                  "(the notebook's df.style.background_gradient)");
  }
  if (fig.mean3.defined()) {
    r.images({fig.sample3, fig.mean3, fig.mean7},
             {"a 3", "mean3: the ideal 3", "mean7: the ideal 7"}, 3);
  }
  r.paragraph("Pixel similarity on the validation set: " + fig.baseline +
              " (the chapter: 0.9168, 0.9854, 0.9511).");

  r.heading("2. Gradients and stochastic gradient descent");
  r.svg(viz::sigmoid_plot().to_svg(), "the sigmoid squashes any number into (0, 1)");
  if (fig.time.defined() && !fig.quadratic_steps.empty()) {
    r.svg(viz::quadratic_fit_plot(fig.time, fig.speed, fig.quadratic_steps).to_svg(),
          "the roller coaster: a quadratic fitted by 10 SGD steps");
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < fig.quadratic_losses.size(); ++i)
      rows.push_back({std::to_string(i), fmt("%.2f", fig.quadratic_losses[i])});
    r.table({"step", "mse loss"}, rows);
  }

  r.heading("3. A linear model trained by hand");
  if (fig.linear_weights.defined()) {
    r.svg(viz::weight_heatmap_svg(fig.linear_weights, 28, 28, "what the linear model learned"),
          "the 784 weights as a 28x28 picture: red pushes towards 3, blue towards 7");
  }
  if (!fig.linear_accuracies.empty()) {
    std::vector<double> epochs;
    for (std::size_t i = 0; i < fig.linear_accuracies.size(); ++i)
      epochs.push_back(static_cast<double>(i));
    viz::Plot p;
    p.title("linear model: validation accuracy per epoch").x_label("epoch").y_label("accuracy");
    p.line("validation accuracy", epochs, fig.linear_accuracies);
    r.svg(p.to_svg());
  }

  for (const auto& s : results) {
    if (s.name != "linear_module") continue;
    r.heading("4. nn::Linear, the chapter's BasicOptim, optim::SGD and the Learner");
    r.paragraph(
        "The same linear model built from library pieces, validation accuracy: " + s.summary + ".");
  }

  if (!fig.simple_net.epochs.empty()) {
    r.heading("5. simple_net: Linear, ReLU, Linear");
    r.svg(viz::loss_accuracy_plot(fig.simple_net).to_svg(),
          "simple_net trained by the Learner, 40 epochs at lr 0.1");
  }
  if (!fig.cnn.epochs.empty()) {
    r.heading("6. Going deeper: a convolutional network");
    r.svg(viz::loss_accuracy_plot(fig.cnn).to_svg(), "a small CNN, one-cycle schedule");
  }

  r.heading("Results");
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : results) rows.push_back({s.name, s.summary, fmt("%.2f", s.seconds)});
  r.table({"stage", "result", "seconds"}, rows);
  return r.save(dir);
}

}  // namespace ember_app
