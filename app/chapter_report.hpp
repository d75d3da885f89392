#pragma once
// What the chapter keeps for its HTML report, and the writer of that report.
#include <string>
#include <vector>

#include "ember/ember.hpp"

namespace ember_app {

struct StageResult {
  std::string name;
  std::string summary;
  double seconds = 0;
};

struct ChapterFigures {
  ember::Tensor mean3, mean7, sample3;  // [28, 28] f32
  std::string baseline;
  ember::Tensor time, speed;                   // the roller coaster's data
  std::vector<ember::Tensor> quadratic_steps;  // predictions per SGD step
  std::vector<double> quadratic_losses;
  ember::Tensor linear_weights;  // [784, 1]
  std::vector<double> linear_accuracies;
  ember::viz::TrainingHistory simple_net, cnn;  // per epoch, from the Learner
};

// Writes DIR/index.html; returns its path.
std::string write_chapter_report(const std::string& dir, const ChapterFigures& figures,
                                 const std::vector<StageResult>& results);

}  // namespace ember_app
