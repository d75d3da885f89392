// matmul, linear and linear_relu: shapes, values against a direct sum, errors, gradients.
#include <gtest/gtest.h>

#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::gradcheck;
using ember::testing::random_f64;

// The definition of the matrix product, summed directly (independent of the gemm kernels).
static Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const auto M = a.size(0), K = a.size(1), N = b.size(1);
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> c(static_cast<std::size_t>(M * N), 0.0);
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j)
      for (std::int64_t k = 0; k < K; ++k)
        c[static_cast<std::size_t>(i * N + j)] +=
            av[static_cast<std::size_t>(i * K + k)] * bv[static_cast<std::size_t>(k * N + j)];
  return from_vector(c, {M, N});
}

TEST(Matmul, SmallByHand) {
  Tensor a = tensor({{1, 2}, {3, 4}});
  Tensor b = tensor({{5, 6}, {7, 8}});
  EXPECT_EQ(matmul(a, b).to_vector<std::int64_t>(), (std::vector<std::int64_t>{19, 22, 43, 50}));
  Tensor af = a.to(f32), bf = b.to(f32);
  EXPECT_EQ(af.matmul(bf).to_vector<float>(), (std::vector<float>{19, 22, 43, 50}));
  EXPECT_EQ(matmul(tensor({1.0, 2.0}), tensor({3.0, 4.0})).item<float>(), 11.f);  // dot
  EXPECT_EQ(matmul(af, tensor({1.0, 1.0})).to_vector<float>(), (std::vector<float>{3, 7}));
  EXPECT_EQ(matmul(tensor({1.0, 1.0}), af).to_vector<float>(), (std::vector<float>{4, 6}));
}

TEST(Matmul, MatchesDefinitionOnOddShapesAndViews) {
  for (auto [M, K, N] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {7, 13, 5}, {33, 17, 65}, {256, 784, 30}}) {
    Tensor a = random_f64({M, K}, 20), b = random_f64({K, N}, 21);
    EXPECT_TRUE(allclose(matmul(a, b), naive_matmul(a, b), 1e-10)) << M << "x" << K << "x" << N;
    Tensor af = a.to(f32), bf = b.to(f32);
    EXPECT_TRUE(allclose(matmul(af, bf), naive_matmul(a, b), 1e-4, 1e-4))
        << M << "x" << K << "x" << N;
    // transposed views go through without copies and give the same numbers
    Tensor at = a.t().contiguous().t(), bt = b.t().contiguous().t();
    EXPECT_TRUE(allclose(matmul(at, bt), naive_matmul(a, b), 1e-10));
  }
}

TEST(Matmul, BatchedBroadcasts) {
  Tensor a = random_f64({2, 3, 4, 5}, 30), b = random_f64({4, 5, 6}, 31);  // batch [2, 3] vs [4]
  EXPECT_THROW(matmul(a, b), Error);
  Tensor c = random_f64({3, 5, 6}, 32);
  Tensor out = matmul(a, c);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 4, 6}));
  EXPECT_TRUE(allclose(out[1][2], naive_matmul(a[1][2], c[2]), 1e-10));
  Tensor w = random_f64({5, 2}, 33);
  EXPECT_TRUE(allclose(matmul(a, w)[0][1], naive_matmul(a[0][1], w), 1e-10));
}

TEST(Matmul, ErrorsNameShapes) {
  try {
    matmul(zeros({256, 784}), zeros({30, 1}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "matmul: inner sizes differ: [256, 784] x [30, 1]");
  }
  EXPECT_THROW(matmul(scalar(1.0), zeros({1})), Error);
}

TEST(MatmulGrad, FiniteDifferences) {
  const Tensor a = random_f64({4, 3}, 40), b = random_f64({3, 5}, 41);
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {a, b}));
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0].t(), x[1].t()); },
                        {a.t().contiguous(), b.t().contiguous()}));
  const Tensor v = random_f64({3}, 42);
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {a, v}));
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {v, b}));
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {v, v}));
  const Tensor batched = random_f64({2, 4, 3}, 43);
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {batched, b}));
}

TEST(Linear, MatchesMatmulPlusBiasAndGradients) {
  const Tensor x = random_f64({6, 4}, 50), w = random_f64({3, 4}, 51), bias = random_f64({3}, 52);
  EXPECT_TRUE(allclose(linear(x, w, bias), matmul(x, w.t()) + bias, 1e-12));
  EXPECT_TRUE(allclose(linear(x, w), matmul(x, w.t()), 1e-12));
  EXPECT_TRUE(gradcheck([](auto& p) { return linear(p[0], p[1], p[2]); }, {x, w, bias}));
  EXPECT_TRUE(gradcheck([](auto& p) { return linear(p[0], p[1]); }, {x, w}));
  EXPECT_THROW(linear(zeros({2, 5}), zeros({3, 4})), Error);
  EXPECT_THROW(linear(zeros({2, 4}), zeros({3, 4}), zeros({4})), Error);
}

// The same values to the bit as it is defined, relu(linear(...)), in f32 and f64, on a batch big
// enough for the fast product's tiles, slices and threads; and the same gradients.
TEST(LinearRelu, EqualsReluOfLinearValuesAndGradients) {
  for (const DType dt : {DType::f32, DType::f64}) {
    const Tensor x0 = random_f64({67, 300}, 60).to(dt), w0 = random_f64({37, 300}, 61).to(dt);
    const Tensor b0 = random_f64({37}, 62).to(dt);
    Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
           b = b0.clone().requires_grad_();
    const Tensor fused = linear_relu(x, w, b);
    Tensor xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_(),
           br = b0.clone().requires_grad_();
    const Tensor composed = relu(linear(xr, wr, br));
    ASSERT_TRUE(allclose(fused, composed, 0.0, 0.0));
    const Tensor g = random_f64({67, 37}, 63).to(dt);
    (fused * g).sum().backward();
    (composed * g).sum().backward();
    EXPECT_TRUE(allclose(x.grad(), xr.grad(), 0.0, 0.0));
    EXPECT_TRUE(allclose(w.grad(), wr.grad(), 0.0, 0.0));
    EXPECT_TRUE(allclose(b.grad(), br.grad(), 0.0, 0.0));
    // about half the outputs are cut by the ReLU, so the mask is exercised
    const double cut = (fused == 0.0).to(DType::f64).mean().item<double>();
    EXPECT_GT(cut, 0.2);
    EXPECT_LT(cut, 0.8);
  }
}

TEST(LinearRelu, GradientsByFiniteDifferencesAndErrors) {
  // [3, 2, 4] inputs (a leading batch axis), with and without bias; random values stay away from
  // the kink at 0 by more than gradcheck's step
  const Tensor x = random_f64({3, 2, 4}, 70), w = random_f64({5, 4}, 71),
               bias = random_f64({5}, 72);
  EXPECT_TRUE(allclose(linear_relu(x, w, bias), relu(linear(x, w, bias)), 0.0, 0.0));
  EXPECT_TRUE(gradcheck([](auto& p) { return linear_relu(p[0], p[1], p[2]); }, {x, w, bias}));
  EXPECT_TRUE(gradcheck([](auto& p) { return linear_relu(p[0], p[1]); }, {x, w}));
  try {
    linear_relu(zeros({2, 5}), zeros({3, 4}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear_relu: input [2, 5] does not match weight [3, 4]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(linear_relu(zeros({2, 4}), zeros({3, 4}), zeros({4})), Error);
}
