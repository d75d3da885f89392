#pragma once
// The layers of convolutional networks, with PyTorch's parameter and buffer names and default
// initialisation, so weights move between ember and PyTorch through safetensors: Conv2d, the
// pooling layers, BatchNorm2d, Dropout, and ResBlock (torchvision's BasicBlock).
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "ember/core/random.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

using Pair = std::array<std::int64_t, 2>;

// y = conv2d(x, weight, bias, ...). weight: [out, in/groups, kh, kw], bias: [out].
// PyTorch's default initialisation: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// fan_in = in/groups * kh * kw.
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Pair kernel_size, Generator& gen,
         Pair stride = {1, 1}, Pair padding = {0, 0}, Pair dilation = {1, 1},
         std::int64_t groups = 1, bool bias = true, DType dtype = DType::f32);
  // x: [N, in, H, W] -> [N, out, Ho, Wo]
  Tensor forward(const Tensor& x) override;
  // max_pool2d(forward(x), {2, 2}), with relu() between the two when with_relu, through the
  // fused conv2d_max_pool2x2 where it applies (stride and dilation 1, one group): the same values
  // and input and weight gradients (the bias gradient within rounding). Sequential calls it for a
  // Conv2d followed by a 2x2 MaxPool2d, with or without a ReLU between them.
  Tensor forward_max_pool2x2(const Tensor& x, bool with_relu = false);
  std::string repr() const override;
  std::string type_name() const override { return "Conv2d"; }

  Tensor weight;  // [out, in/groups, kh, kw]
  Tensor bias;    // [out], undefined without bias

 private:
  std::int64_t in_, out_, groups_;
  Pair kernel_, stride_, padding_, dilation_;
};

// x: [N, C, H, W] -> [N, C, Ho, Wo]; stride {0, 0} means the kernel size (PyTorch's default).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Pair kernel_size, Pair stride = {0, 0}, Pair padding = {0, 0})
      : kernel_(kernel_size), stride_(stride), padding_(padding) {}
  Tensor forward(const Tensor& x) override;
  std::string repr() const override;
  std::string type_name() const override { return "MaxPool2d"; }
  // 2x2 windows, stride 2, no padding (the pooling conv2d_max_pool2x2 fuses)
  bool is_2x2() const;

 private:
  Pair kernel_, stride_, padding_;
};

// x: [N, C, H, W] -> [N, C, Ho, Wo]; the zero padding counts in the average (PyTorch's default).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Pair kernel_size, Pair stride = {0, 0}, Pair padding = {0, 0})
      : kernel_(kernel_size), stride_(stride), padding_(padding) {}
  Tensor forward(const Tensor& x) override;
  std::string repr() const override;
  std::string type_name() const override { return "AvgPool2d"; }

 private:
  Pair kernel_, stride_, padding_;
};

// x: [N, C, H, W] -> [N, C, output_size[0], output_size[1]]
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Pair output_size) : output_size_(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string repr() const override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }

 private:
  Pair output_size_;
};

// Batch normalisation over N, H and W per channel. Parameters weight (ones) and bias (zeros)
// when affine; buffers running_mean (zeros), running_var (ones) and num_batches_tracked (i64,
// counts training batches) when track_running_stats. Training normalises by the batch's
// statistics and updates the running ones; eval uses the running ones.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true,
                       DType dtype = DType::f32);
  // x: [N, C, H, W] -> [N, C, H, W]
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as the fused ember::batch_norm_relu (what Sequential runs for a BatchNorm2d
  // followed by a ReLU, and ResBlock after its first convolution): the same values, gradients
  // and running statistics. x: [N, C, H, W] -> [N, C, H, W]
  Tensor forward_relu(const Tensor& x);
  std::string repr() const override;
  std::string type_name() const override { return "BatchNorm2d"; }

  Tensor weight, bias;                                    // [C], undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked;  // [C], [C], [] (i64)

 private:
  Tensor run(const Tensor& x, bool with_relu);
  std::int64_t num_features_;
  double eps_, momentum_;
};

// Inverted dropout in training (zero with probability p, scale the rest by 1/(1-p)); the
// identity in eval. Draws its own seed from `gen` once, so a seeded model is repeatable.
class Dropout : public Module {
 public:
  explicit Dropout(double p, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string repr() const override;
  std::string type_name() const override { return "Dropout"; }

 private:
  double p_;
  Generator gen_;
};

// torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both convs 3x3
// without bias (conv1 with `stride`), and the shortcut the identity or, when the stride or the
// channel count changes, downsample = Sequential(Conv2d 1x1 with stride, no bias; BatchNorm2d).
// Names: conv1, bn1, conv2, bn2, downsample.0, downsample.1.
class ResBlock : public Module {
 public:
  ResBlock(std::int64_t in_channels, std::int64_t out_channels, Generator& gen,
           std::int64_t stride = 1, DType dtype = DType::f32);
  // x: [N, in, H, W] -> [N, out, H/stride, W/stride] (sizes rounded up)
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ResBlock"; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<Module> downsample_;  // null for the identity
};

// ---- factories ----
std::shared_ptr<Conv2d> make_conv2d(std::int64_t in_channels, std::int64_t out_channels,
                                    Pair kernel_size, Generator& gen, Pair stride = {1, 1},
                                    Pair padding = {0, 0});
std::shared_ptr<MaxPool2d> make_max_pool2d(Pair kernel_size, Pair stride = {0, 0});
std::shared_ptr<BatchNorm2d> make_batch_norm2d(std::int64_t num_features);
std::shared_ptr<ResBlock> make_res_block(std::int64_t in_channels, std::int64_t out_channels,
                                         Generator& gen, std::int64_t stride = 1);

}  // namespace ember::nn
