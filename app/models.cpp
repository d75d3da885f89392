#include "models.hpp"

namespace ember_app {

using namespace ember;

const char* const kModelNames = "linear, simple_net, mlp";

ModelSpec make_model(const std::string& name, std::int64_t height, std::int64_t width,
                     std::int64_t num_classes, Generator& gen) {
  ModelSpec spec;
  spec.binary = num_classes == 2;
  const std::int64_t in = height * width;
  const std::int64_t out = spec.binary ? 1 : num_classes;
  using Layers = std::initializer_list<std::shared_ptr<nn::Module>>;
  if (name == "linear") {
    spec.model = std::make_shared<nn::Sequential>(Layers{std::make_shared<nn::Linear>(in, out, gen)});
  } else if (name == "simple_net") {
    spec.model = std::make_shared<nn::Sequential>(Layers{std::make_shared<nn::Linear>(in, 30, gen),
                                                         std::make_shared<nn::ReLU>(),
                                                         std::make_shared<nn::Linear>(30, out, gen)});
  } else if (name == "mlp") {
    spec.model = std::make_shared<nn::Sequential>(Layers{std::make_shared<nn::Linear>(in, 128, gen),
                                                         std::make_shared<nn::ReLU>(),
                                                         std::make_shared<nn::Linear>(128, out, gen)});
  } else {
    throw Error("unknown model '" + name + "' (choose from " + kModelNames + ")");
  }
  return spec;
}

Learner::LossFn loss_for(const ModelSpec& spec) {
  if (spec.binary) return nn::binary_cross_entropy_with_logits;
  return nn::cross_entropy;
}

Learner::MetricFn metric_for(const ModelSpec& spec) {
  if (spec.binary) return nn::batch_accuracy;
  return nn::accuracy;
}

const char* metric_name(const ModelSpec& spec) { return spec.binary ? "batch_accuracy" : "accuracy"; }

}  // namespace ember_app
