#include "ember/core/random.hpp"

#include <cmath>
#include <numbers>

namespace ember {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::manual_seed(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
  has_spare_ = false;
}

std::uint64_t Generator::next_u64() {  // xoshiro256**
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return r * std::cos(theta);
}

std::int64_t Generator::randint(std::int64_t low, std::int64_t high) {
  if (high <= low) {
    throw Error("randint: empty range [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  }
  const auto range = static_cast<std::uint64_t>(high - low);
  // rejection sampling: unbiased
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  std::uint64_t x = next_u64();
  while (x >= limit) x = next_u64();
  return low + static_cast<std::int64_t>(x % range);
}

namespace {
template <class Fill>
Tensor fill_random(const Shape& shape, DType dtype, Fill&& draw) {
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(t.raw_data());
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}
void require_floating(DType dtype, const char* op) {
  if (!is_floating(dtype)) throw Error(std::string(op) + ": dtype must be f32 or f64");
}
}  // namespace

Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  require_floating(dtype, "randn");
  return fill_random(shape, dtype, [&] { return gen.normal(); });
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype) {
  require_floating(dtype, "rand");
  return fill_random(shape, dtype, [&] { return gen.uniform(); });
}

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  require_floating(dtype, "uniform");
  return fill_random(shape, dtype, [&] { return low + (high - low) * gen.uniform(); });
}

Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen) {
  if (high <= low) {
    throw Error("randint: empty range [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  }
  return fill_random(shape, DType::i64, [&] { return gen.randint(low, high); });
}

Tensor randperm(std::int64_t n, Generator& gen) {
  if (n < 0) throw Error("randperm: n must be >= 0, got " + std::to_string(n));
  Tensor t = arange(n);
  auto* p = t.data_ptr<std::int64_t>();
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::int64_t j = gen.randint(0, i + 1);
    std::swap(p[i], p[j]);
  }
  return t;
}

}  // namespace ember
