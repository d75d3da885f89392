// The chapter's "roller coaster" example: fit a*t^2 + b*t + c to 20 noisy measurements of a
// speed with plain SGD on the mean squared error, printing the loss of each step as it falls.
#include <cstdio>

#include <ember/ember.hpp>

using namespace ember;

// t: [20], params: [3] -> [20]
Tensor f(const Tensor& t, const Tensor& params) {
  return params[0] * t.pow(2) + params[1] * t + params[2];
}

Tensor mse(const Tensor& preds, const Tensor& targets) { return (preds - targets).pow(2).mean(); }

int main() {
  Generator gen(42);
  // time 0..19, speed = 0.75 * (time - 9.5)^2 + 1 plus noise, as in the chapter
  Tensor time = arange(0, 20).to(f32);
  Tensor speed = randn({20}, gen) * 3.0 + 0.75 * (time - 9.5).pow(2) + 1.0;

  Tensor params = randn({3}, gen).requires_grad_();
  const double lr = 1e-5;
  std::printf("fitting a*t^2 + b*t + c to 20 points with SGD (lr %g)\n", lr);
  for (int step = 0; step < 10; ++step) {
    Tensor preds = f(time, params);
    Tensor loss = mse(preds, speed);
    loss.backward();
    {
      NoGradGuard no_grad;
      params.sub_(params.grad(), lr);
    }
    params.zero_grad();
    std::printf("step %2d  loss %10.2f\n", step, loss.item<double>());
  }
  const auto p = params.to_vector<float>();
  std::printf("a = %.4f, b = %.4f, c = %.4f\n", p[0], p[1], p[2]);
  return 0;
}
