#pragma once
// The chapter's figures: training curves, the sigmoid, the quadratic fitted step by step, the
// learning-rate finder, and the heat map of what the linear model learned.
#include <string>
#include <vector>

#include "ember/core/tensor.hpp"
#include "ember/viz/plot.hpp"

namespace ember::viz {

// What a training run records per epoch, as plain numbers (the Learner fills it in).
struct TrainingHistory {
  std::vector<double> epochs;      // 0, 1, 2... (or 1-based; plotted as given)
  std::vector<double> train_loss;  // may be empty
  std::vector<double> valid_loss;  // may be empty
  std::vector<double> metric;      // may be empty; drawn on a right-hand axis
  std::string metric_name = "accuracy";
};

// Train and valid loss against the epoch (left axis) and the metric (right axis). Each non-empty
// vector must have one value per epoch.
Plot loss_accuracy_plot(const TrainingHistory& history);
Plot loss_accuracy_plot(const std::vector<double>& epochs, const std::vector<double>& train_loss,
                        const std::vector<double>& valid_loss, const std::vector<double>& metric,
                        const std::string& metric_name = "accuracy");

// sigmoid(x) = 1 / (1 + exp(-x)) over [-4, 4].
Plot sigmoid_plot();

// The chapter's roller-coaster: the measured speeds as points, and one curve per SGD step.
// t, speed: [N] values; predictions[k]: the model's N predictions after step k.
// The y axis fits the data, not wild early predictions (which are clipped).
Plot quadratic_fit_plot(const std::vector<double>& t, const std::vector<double>& speed,
                        const std::vector<std::vector<double>>& predictions);
// The same, from tensors: t, speed: [N]; each prediction: [N].
Plot quadratic_fit_plot(const Tensor& t, const Tensor& speed,
                        const std::vector<Tensor>& predictions);

// The learning-rate finder: loss against learning rate on a log10 x axis, with a marker at the
// suggested rate (skipped when suggested <= 0).
Plot lr_find_plot(const std::vector<double>& lrs, const std::vector<double>& losses,
                  double suggested);

// A heat map of a weight vector (w: rows*cols values, any shape; [784] or [784, 1] for MNIST's
// linear model) reshaped to [rows, cols], with a diverging blue-white-red colour map symmetric
// around 0 and a colour bar. `cell` is the size of one value in pixels.
std::string weight_heatmap_svg(const Tensor& w, int rows = 28, int cols = 28,
                               const std::string& title = "", int cell = 12);

// The diverging map: t in [-1, 1] -> blue (-1), white (0), red (+1); NaN -> grey.
Color diverging_color(double t);

}  // namespace ember::viz
