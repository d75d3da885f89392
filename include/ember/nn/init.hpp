#pragma once
// Initialisation of parameters in place (under NoGradGuard, so it works on tensors that require
// gradients), each drawing from an explicit Generator. As torch.nn.init.
#include <cstdint>

#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"

namespace ember::nn::init {

// fan_in and fan_out of a weight: [out, in] -> (in, out); [out, in, k...] -> (in * k..., out *
// k...).
std::int64_t fan_in(const Tensor& weight);
std::int64_t fan_out(const Tensor& weight);

// Fills t with U(low, high).
Tensor& uniform_(Tensor& t, double low, double high, Generator& gen);
// Fills t with N(mean, std^2).
Tensor& normal_(Tensor& t, double mean, double std, Generator& gen);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
// He's uniform initialisation for a leaky ReLU of negative slope a: U(-bound, bound) with
// bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)). With a = sqrt(5) (PyTorch's
// default for Linear and Conv) the bound is exactly 1 / sqrt(fan_in).
Tensor& kaiming_uniform_(Tensor& t, double a, Generator& gen);
// Glorot's uniform initialisation: bound = sqrt(6 / (fan_in + fan_out)).
Tensor& xavier_uniform_(Tensor& t, Generator& gen);

}  // namespace ember::nn::init
