// Conv2d, the pooling layers, BatchNorm2d, Dropout and ResBlock.
#include "ember/nn/conv.hpp"

#include <cmath>

#include "ember/nn/init.hpp"
#include "ember/nn/layers.hpp"
#include "ember/ops/conv.hpp"
#include "ember/ops/elementwise.hpp"

namespace ember::nn {

namespace {
std::string pair_str(Pair p) {
  return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}
}  // namespace

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Pair kernel_size,
               Generator& gen, Pair stride, Pair padding, Pair dilation, std::int64_t groups,
               bool has_bias, DType dtype)
    : in_(in_channels),
      out_(out_channels),
      groups_(groups),
      kernel_(kernel_size),
      stride_(stride),
      padding_(padding),
      dilation_(dilation) {
  if (in_channels <= 0 || out_channels <= 0 || kernel_size[0] <= 0 || kernel_size[1] <= 0) {
    throw Error("Conv2d: channels and kernel size must be positive, got in " +
                std::to_string(in_channels) + ", out " + std::to_string(out_channels) +
                ", kernel " + pair_str(kernel_size));
  }
  if (groups <= 0 || in_channels % groups != 0 || out_channels % groups != 0) {
    throw Error("Conv2d: groups " + std::to_string(groups) + " must divide in_channels " +
                std::to_string(in_channels) + " and out_channels " + std::to_string(out_channels));
  }
  if (!is_floating(dtype)) throw Error("Conv2d: dtype must be f32 or f64");
  // PyTorch's reset_parameters(): kaiming_uniform(a = sqrt(5)), bound 1/sqrt(fan_in), and the
  // same bound for the bias.
  Tensor w = empty({out_channels, in_channels / groups, kernel_size[0], kernel_size[1]}, dtype);
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  weight = register_parameter("weight", w);
  if (has_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in(w)));
    Tensor b = empty({out_channels}, dtype);
    init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, stride_, padding_, dilation_, groups_);
}

Tensor Conv2d::forward_max_pool2x2(const Tensor& x, bool with_relu) {
  if (stride_ == Pair{1, 1} && dilation_ == Pair{1, 1} && groups_ == 1) {
    return conv2d_max_pool2x2(x, weight, bias, padding_, with_relu);
  }
  const Tensor y = forward(x);
  return max_pool2d(with_relu ? relu(y) : y, {2, 2});
}

std::string Conv2d::repr() const {
  std::string s = "Conv2d(" + std::to_string(in_) + ", " + std::to_string(out_) +
                  ", kernel_size=" + pair_str(kernel_) + ", stride=" + pair_str(stride_);
  if (padding_ != Pair{0, 0}) s += ", padding=" + pair_str(padding_);
  if (dilation_ != Pair{1, 1}) s += ", dilation=" + pair_str(dilation_);
  if (groups_ != 1) s += ", groups=" + std::to_string(groups_);
  if (!bias.defined()) s += ", bias=false";
  return s + ")";
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_, stride_, padding_); }
bool MaxPool2d::is_2x2() const {
  return kernel_ == Pair{2, 2} && (stride_ == Pair{0, 0} || stride_ == Pair{2, 2}) &&
         padding_ == Pair{0, 0};
}
std::string MaxPool2d::repr() const {
  const Pair stride = stride_ == Pair{0, 0} ? kernel_ : stride_;
  return "MaxPool2d(kernel_size=" + pair_str(kernel_) + ", stride=" + pair_str(stride) +
         ", padding=" + pair_str(padding_) + ")";
}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel_, stride_, padding_); }
std::string AvgPool2d::repr() const {
  const Pair stride = stride_ == Pair{0, 0} ? kernel_ : stride_;
  return "AvgPool2d(kernel_size=" + pair_str(kernel_) + ", stride=" + pair_str(stride) +
         ", padding=" + pair_str(padding_) + ")";
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size_); }
std::string AdaptiveAvgPool2d::repr() const {
  return "AdaptiveAvgPool2d(output_size=" + pair_str(output_size_) + ")";
}

BatchNorm2d::BatchNorm2d(std::int64_t num_features, double eps, double momentum, bool affine,
                         bool track_running_stats, DType dtype)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  if (num_features <= 0) {
    throw Error("BatchNorm2d: num_features must be positive, got " + std::to_string(num_features));
  }
  if (!is_floating(dtype)) throw Error("BatchNorm2d: dtype must be f32 or f64");
  if (affine) {
    weight = register_parameter("weight", ones({num_features}, dtype));
    bias = register_parameter("bias", zeros({num_features}, dtype));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}, dtype));
    running_var = register_buffer("running_var", ones({num_features}, dtype));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
}

Tensor BatchNorm2d::forward(const Tensor& x) { return run(x, false); }
Tensor BatchNorm2d::forward_relu(const Tensor& x) { return run(x, true); }

Tensor BatchNorm2d::run(const Tensor& x, bool with_relu) {
  if (x.rank() != 4 || x.size(1) != num_features_) {
    throw Error("BatchNorm2d: expected input [N, " + std::to_string(num_features_) +
                ", H, W], got " + shape_str(x.shape()));
  }
  const bool training = is_training();
  if (training && num_batches_tracked.defined())
    num_batches_tracked.data_ptr<std::int64_t>()[0] += 1;
  return with_relu
             ? batch_norm_relu(x, running_mean, running_var, weight, bias, training, momentum_,
                               eps_)
             : batch_norm(x, running_mean, running_var, weight, bias, training, momentum_, eps_);
}

std::string BatchNorm2d::repr() const {
  return "BatchNorm2d(" + std::to_string(num_features_) + ", eps=" + std::to_string(eps_) +
         ", momentum=" + std::to_string(momentum_) +
         ", affine=" + (weight.defined() ? "true" : "false") +
         ", track_running_stats=" + (running_mean.defined() ? "true" : "false") + ")";
}

Dropout::Dropout(double p, Generator& gen) : p_(p), gen_(gen.next_u64()) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw Error("Dropout: probability must be in [0, 1], got " + std::to_string(p));
  }
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), gen_); }
std::string Dropout::repr() const { return "Dropout(p=" + std::to_string(p_) + ")"; }

ResBlock::ResBlock(std::int64_t in_channels, std::int64_t out_channels, Generator& gen,
                   std::int64_t stride, DType dtype) {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, Pair{3, 3},
                                                             gen, Pair{stride, stride}, Pair{1, 1},
                                                             Pair{1, 1}, 1, false, dtype));
  bn1_ = register_module("bn1",
                         std::make_shared<BatchNorm2d>(out_channels, 1e-5, 0.1, true, true, dtype));
  conv2_ = register_module(
      "conv2", std::make_shared<Conv2d>(out_channels, out_channels, Pair{3, 3}, gen, Pair{1, 1},
                                        Pair{1, 1}, Pair{1, 1}, 1, false, dtype));
  bn2_ = register_module("bn2",
                         std::make_shared<BatchNorm2d>(out_channels, 1e-5, 0.1, true, true, dtype));
  if (stride != 1 || in_channels != out_channels) {
    auto down = std::make_shared<Sequential>();
    down->push_back(std::make_shared<Conv2d>(in_channels, out_channels, Pair{1, 1}, gen,
                                             Pair{stride, stride}, Pair{0, 0}, Pair{1, 1}, 1, false,
                                             dtype));
    down->push_back(std::make_shared<BatchNorm2d>(out_channels, 1e-5, 0.1, true, true, dtype));
    downsample_ = register_module("downsample", down);
  }
}

Tensor ResBlock::forward(const Tensor& x) {
  Tensor h = bn1_->forward_relu(conv1_->forward(x));
  h = bn2_->forward(conv2_->forward(h));
  return relu(h + (downsample_ ? downsample_->forward(x) : x));
}

std::shared_ptr<Conv2d> make_conv2d(std::int64_t in_channels, std::int64_t out_channels,
                                    Pair kernel_size, Generator& gen, Pair stride, Pair padding) {
  return std::make_shared<Conv2d>(in_channels, out_channels, kernel_size, gen, stride, padding);
}
std::shared_ptr<MaxPool2d> make_max_pool2d(Pair kernel_size, Pair stride) {
  return std::make_shared<MaxPool2d>(kernel_size, stride);
}
std::shared_ptr<BatchNorm2d> make_batch_norm2d(std::int64_t num_features) {
  return std::make_shared<BatchNorm2d>(num_features);
}
std::shared_ptr<ResBlock> make_res_block(std::int64_t in_channels, std::int64_t out_channels,
                                         Generator& gen, std::int64_t stride) {
  return std::make_shared<ResBlock>(in_channels, out_channels, gen, stride);
}

}  // namespace ember::nn
