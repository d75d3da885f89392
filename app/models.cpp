#include "models.hpp"

namespace ember_app {

using namespace ember;

const char* const kModelNames = "linear, simple_net, mlp, cnn, resnet";

namespace {

using Layers = std::initializer_list<std::shared_ptr<nn::Module>>;

// 3x3 convolution keeping the image size (padding 1).
std::shared_ptr<nn::Conv2d> conv3x3(std::int64_t in, std::int64_t out, Generator& gen, bool bias) {
  return std::make_shared<nn::Conv2d>(in, out, nn::Pair{3, 3}, gen, nn::Pair{1, 1}, nn::Pair{1, 1},
                                      nn::Pair{1, 1}, 1, bias);
}

// The issue-6 CNN: conv(1->16, 3x3, pad 1)-ReLU-maxpool2-conv(16->32, 3x3, pad 1)-ReLU-maxpool2-
// Flatten-Linear(32*(H/4)*(W/4) -> out). x: [B, 1, H, W] -> [B, out]; 1568 inputs to the Linear
// for 28x28 images. About 2.1 MFLOP per 28x28 image forward.
std::shared_ptr<nn::Module> make_cnn(std::int64_t height, std::int64_t width, std::int64_t out,
                                     Generator& gen) {
  const std::int64_t flat = 32 * (height / 4) * (width / 4);
  return std::make_shared<nn::Sequential>(
      Layers{conv3x3(1, 16, gen, true), std::make_shared<nn::ReLU>(), nn::make_max_pool2d({2, 2}),
             conv3x3(16, 32, gen, true), std::make_shared<nn::ReLU>(), nn::make_max_pool2d({2, 2}),
             std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(flat, out, gen)});
}

// A small residual network with batch norm, sized for full MNIST on a 2-core CPU (about 5 MFLOP
// per 28x28 image forward, 2.5 times the cnn; wider versions did not fit 10 minutes here):
//   stem: conv(1->16, 3x3, no bias) - BN - ReLU - maxpool2   [B, 16, H/2, W/2]
//   ResBlock(16 -> 16)                                        [B, 16, H/2, W/2]
//   ResBlock(16 -> 32, stride 2)                              [B, 32, H/4, W/4]
//   ResBlock(32 -> 32)                                        [B, 32, H/4, W/4]
//   AdaptiveAvgPool2d(1) - Flatten - Linear(32 -> out)        [B, out]
std::shared_ptr<nn::Module> make_resnet(std::int64_t out, Generator& gen) {
  return std::make_shared<nn::Sequential>(
      Layers{conv3x3(1, 16, gen, false), nn::make_batch_norm2d(16), std::make_shared<nn::ReLU>(),
             nn::make_max_pool2d({2, 2}), nn::make_res_block(16, 16, gen),
             nn::make_res_block(16, 32, gen, 2), nn::make_res_block(32, 32, gen),
             std::make_shared<nn::AdaptiveAvgPool2d>(nn::Pair{1, 1}),
             std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(32, out, gen)});
}

}  // namespace

ModelSpec make_model(const std::string& name, std::int64_t height, std::int64_t width,
                     std::int64_t num_classes, Generator& gen) {
  ModelSpec spec;
  spec.binary = num_classes == 2;
  const std::int64_t in = height * width;
  const std::int64_t out = spec.binary ? 1 : num_classes;
  if (name == "linear") {
    spec.model =
        std::make_shared<nn::Sequential>(Layers{std::make_shared<nn::Linear>(in, out, gen)});
  } else if (name == "simple_net") {
    spec.model = std::make_shared<nn::Sequential>(
        Layers{std::make_shared<nn::Linear>(in, 30, gen), std::make_shared<nn::ReLU>(),
               std::make_shared<nn::Linear>(30, out, gen)});
  } else if (name == "mlp") {
    spec.model = std::make_shared<nn::Sequential>(
        Layers{std::make_shared<nn::Linear>(in, 128, gen), std::make_shared<nn::ReLU>(),
               std::make_shared<nn::Linear>(128, out, gen)});
  } else if (name == "cnn" || name == "resnet") {
    if (height < 4 || width < 4) {
      throw Error("model '" + name + "' needs images of at least 4x4, got " +
                  std::to_string(height) + "x" + std::to_string(width));
    }
    spec.layout = data::Layout::image;
    spec.model = name == "cnn" ? make_cnn(height, width, out, gen) : make_resnet(out, gen);
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

const char* metric_name(const ModelSpec& spec) {
  return spec.binary ? "batch_accuracy" : "accuracy";
}

}  // namespace ember_app
