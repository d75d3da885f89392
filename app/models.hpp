#pragma once
// The models the ember command trains by name, and how each is fed and scored.
#include <memory>
#include <string>

#include "ember/ember.hpp"

namespace ember_app {

struct ModelSpec {
  std::shared_ptr<ember::nn::Module> model;
  bool binary = false;  // one logit (two classes) or one per class
  ember::data::Layout layout = ember::data::Layout::flat;
};

// "linear", "simple_net", "mlp", "cnn", "resnet"; input images height x width; num_classes >= 2.
// Throws ember::Error naming the model when it is unknown.
ModelSpec make_model(const std::string& name, std::int64_t height, std::int64_t width,
                     std::int64_t num_classes, ember::Generator& gen);

// The loss and metric that go with the model's output: BCE-with-logits + batch_accuracy for one
// logit, cross-entropy + accuracy for several.
ember::Learner::LossFn loss_for(const ModelSpec& spec);
ember::Learner::MetricFn metric_for(const ModelSpec& spec);
const char* metric_name(const ModelSpec& spec);

extern const char* const kModelNames;  // for --help

}  // namespace ember_app
