// fast.ai's "MNIST basics" (chapter 4), step by step, in C++ with ember.
// Read it beside the notebook: each block is one of its steps, in the same order and with the
// same names (stacked_threes, mean3, mnist_distance, is_3, init_params, linear1, mnist_loss,
// calc_grad, train_epoch, batch_accuracy, validate_epoch, BasicOptim, simple_net, Learner).
// Pass --quick for a tenth of the epochs.
#include <cstdio>
#include <cstring>

#include <ember/ember.hpp>

using namespace ember;

// ---- Pixels: the 3s and the 7s, as tensors ----
// The images of one label as f32 in [0, 1]: [n, 28, 28].
Tensor stack_label(const data::ImageData& d, std::int64_t label) {
  return data::to_unit_float(data::images_with_label(d, label));
}

// ---- Computing metrics using broadcasting ----
Tensor mnist_distance(const Tensor& a, const Tensor& b) { return (a - b).abs().mean({-1, -2}); }

// ---- Stochastic gradient descent: the chapter's own optimizer ----
class BasicOptim {
 public:
  BasicOptim(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {}
  void step() {
    NoGradGuard no_grad;
    for (auto& p : params_) p.sub_(p.grad(), lr_);
  }
  void zero_grad() {
    for (auto& p : params_) p.zero_grad();
  }

 private:
  std::vector<Tensor> params_;
  double lr_;
};

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int scale = quick ? 10 : 1;
  Generator gen(42);

  // path = untar_data(URLs.MNIST_SAMPLE): the 3s and 7s of real MNIST (fetched if missing)
  data::DataSplit mnist = data::load_dataset("mnist-sample");
  Tensor stacked_threes = stack_label(mnist.train, 1);  // label 1 is a 3
  Tensor stacked_sevens = stack_label(mnist.train, 0);
  std::printf("stacked_threes.shape = %s\n", shape_str(stacked_threes.shape()).c_str());

  // First try: pixel similarity
  Tensor mean3 = stacked_threes.mean(0);
  Tensor mean7 = stacked_sevens.mean(0);
  Tensor a_3 = stacked_threes[1];
  std::printf("dist_3_abs = %.4f, dist_7_abs = %.4f\n", (a_3 - mean3).abs().mean().item<double>(),
              (a_3 - mean7).abs().mean().item<double>());
  Tensor valid_3_tens = stack_label(mnist.valid, 1);
  Tensor valid_7_tens = stack_label(mnist.valid, 0);
  auto is_3 = [&](const Tensor& x) { return mnist_distance(x, mean3) < mnist_distance(x, mean7); };
  const double accuracy_3s = is_3(valid_3_tens).to(f32).mean().item<double>();
  const double accuracy_7s = (1.0 - is_3(valid_7_tens).to(f32)).mean().item<double>();
  std::printf("accuracy_3s = %.4f, accuracy_7s = %.4f, average = %.4f\n", accuracy_3s, accuracy_7s,
              (accuracy_3s + accuracy_7s) / 2);

  // Calculating gradients
  Tensor xt = tensor({3.0, 4.0, 10.0}).requires_grad_();
  Tensor yt = xt.pow(2).sum();
  yt.backward();
  std::printf("xt.grad = %s\n", xt.grad().str().c_str());

  // The MNIST loss function: train_x [12396, 784], train_y [12396, 1]
  data::ImageDataset dset(mnist.train), valid_dset(mnist.valid);
  data::DataLoader dl(dset, 256, /*shuffle=*/true, &gen);
  data::DataLoader valid_dl(valid_dset, 256);
  dl.float_targets();
  valid_dl.float_targets();

  auto init_params = [&](const Shape& size, double std = 1.0) {
    return (randn(size, gen) * std).requires_grad_();
  };
  Tensor weights = init_params({28 * 28, 1});
  Tensor bias = init_params({1});
  auto linear1 = [&](const Tensor& xb) { return matmul(xb, weights) + bias; };

  // Putting it all together
  auto calc_grad = [](const Tensor& xb, const Tensor& yb, auto&& model) {
    Tensor preds = model(xb);
    Tensor loss = nn::mnist_loss(preds, yb);
    loss.backward();
  };
  auto train_epoch = [&](auto&& model, double lr, std::vector<Tensor> params) {
    for (const auto& b : dl) {
      calc_grad(b.x, b.y, model);
      NoGradGuard no_grad;
      for (auto& p : params) {
        p.sub_(p.grad(), lr);
        p.zero_grad();
      }
    }
  };
  auto validate_epoch = [&](auto&& model) {
    NoGradGuard no_grad;
    std::vector<Tensor> accs;
    for (const auto& b : valid_dl) accs.push_back(nn::batch_accuracy(model(b.x), b.y));
    return stack(accs).mean().item<double>();
  };
  const double lr = 1.0;
  std::printf("linear1, 20 epochs:");
  for (int i = 0; i < 20 / scale; ++i) {
    train_epoch(linear1, lr, {weights, bias});
    std::printf(" %.4f", validate_epoch(linear1));
  }
  std::printf("\n");

  // Creating an optimizer: nn::Linear and BasicOptim
  auto linear_model = std::make_shared<nn::Linear>(28 * 28, 1, gen);
  BasicOptim opt(linear_model->parameters(), lr);
  auto train_model = [&](nn::Module& model, int epochs) {
    for (int i = 0; i < epochs; ++i) {
      for (const auto& b : dl) {
        calc_grad(b.x, b.y, [&](const Tensor& x) { return model(x); });
        opt.step();
        opt.zero_grad();
      }
      std::printf(" %.4f", validate_epoch([&](const Tensor& x) { return model(x); }));
    }
    std::printf("\n");
  };
  std::printf("nn::Linear + BasicOptim:");
  train_model(*linear_model, 20 / scale);

  // The Learner, with optim::SGD
  auto model = std::make_shared<nn::Linear>(28 * 28, 1, gen);
  Learner learn(model, dl, valid_dl, std::make_shared<optim::SGD>(model->parameters(), lr),
                nn::mnist_loss, {{"batch_accuracy", nn::batch_accuracy}});
  learn.fit(10 / scale, lr);

  // Adding a nonlinearity: simple_net
  auto simple_net =
      std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
          std::make_shared<nn::Linear>(28 * 28, 30, gen), std::make_shared<nn::ReLU>(),
          std::make_shared<nn::Linear>(30, 1, gen)});
  Learner learn2(simple_net, dl, valid_dl,
                 std::make_shared<optim::SGD>(simple_net->parameters(), 0.1), nn::mnist_loss,
                 {{"batch_accuracy", nn::batch_accuracy}});
  learn2.fit(40 / scale, 0.1);
  std::printf("simple_net: final accuracy %.4f (the chapter: 0.9828)\n",
              learn2.history().back().metrics.at(0));
  return 0;
}
