// conv2d: a small case by hand, values and gradients against the seven-loop definition written
// here, finite-difference gradient checks in f64, bit-identical results for any thread count,
// shape errors, and the same numbers as PyTorch's conv2d (when /usr/bin/python3 has torch).
#include <gtest/gtest.h>

#include <unistd.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ember/ops/conv.hpp"
#include "kernels/conv.hpp"
#include "support/gradcheck.hpp"

using namespace ember;
using ember::testing::allclose;
using ember::testing::gradcheck;
using ember::testing::random_f64;

namespace {

struct Config {
  Shape x;  // [N, C, H, W]
  Shape w;  // [O, C/groups, kh, kw]
  bool bias;
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
};

std::string describe(const Config& c) {
  std::ostringstream os;
  os << "x " << shape_str(c.x) << " w " << shape_str(c.w) << (c.bias ? " bias" : "") << " stride "
     << c.stride[0] << "," << c.stride[1] << " pad " << c.padding[0] << "," << c.padding[1]
     << " dil " << c.dilation[0] << "," << c.dilation[1] << " groups " << c.groups;
  return os.str();
}

// The definition of a convolution, summed directly in double:
// y[n,o,i,j] = b[o] + sum_{c,p,q} x[n, g*C + c, i*sh - ph + p*dh, j*sw - pw + q*dw] * w[o,c,p,q]
// with g = o / (O/groups) and zero outside the image.
Tensor conv_by_definition(const Tensor& x, const Tensor& w, const Tensor& b, const Config& c) {
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), C = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t Ho = (H + 2 * c.padding[0] - c.dilation[0] * (kh - 1) - 1) / c.stride[0] + 1;
  const int64_t Wo = (W + 2 * c.padding[1] - c.dilation[1] * (kw - 1) - 1) / c.stride[1] + 1;
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const auto bv = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  const int64_t Cin = x.size(1), per_group = O / c.groups;
  std::vector<double> y(static_cast<size_t>(N * O * Ho * Wo));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double acc = bv[static_cast<size_t>(o)];
          for (int64_t ch = 0; ch < C; ++ch)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t r = i * c.stride[0] - c.padding[0] + p * c.dilation[0];
                const int64_t s = j * c.stride[1] - c.padding[1] + q * c.dilation[1];
                if (r < 0 || r >= H || s < 0 || s >= W) continue;
                const int64_t ci = (o / per_group) * C + ch;
                acc += xv[static_cast<size_t>(((n * Cin + ci) * H + r) * W + s)] *
                       wv[static_cast<size_t>(((o * C + ch) * kh + p) * kw + q)];
              }
          y[static_cast<size_t>(((n * O + o) * Ho + i) * Wo + j)] = acc;
        }
  return from_vector(y, {N, O, Ho, Wo});
}

const std::vector<Config>& configs() {
  static const std::vector<Config> all = {
      {{2, 3, 6, 7}, {4, 3, 3, 3}, true, {1, 1}, {0, 0}, {1, 1}, 1},
      {{2, 3, 7, 6}, {4, 3, 3, 3}, false, {2, 2}, {1, 1}, {1, 1}, 1},  // stride 2, padding
      {{1, 2, 8, 9}, {3, 2, 3, 2}, true, {1, 2}, {2, 1}, {2, 2}, 1},   // dilation 2, non-square
      {{2, 4, 5, 5}, {6, 2, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 2},   // groups 2
      {{2, 4, 5, 6}, {4, 1, 3, 3}, false, {1, 1}, {1, 1}, {1, 1}, 4},  // depthwise
      {{2, 5, 4, 4}, {3, 5, 1, 1}, true, {1, 1}, {0, 0}, {1, 1}, 1},   // pointwise 1x1
      {{1, 1, 5, 5}, {2, 1, 5, 5}, true, {1, 1}, {0, 0}, {1, 1}, 1},   // kernel = image
      {{2, 2, 9, 7}, {3, 2, 2, 4}, true, {3, 2}, {1, 2}, {1, 2}, 1},   // all at once
  };
  return all;
}

}  // namespace

TEST(Conv2d, SmallCaseByHand) {
  // 1x1x3x3 input, 2x2 kernel: each output is the dot product of a 2x2 window with the kernel.
  Tensor x = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}}).reshape({1, 1, 3, 3});
  Tensor w = tensor({{1.0, 2.0}, {3.0, 4.0}}).reshape({1, 1, 2, 2});
  // 1*1+2*2+4*3+5*4 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77
  EXPECT_EQ(x.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(conv2d(x, w).to_vector<float>(), (std::vector<float>{37, 47, 67, 77}));
  EXPECT_EQ(conv2d(x, w, tensor({0.5})).to_vector<float>(),
            (std::vector<float>{37.5, 47.5, 67.5, 77.5}));
  // padding 1: a 4x4 output whose corners see one input value each (x[0,0]*w[1,1] = 1*4, ...)
  Tensor p = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  EXPECT_EQ(p.shape(), (Shape{1, 1, 4, 4}));
  const auto pv = p.to_vector<float>();
  EXPECT_EQ(pv[0], 4.f);    // x[0,0] * w[1,1]
  EXPECT_EQ(pv[3], 9.f);    // x[0,2] * w[1,0]
  EXPECT_EQ(pv[12], 14.f);  // x[2,0] * w[0,1]
  EXPECT_EQ(pv[15], 9.f);   // x[2,2] * w[0,0]
  EXPECT_EQ(pv[5], 37.f);   // the first unpadded window
  // stride 2 with padding 1: windows start at rows and columns -1 and 1
  // (0,0): x[0,0]*w[1,1] = 4; (0,1): x[0,1]*w[1,0] + x[0,2]*w[1,1] = 6 + 12;
  // (1,0): x[1,0]*w[0,1] + x[2,0]*w[1,1] = 8 + 28; (1,1): the window of 77 above
  EXPECT_EQ(conv2d(x, w, Tensor(), {2, 2}, {1, 1}).to_vector<float>(),
            (std::vector<float>{4, 18, 36, 77}));
  // gradients by hand: d(sum y)/dw[p,q] = sum of the 2x2 windows' entries at (p,q)
  Tensor wg = w.clone().requires_grad_();
  Tensor xg = x.clone().requires_grad_();
  conv2d(xg, wg).sum().backward();
  EXPECT_EQ(wg.grad().to_vector<float>(), (std::vector<float>{12, 16, 24, 28}));
  // each input pixel gets the sum of the kernel entries that touch it
  EXPECT_EQ(xg.grad().to_vector<float>(), (std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4}));
}

TEST(Conv2d, MatchesDefinition) {
  for (const Config& c : configs()) {
    Tensor x = random_f64(c.x, 1), w = random_f64(c.w, 2);
    Tensor b = c.bias ? random_f64({c.w[0]}, 3) : Tensor();
    const Tensor expected = conv_by_definition(x, w, b, c);
    Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
    EXPECT_TRUE(allclose(y, expected, 1e-12, 1e-12)) << describe(c);
    Tensor yf = conv2d(x.to(f32), w.to(f32), c.bias ? b.to(f32) : Tensor(), c.stride, c.padding,
                       c.dilation, c.groups);
    EXPECT_EQ(yf.dtype(), f32);
    EXPECT_TRUE(allclose(yf, expected, 1e-5, 1e-5)) << describe(c);
  }
}

TEST(Conv2d, ReferenceKernelMatchesDefinition) {
  for (const Config& c : configs()) {
    Tensor x = random_f64(c.x, 4), w = random_f64(c.w, 5);
    Tensor b = c.bias ? random_f64({c.w[0]}, 6) : Tensor();
    const Tensor expected = conv_by_definition(x, w, b, c);
    const int64_t O = c.w[0];
    kernels::ConvGeometry g{c.w[1],          c.x[2],        c.x[3],        c.w[2],
                            c.w[3],          c.stride[0],   c.stride[1],   c.padding[0],
                            c.padding[1],    c.dilation[0], c.dilation[1], expected.size(2),
                            expected.size(3)};
    Tensor y = empty(expected.shape(), f64);
    kernels::conv2d_reference(x.data_ptr<double>(), w.data_ptr<double>(),
                              c.bias ? b.data_ptr<double>() : nullptr, c.x[0], O, c.groups, g,
                              y.data_ptr<double>());
    EXPECT_TRUE(allclose(y, expected, 1e-12, 1e-12)) << describe(c);
  }
}

TEST(Conv2d, FastIm2colMatchesReference) {
  for (const Config& c : configs()) {
    const int64_t Ho =
        (c.x[2] + 2 * c.padding[0] - c.dilation[0] * (c.w[2] - 1) - 1) / c.stride[0] + 1;
    const int64_t Wo =
        (c.x[3] + 2 * c.padding[1] - c.dilation[1] * (c.w[3] - 1) - 1) / c.stride[1] + 1;
    const kernels::ConvGeometry g{
        c.x[1],       c.x[2],       c.x[3],        c.w[2],        c.w[3], c.stride[0], c.stride[1],
        c.padding[0], c.padding[1], c.dilation[0], c.dilation[1], Ho,     Wo};
    Tensor x = random_f64({c.x[1], c.x[2], c.x[3]}, 16).to(f32);
    const int64_t ld = g.pixels() + 3;  // rows spaced wider than they are long
    std::vector<float> fast(static_cast<size_t>(g.rows() * ld), -7.f), ref(fast.size(), -7.f);
    std::vector<float> padded(static_cast<size_t>(kernels::im2col_padded_size(g)));
    kernels::im2col(x.data_ptr<float>(), g, fast.data(), ld, padded.data());
    kernels::im2col_reference(x.data_ptr<float>(), g, ref.data(), ld);
    EXPECT_EQ(fast, ref) << describe(c);
  }
}

TEST(Conv2d, GradientsMatchFiniteDifferences) {
  for (const Config& c : configs()) {
    std::vector<Tensor> inputs{random_f64(c.x, 7), random_f64(c.w, 8)};
    if (c.bias) inputs.push_back(random_f64({c.w[0]}, 9));
    auto f = [&c](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), c.stride, c.padding, c.dilation,
                    c.groups);
    };
    EXPECT_TRUE(gradcheck(f, inputs)) << describe(c);
  }
}

// Larger shapes, where the backward works on several blocks of images: the gradients against the
// reference loops, in f64 and f32, and only the gradients asked for.
TEST(Conv2d, BackwardMatchesReferenceOnBlocks) {
  const std::vector<Config> big = {
      {{23, 8, 16, 16}, {12, 8, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1},
      {{9, 6, 12, 10}, {6, 3, 3, 3}, true, {2, 1}, {1, 0}, {1, 2}, 2},
      {{17, 1, 28, 28}, {16, 1, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1},
      {{7, 16, 9, 9}, {8, 16, 1, 1}, false, {1, 1}, {0, 0}, {1, 1}, 1},
      // 70 channels over enough pixels that the bias gradient splits them between two threads,
      // each range summed 32 channels at a time
      {{4, 2, 48, 48}, {70, 2, 3, 3}, true, {2, 2}, {1, 1}, {1, 1}, 1},
  };
  for (const Config& c : big) {
    for (DType dt : {f64, f32}) {
      Tensor x = random_f64(c.x, 10).to(dt).requires_grad_();
      Tensor w = random_f64(c.w, 11).to(dt).requires_grad_();
      Tensor b = c.bias ? random_f64({c.w[0]}, 12).to(dt).requires_grad_() : Tensor();
      Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
      Tensor dy = random_f64(y.shape(), 13).to(dt);
      y.backward(dy);
      // the reference, in f64 from the same values
      const Tensor xd = x.detach().to(f64), wd = w.detach().to(f64), dyd = dy.to(f64);
      kernels::ConvGeometry g{c.w[1],        c.x[2],      c.x[3],       c.w[2],       c.w[3],
                              c.stride[0],   c.stride[1], c.padding[0], c.padding[1], c.dilation[0],
                              c.dilation[1], y.size(2),   y.size(3)};
      Tensor dx = empty(c.x, f64), dw = empty(c.w, f64), db = empty({c.w[0]}, f64);
      kernels::conv2d_backward_reference(
          xd.data_ptr<double>(), wd.data_ptr<double>(), dyd.data_ptr<double>(), c.x[0], c.w[0],
          c.groups, g, dx.data_ptr<double>(), dw.data_ptr<double>(), db.data_ptr<double>());
      const double tol = dt == f64 ? 1e-10 : 2e-4;
      EXPECT_TRUE(allclose(x.grad(), dx.to(dt), tol, tol)) << describe(c);
      EXPECT_TRUE(allclose(w.grad(), dw.to(dt), tol, tol)) << describe(c);
      if (c.bias) {
        EXPECT_TRUE(allclose(b.grad(), db.to(dt), tol, tol)) << describe(c);
      }
    }
  }
  // an input that needs no gradient gets none (the first layer of a CNN)
  Tensor x = random_f64({4, 1, 8, 8}, 14).to(f32);
  Tensor w = random_f64({3, 1, 3, 3}, 15).to(f32).requires_grad_();
  conv2d(x, w).sum().backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(w.grad().defined());
}

TEST(Conv2d, SameBitsForAnyThreadCount) {
  const int saved = get_num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Tensor x = random_f64({37, 16, 14, 14}, 20).to(f32).requires_grad_();
    Tensor w = random_f64({32, 16, 3, 3}, 21).to(f32).requires_grad_();
    Tensor b = random_f64({32}, 22).to(f32).requires_grad_();
    Tensor y = conv2d(x, w, b, {1, 1}, {1, 1});
    y.backward(random_f64(y.shape(), 23).to(f32));
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(),
                                           b.grad().to_vector<float>()};
  };
  const auto one = run(1), two = run(2), three = run(3);
  set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i], two[i]) << "result " << i;
    EXPECT_EQ(one[i], three[i]) << "result " << i;
  }
}

TEST(Conv2d, ErrorsNameTheShapes) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] {
              conv2d(zeros({8, 3, 28, 28}), zeros({16, 1, 3, 3}));
            }),
            "conv2d: input [8, 3, 28, 28] has 3 channels, weight [16, 1, 3, 3] expects 1");
  EXPECT_NE(message([] {
              conv2d(zeros({3, 28, 28}), zeros({16, 3, 3, 3}));
            }).find("[3, 28, 28]"),
            std::string::npos);
  EXPECT_NE(message([] {
              conv2d(zeros({1, 3, 8, 8}), zeros({16, 3, 3}));
            }).find("[16, 3, 3]"),
            std::string::npos);
  EXPECT_NE(message([] {
              conv2d(zeros({1, 3, 8, 8}), zeros({4, 1, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 2);
            }).find("groups 2"),
            std::string::npos);
  EXPECT_NE(message([] {
              conv2d(zeros({1, 4, 8, 8}), zeros({3, 2, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 2);
            }).find("groups 2"),
            std::string::npos);
  EXPECT_NE(message([] {
              conv2d(zeros({1, 3, 2, 2}), zeros({4, 3, 3, 3}));
            }).find("empty"),
            std::string::npos);
  EXPECT_NE(message([] {
              conv2d(zeros({1, 3, 8, 8}), zeros({4, 3, 3, 3}), zeros({3}));
            }).find("bias [3]"),
            std::string::npos);
  EXPECT_NE(message([] {
              conv2d(zeros({1, 3, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), {0, 1});
            }).find("stride"),
            std::string::npos);
  // padding makes a small input valid
  EXPECT_EQ(conv2d(zeros({1, 3, 2, 2}), zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {1, 1}).shape(),
            (Shape{1, 4, 2, 2}));
}

namespace {

bool torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

void write_values(std::ofstream& out, const Tensor& t) {
  out << shape_str(t.shape()) << "\n";
  out.precision(17);
  for (double v : t.to_vector<double>()) out << v << " ";
  out << "\n";
}

std::vector<double> read_values(std::ifstream& in) {
  std::string line;
  std::getline(in, line);
  std::istringstream ls(line);
  std::vector<double> v;
  double d;
  while (ls >> d) v.push_back(d);
  return v;
}

}  // namespace

// One conv layer on fixed inputs (from a seeded generator, written to a file) through PyTorch's
// torch.nn.functional.conv2d, in float64: the output and the three gradients of sum(y * dy).
TEST(Conv2d, MatchesPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (python3-torch)";
  const Config c{{2, 4, 9, 8}, {6, 2, 3, 2}, true, {2, 1}, {1, 1}, {2, 1}, 2};
  Tensor x = random_f64(c.x, 30).requires_grad_();
  Tensor w = random_f64(c.w, 31).requires_grad_();
  Tensor b = random_f64({c.w[0]}, 32).requires_grad_();
  Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
  Tensor dy = random_f64(y.shape(), 33);
  y.backward(dy);

  const auto dir =
      std::filesystem::temp_directory_path() / ("ember_conv_torch_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream in(dir / "in.txt");
    for (const Tensor& t : {x.detach(), w.detach(), b.detach(), dy}) write_values(in, t);
    std::ofstream py(dir / "conv.py");
    py << R"(import sys, torch
lines = open(sys.argv[1]).read().splitlines()
def tensor(i):
    shape = [int(s) for s in lines[2 * i].strip('[]').split(',')]
    return torch.tensor([float(v) for v in lines[2 * i + 1].split()], dtype=torch.float64).reshape(shape)
x, w, b, dy = (tensor(i) for i in range(4))
for t in (x, w, b): t.requires_grad_()
y = torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=(1, 1), dilation=(2, 1), groups=2)
(y * dy).sum().backward()
with open(sys.argv[2], 'w') as out:
    for t in (y, x.grad, w.grad, b.grad):
        out.write(' '.join(repr(v) for v in t.detach().flatten().tolist()) + '\n')
)";
  }
  const std::string cmd = "/usr/bin/python3 " + (dir / "conv.py").string() + " " +
                          (dir / "in.txt").string() + " " + (dir / "out.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream out(dir / "out.txt");
  const std::vector<Tensor> ours{y.detach(), x.grad(), w.grad(), b.grad()};
  for (const Tensor& t : ours) {
    const auto theirs = from_vector(read_values(out), t.shape());
    EXPECT_TRUE(allclose(t, theirs, 1e-12, 1e-12));
  }
  std::filesystem::remove_all(dir);
}
