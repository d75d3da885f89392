// Pooling ops (max, average, adaptive average) on NCHW tensors, each with its backward beside it.
// Image planes are independent, so they run in parallel with no effect on the results.
#include <algorithm>
#include <array>
#include <string>

#include "ember/core/parallel.hpp"
#include "ember/ops/conv.hpp"
#include "kernels/pool.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;

namespace {

using ops_detail::dispatch_real;
using ops_detail::pair_str;

// The input as a contiguous floating tensor, checked to be [N, C, H, W].
Tensor pool_input(const Tensor& x, const char* op) {
  if (x.rank() != 4) {
    throw Error(std::string(op) + ": input must be [N, C, H, W], got " + shape_str(x.shape()));
  }
  return ops_detail::as_floating(x);
}

// Runs fn(plane) for every image plane in [0, planes), in parallel chunks of enough work.
template <class F>
void for_each_plane(int64_t planes, int64_t plane_size, F&& fn) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(plane_size, 1));
  parallel_for(0, planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) fn(p);
  });
}

// The window geometry of max_pool2d / avg_pool2d, checked.
kernels::PoolGeometry pool_geometry(const Tensor& x, std::array<int64_t, 2> kernel,
                                    std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                    const char* op) {
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  const std::string where = std::string(op) + ": input " + shape_str(x.shape()) + ", kernel " +
                            pair_str(kernel) + ", stride " + pair_str(stride) + ", padding " +
                            pair_str(padding);
  if (kernel[0] < 1 || kernel[1] < 1 || stride[0] < 1 || stride[1] < 1) {
    throw Error(where + ": kernel and stride must be positive");
  }
  if (padding[0] < 0 || padding[1] < 0 || 2 * padding[0] > kernel[0] ||
      2 * padding[1] > kernel[1]) {
    throw Error(where + ": padding must be between 0 and half the kernel");
  }
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t Ho =
      H + 2 * padding[0] < kernel[0] ? 0 : (H + 2 * padding[0] - kernel[0]) / stride[0] + 1;
  const int64_t Wo =
      W + 2 * padding[1] < kernel[1] ? 0 : (W + 2 * padding[1] - kernel[1]) / stride[1] + 1;
  if (Ho <= 0 || Wo <= 0) throw Error(where + ": the output would be empty");
  return {H, W, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], Ho, Wo};
}

bool is_2x2(const kernels::PoolGeometry& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
}

}  // namespace

Tensor max_pool2d(const Tensor& x0, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding) {
  const Tensor x = pool_input(x0, "max_pool2d");
  const kernels::PoolGeometry g = pool_geometry(x, kernel, stride, padding, "max_pool2d");
  const int64_t N = x.size(0), C = x.size(1), planes = N * C;
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty({N, C, g.Ho, g.Wo}, x.dtype());
  const bool grad = needs_grad({&x});
  // 2x2 pooling records each window's winner for the backward (a byte per output), so the graph
  // keeps that instead of the input; other windows keep the input and search it again.
  const bool coded = is_2x2(g);
  Tensor code = grad && coded ? empty({N, C, g.Ho, g.Wo}, DType::u8) : Tensor();
  dispatch_real(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data_ptr<T>();
    T* py = out.data_ptr<T>();
    std::uint8_t* pc = code.defined() ? code.data_ptr<std::uint8_t>() : nullptr;
    for_each_plane(planes, g.H * g.W, [&](int64_t p) {
      const int64_t in = p * g.H * g.W, o = p * g.Ho * g.Wo;
      if (coded) {
        kernels::max_pool2d_2x2_plane(px + in, g.H, g.W, py + o, pc ? pc + o : nullptr);
      } else {
        kernels::max_pool2d_plane(px + in, g, py + o);
      }
    });
  });
  if (grad) {
    record("max_pool2d", out, {x},
           [saved = coded ? code : xc, shape = xc.shape(), dt = xc.dtype(), coded, g,
            planes](const Tensor& grad_out) {
             Tensor dx = empty(shape, dt);
             const Tensor gc = (grad_out.dtype() == dt ? grad_out : grad_out.to(dt)).contiguous();
             if (coded) {
               ops_detail::max_pool2d_2x2_backward_planes(gc, saved, planes, g.H, g.W, dx);
               return std::vector<Tensor>{dx};
             }
             dispatch_real(dt, [&](auto tag) {
               using T = decltype(tag);
               const T* pg = gc.data_ptr<T>();
               T* pdx = dx.data_ptr<T>();
               for_each_plane(planes, g.H * g.W, [&](int64_t p) {
                 const int64_t in = p * g.H * g.W, o = p * g.Ho * g.Wo;
                 kernels::max_pool2d_backward_plane(saved.data_ptr<T>() + in, pg + o, g, pdx + in);
               });
             });
             return std::vector<Tensor>{dx};
           });
  }
  return out;
}

void ops_detail::max_pool2d_2x2_backward_planes(const Tensor& g, const Tensor& code, int64_t planes,
                                                int64_t H, int64_t W, Tensor& dx) {
  const int64_t in = H * W, out = (H / 2) * (W / 2);
  const std::uint8_t* pc = code.data_ptr<std::uint8_t>();
  dispatch_real(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data_ptr<T>();
    T* pdx = dx.data_ptr<T>();
    for_each_plane(planes, in, [&](int64_t p) {
      kernels::max_pool2d_2x2_backward_plane(pc + p * out, pg + p * out, H, W, pdx + p * in);
    });
  });
}

Tensor avg_pool2d(const Tensor& x0, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding) {
  const Tensor x = pool_input(x0, "avg_pool2d");
  const kernels::PoolGeometry g = pool_geometry(x, kernel, stride, padding, "avg_pool2d");
  const int64_t N = x.size(0), C = x.size(1), planes = N * C;
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty({N, C, g.Ho, g.Wo}, x.dtype());
  dispatch_real(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data_ptr<T>();
    T* py = out.data_ptr<T>();
    for_each_plane(planes, g.H * g.W, [&](int64_t p) {
      kernels::avg_pool2d_plane(px + p * g.H * g.W, g, py + p * g.Ho * g.Wo);
    });
  });
  if (needs_grad({&x})) {
    record("avg_pool2d", out, {x},
           [g, planes, shape = x.shape(), dt = x.dtype()](const Tensor& grad) {
             Tensor dx = empty(shape, dt);
             const Tensor gc = (grad.dtype() == dt ? grad : grad.to(dt)).contiguous();
             dispatch_real(dt, [&](auto tag) {
               using T = decltype(tag);
               const T* pg = gc.data_ptr<T>();
               T* pdx = dx.data_ptr<T>();
               for_each_plane(planes, g.H * g.W, [&](int64_t p) {
                 kernels::avg_pool2d_backward_plane(pg + p * g.Ho * g.Wo, g, pdx + p * g.H * g.W);
               });
             });
             return std::vector<Tensor>{dx};
           });
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x0, std::array<int64_t, 2> output_size) {
  const Tensor x = pool_input(x0, "adaptive_avg_pool2d");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = output_size[0], Wo = output_size[1];
  if (Ho <= 0 || Wo <= 0 || H <= 0 || W <= 0) {
    throw Error("adaptive_avg_pool2d: input " + shape_str(x.shape()) + " and output size " +
                pair_str(output_size) + " must be positive");
  }
  const int64_t planes = N * C;
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty({N, C, Ho, Wo}, x.dtype());
  dispatch_real(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data_ptr<T>();
    T* py = out.data_ptr<T>();
    for_each_plane(planes, H * W, [&](int64_t p) {
      kernels::adaptive_avg_pool2d_plane(px + p * H * W, H, W, Ho, Wo, py + p * Ho * Wo);
    });
  });
  if (needs_grad({&x})) {
    record("adaptive_avg_pool2d", out, {x},
           [H, W, Ho, Wo, planes, shape = x.shape(), dt = x.dtype()](const Tensor& grad) {
             Tensor dx = empty(shape, dt);
             const Tensor gc = (grad.dtype() == dt ? grad : grad.to(dt)).contiguous();
             dispatch_real(dt, [&](auto tag) {
               using T = decltype(tag);
               const T* pg = gc.data_ptr<T>();
               T* pdx = dx.data_ptr<T>();
               for_each_plane(planes, H * W, [&](int64_t p) {
                 kernels::adaptive_avg_pool2d_backward_plane(pg + p * Ho * Wo, H, W, Ho, Wo,
                                                             pdx + p * H * W);
               });
             });
             return std::vector<Tensor>{dx};
           });
  }
  return out;
}

}  // namespace ember
