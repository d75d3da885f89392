// A seeded run gives bit-identical weights whatever the thread count (the performance issue's
// promise): the kernels split work over rows, columns or images, never over a reduction.
#include <gtest/gtest.h>

#include <cstring>

#include <ember/ember.hpp>

using namespace ember;

namespace {

std::vector<std::vector<float>> train_steps(int threads, bool conv) {
  set_num_threads(threads);
  Generator gen(11);
  std::shared_ptr<nn::Module> model;
  Tensor x;
  if (conv) {
    model = nn::make_sequential({nn::make_conv2d(1, 8, {3, 3}, gen, {1, 1}, {1, 1}), nn::make_relu(),
                                 nn::make_max_pool2d({2, 2}), nn::make_flatten(),
                                 nn::make_linear(8 * 14 * 14, 10, gen)});
    x = rand({64, 1, 28, 28}, gen);
  } else {
    model = nn::make_sequential({nn::make_linear(784, 128, gen), nn::make_relu(), nn::make_linear(128, 10, gen)});
    x = rand({300, 784}, gen);
  }
  Tensor y = randint(0, 10, {x.size(0)}, gen);
  optim::SGD opt(model->parameters(), 0.1, 0.9);
  for (int step = 0; step < 3; ++step) {
    nn::cross_entropy((*model)(x), y).backward();
    opt.step();
    opt.zero_grad();
  }
  std::vector<std::vector<float>> weights;
  for (const auto& p : model->parameters()) weights.push_back(p.to_vector<float>());
  return weights;
}

}  // namespace

TEST(Determinism, SameWeightsWithOneOrTwoThreads) {
  const int before = get_num_threads();
  for (bool conv : {false, true}) {
    const auto one = train_steps(1, conv);
    const auto two = train_steps(2, conv);
    ASSERT_EQ(one.size(), two.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      ASSERT_EQ(one[i].size(), two[i].size());
      EXPECT_EQ(0, std::memcmp(one[i].data(), two[i].data(), one[i].size() * sizeof(float)))
          << (conv ? "cnn" : "mlp") << " parameter " << i << " differs between 1 and 2 threads";
    }
  }
  set_num_threads(before);
}
