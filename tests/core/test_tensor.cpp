// Tensor basics: creation, dtypes, views, accessors, printing, errors.
#include <gtest/gtest.h>

#include <ember/ember.hpp>

using namespace ember;

TEST(Tensor, NestedListsGiveShapeAndDtype) {
  Tensor t = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), i64);
  EXPECT_EQ(t.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  Tensor f = tensor({1.5, 2.0});
  EXPECT_EQ(f.dtype(), f32);
  Tensor s = tensor(3.0);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.item<double>(), 3.0);
  Tensor cube = tensor({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}});
  EXPECT_EQ(cube.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(cube[1][0][1].item<int>(), 6);
  EXPECT_THROW(tensor({{1, 2}, {3}}), Error);
}

TEST(Tensor, CreationFunctions) {
  EXPECT_EQ(zeros({2, 3}).to_vector<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(ones({4}, i64).to_vector<std::int64_t>(), std::vector<std::int64_t>(4, 1));
  EXPECT_EQ(full({2}, 7.5).to_vector<float>(), (std::vector<float>{7.5f, 7.5f}));
  EXPECT_EQ(arange(5).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 10, 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 4, 7}));
  EXPECT_EQ(arange(0.0, 1.0, 0.25).to_vector<float>(), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));
  Tensor v = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.dtype(), f32);
  EXPECT_EQ(from_vector(std::vector<double>{1}, {1}).dtype(), f64);
  EXPECT_EQ(from_vector(std::vector<std::uint8_t>{1}, {1}).dtype(), u8);
  EXPECT_THROW(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), Error);
}

TEST(Tensor, ItemAndConversions) {
  EXPECT_THROW(tensor({1, 2}).item<int>(), Error);
  Tensor t = tensor({1.7, -2.2});
  EXPECT_EQ(t.to(i64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, -2}));
  EXPECT_EQ(t.to(f64).dtype(), f64);
  EXPECT_THROW(t.data_ptr<double>(), Error);
}

TEST(Tensor, ReshapeViewsAndInfersOneAxis) {
  Tensor t = arange(12);
  Tensor r = t.reshape({-1, 4});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_EQ(r.raw_data(), t.raw_data());  // a view: same memory
  EXPECT_THROW(t.reshape({5, -1}), Error);
  EXPECT_THROW(t.reshape({-1, -1}), Error);
  EXPECT_THROW(t.reshape({5}), Error);
}

TEST(Tensor, SliceSelectTransposeAreViews) {
  Tensor t = arange(12).reshape({3, 4});
  Tensor row = t[1];
  EXPECT_EQ(row.to_vector<std::int64_t>(), (std::vector<std::int64_t>{4, 5, 6, 7}));
  Tensor col = t.select(1, 2);
  EXPECT_EQ(col.to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 6, 10}));
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 5, 6, 9, 10}));
  Tensor stepped = t.slice(1, 0, 4, 2);
  EXPECT_EQ(stepped.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 2, 4, 6, 8, 10}));
  Tensor tt = t.t();
  EXPECT_EQ(tt.shape(), (Shape{4, 3}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.contiguous().to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  // writing through a view changes the base
  Tensor f = zeros({2, 2});
  f[1].fill_(3.0);
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{0, 0, 3, 3}));
  EXPECT_THROW(t[3], Error);
  EXPECT_THROW(t.select(2, 0), Error);
  // reshape of a non-contiguous tensor copies
  EXPECT_EQ(tt.reshape({12}).to_vector<std::int64_t>()[1], 4);
}

TEST(Tensor, SqueezeUnsqueezeExpandPermute) {
  Tensor t = ones({2, 1, 3});
  EXPECT_EQ(t.squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(t.squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_EQ(t.squeeze(0).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 2, 1, 3}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{2, 1, 3, 1}));
  Tensor e = tensor({1, 2, 3}).expand({2, 3});
  EXPECT_EQ(e.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(tensor({1, 2, 3}).expand({2, 4}), Error);
  Tensor p = arange(24).reshape({2, 3, 4}).permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p[1][1][2].item<int>(), 12 + 2 * 4 + 1);
  // unsqueeze of a transposed view stays a view
  Tensor m = arange(6).reshape({2, 3}).t();
  EXPECT_EQ(m.unsqueeze(0).raw_data(), m.raw_data());
}

TEST(Tensor, InPlaceUpdates) {
  Tensor a = ones({2, 2});
  a.add_(tensor({1.0, 2.0}), 2.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{3, 5, 3, 5}));
  a.mul_(0.5);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1.5, 2.5, 1.5, 2.5}));
  a.zero_();
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(4, 0.f));
  Tensor leaf = ones({2}).requires_grad_();
  EXPECT_THROW(leaf.add_(ones({2})), Error);
  NoGradGuard guard;
  EXPECT_NO_THROW(leaf.add_(ones({2})));
}

TEST(Tensor, PrintingShowsShapeDtypeAndShortensBigTensors) {
  const std::string s = tensor({{1, 2}, {3, 4}}).str();
  EXPECT_NE(s.find("shape=[2, 2]"), std::string::npos);
  EXPECT_NE(s.find("i64"), std::string::npos);
  EXPECT_NE(s.find("[[1, 2],"), std::string::npos);
  const std::string big = arange(1000).str();
  EXPECT_NE(big.find("..."), std::string::npos);
  EXPECT_LT(big.size(), 200u);
}

TEST(Tensor, UndefinedTensorThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), Error);
}
