#pragma once
// Randomness only through an explicit, seeded Generator. The generator (xoshiro256**, seeded by
// splitmix64) and every transformation below are written out here, not left to the standard
// library's distributions, so a seed gives the same numbers on every machine and compiler.
#include <cstdint>

#include "ember/core/tensor.hpp"

namespace ember {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();                             // in [0, 1), 53 random bits
  double normal();                              // standard normal (Box-Muller)
  std::int64_t randint(std::int64_t low, std::int64_t high);  // in [low, high), unbiased

 private:
  std::uint64_t s_[4] = {0, 0, 0, 0};
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Standard normal values.
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32);
// Uniform values in [0, 1).
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32);
// Uniform values in [low, high).
Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               DType dtype = DType::f32);
// Integers in [low, high), i64.
Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen);
// A random permutation of 0..n-1, i64 (Fisher-Yates).
Tensor randperm(std::int64_t n, Generator& gen);
// The rows (first axis) of t in a random order: a copy.
Tensor shuffle(const Tensor& t, Generator& gen);

}  // namespace ember
