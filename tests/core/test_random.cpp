// The seeded generator: repeatable, and its numbers have the right distribution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <ember/ember.hpp>

using namespace ember;

TEST(Random, SameSeedSameNumbers) {
  Generator a(7), b(7), c(8);
  const auto x = randn({100}, a).to_vector<float>();
  EXPECT_EQ(x, randn({100}, b).to_vector<float>());
  EXPECT_NE(x, randn({100}, c).to_vector<float>());
}

TEST(Random, KnownFirstValuesAcrossMachines) {
  // xoshiro256** seeded by splitmix64(0): the first output is fixed by the algorithm's definition;
  // a change here means seeds no longer reproduce earlier runs. The constant was computed by an
  // independent Python implementation of splitmix64 + xoshiro256** from their published code.
  Generator g(0);
  const std::uint64_t first = g.next_u64();
  Generator h(0);
  EXPECT_EQ(first, h.next_u64());
  EXPECT_EQ(first, 0x99EC5F36CB75F2B4ULL);
}

TEST(Random, DistributionsLookRight) {
  Generator g(1);
  const auto n = randn({20000}, g, f64).to_vector<double>();
  double mean = 0, var = 0;
  for (double v : n) mean += v;
  mean /= static_cast<double>(n.size());
  for (double v : n) var += (v - mean) * (v - mean);
  var /= static_cast<double>(n.size());
  EXPECT_NEAR(mean, 0.0, 0.03);  // 4 standard errors of 1/sqrt(20000)
  EXPECT_NEAR(var, 1.0, 0.04);
  const auto u = rand({10000}, g).to_vector<float>();
  EXPECT_GE(*std::min_element(u.begin(), u.end()), 0.f);
  EXPECT_LT(*std::max_element(u.begin(), u.end()), 1.f);
  const auto r = randint(3, 6, {1000}, g).to_vector<std::int64_t>();
  EXPECT_EQ(*std::min_element(r.begin(), r.end()), 3);
  EXPECT_EQ(*std::max_element(r.begin(), r.end()), 5);
}

TEST(Random, PermutationsAndShuffle) {
  Generator g(3);
  auto p = randperm(50, g).to_vector<std::int64_t>();
  std::vector<std::int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_NE(p, sorted);
  Tensor rows = arange(10).reshape({5, 2});
  Tensor s = shuffle(rows, g);
  EXPECT_EQ(s.shape(), (Shape{5, 2}));
  EXPECT_EQ(s.sum().item<int>(), 45);
  EXPECT_THROW(randint(5, 5, {1}, g), Error);
}
