// Uses the installed library through the umbrella header only.
#include <cstdio>

#include <ember/ember.hpp>

int main() {
  ember::Tensor x = ember::tensor({3.0, 4.0, 10.0}).requires_grad_();
  (x * x).sum().backward();
  const auto g = x.grad().to_vector<float>();
  std::printf("%g %g %g\n", g[0], g[1], g[2]);
  return g[0] == 6 && g[1] == 8 && g[2] == 20 ? 0 : 1;
}
