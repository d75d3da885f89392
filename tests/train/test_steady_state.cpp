// Training in its steady state takes no tensor storage from the system: after the first epoch,
// every buffer a step needs (activations, gradients, optimizer state, batches) comes back from
// the allocator's cache of freed blocks. Counted by allocator::system_allocations(), which counts
// only the blocks the allocator had to get from std::aligned_alloc.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "ember/core/storage.hpp"
#include "ember/data/data.hpp"
#include "ember/nn/nn.hpp"
#include "ember/ops/elementwise.hpp"
#include "ember/optim/optim.hpp"

using namespace ember;

namespace {

// Three epochs of 8 equal batches; returns the storage blocks taken from the system during the
// first epoch and during the two after it.
std::pair<std::size_t, std::size_t> train_and_count(
    const std::shared_ptr<nn::Module>& model, const Tensor& x, const Tensor& y,
    const std::function<std::shared_ptr<optim::Optimizer>()>& make_optimizer) {
  Generator gen(3);
  data::TensorDataset ds(x, y);
  data::DataLoader dl(ds, 64, true, &gen);
  auto opt = make_optimizer();
  std::size_t counts[3] = {};
  for (int epoch = 0; epoch < 3; ++epoch) {
    const std::size_t before = allocator::system_allocations();
    for (const auto& batch : dl) {
      const Tensor loss = nn::cross_entropy((*model)(batch.x), batch.y);
      loss.backward();
      opt->step();
      opt->zero_grad();
    }
    counts[epoch] = allocator::system_allocations() - before;
  }
  return {counts[0], counts[1] + counts[2]};
}

}  // namespace

TEST(SteadyState, MlpTrainingTakesNoNewStorageAfterTheFirstEpoch) {
  Generator gen(1);
  const Tensor x = rand({512, 784}, gen);
  const Tensor y = (rand({512}, gen) * 10.0).to(DType::i64);
  auto model = nn::make_sequential(
      {nn::make_linear(784, 128, gen), nn::make_relu(), nn::make_linear(128, 10, gen)});
  const auto [first, later] = train_and_count(
      model, x, y, [&] { return std::make_shared<optim::SGD>(model->parameters(), 0.1, 0.9); });
  EXPECT_GT(first, 0u);  // the first steps do allocate: the count sees them
  EXPECT_EQ(later, 0u);
}

TEST(SteadyState, CnnTrainingTakesNoNewStorageAfterTheFirstEpoch) {
  Generator gen(2);
  const Tensor x = rand({512, 1, 28, 28}, gen);
  const Tensor y = (rand({512}, gen) * 10.0).to(DType::i64);
  auto model = nn::make_sequential({nn::make_conv2d(1, 8, {3, 3}, gen, {1, 1}, {1, 1}),
                                    nn::make_relu(), nn::make_max_pool2d({2, 2}),
                                    nn::make_conv2d(8, 16, {3, 3}, gen, {1, 1}, {1, 1}),
                                    nn::make_relu(), nn::make_max_pool2d({2, 2}),
                                    nn::make_flatten(), nn::make_linear(16 * 7 * 7, 10, gen)});
  const auto [first, later] = train_and_count(
      model, x, y, [&] { return std::make_shared<optim::Adam>(model->parameters(), 1e-3); });
  EXPECT_GT(first, 0u);
  EXPECT_EQ(later, 0u);
}
