// Views and copying shape ops: values, errors and gradients.
#include <gtest/gtest.h>

#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::gradcheck;
using ember::testing::random_f64;

TEST(Movement, StackConcatIndexSelectOneHot) {
  Tensor a = tensor({1, 2}), b = tensor({3, 4});
  EXPECT_EQ(stack({a, b}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(stack({a, b}, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 3, 2, 4}));
  EXPECT_EQ(stack({a, b}).shape(), (Shape{2, 2}));
  EXPECT_EQ(concat({a, b}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 4}));
  Tensor m = arange(6).reshape({2, 3});
  EXPECT_EQ(concat({m, m}, 1).shape(), (Shape{2, 6}));
  EXPECT_THROW(concat({m, a}), Error);
  EXPECT_THROW(stack({a, m}), Error);
  EXPECT_EQ(index_select(m, 0, tensor({1, 1, 0})).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{3, 4, 5, 3, 4, 5, 0, 1, 2}));
  EXPECT_EQ(index_select(m, 1, tensor({2, 0})).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{2, 0, 5, 3}));
  EXPECT_THROW(index_select(m, 0, tensor({2})), Error);
  Tensor oh = one_hot(tensor({0, 2}), 3);
  EXPECT_EQ(oh.to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 0, 1}));
  EXPECT_THROW(one_hot(tensor({3}), 3), Error);
}

TEST(MovementGrad, FiniteDifferences) {
  const Tensor a = random_f64({3, 4}, 60), b = random_f64({3, 4}, 61);
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<const char*, Fn>> cases = {
      {"reshape", [](auto& x) { return x[0].reshape({2, -1}) * 3.0; }},
      {"transpose", [](auto& x) { return x[0].t() * 2.0; }},
      {"slice", [](auto& x) { return x[0].slice(1, 1, 4, 2); }},
      {"select", [](auto& x) { return x[0][2]; }},
      {"permute", [](auto& x) { return x[0].unsqueeze(0).permute({2, 0, 1}); }},
      {"expand", [](auto& x) { return x[0].slice(0, 0, 1).expand({5, 4}); }},
      {"stack", [](auto& x) { return stack({x[0], x[1] * x[0]}, 1); }},
      {"concat", [](auto& x) { return concat({x[0], x[1]}, 1); }},
      {"index_select", [](auto& x) { return index_select(x[0], 0, tensor({2, 0, 2})); }},
      {"index_select axis 1", [](auto& x) { return index_select(x[0], 1, tensor({3, 3})); }},
      {"contiguous", [](auto& x) { return x[0].t().contiguous(); }},
      {"flatten", [](auto& x) { return x[0].flatten(); }},
  };
  for (const auto& [name, f] : cases) EXPECT_TRUE(gradcheck(f, {a, b})) << name;
}
