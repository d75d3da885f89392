// conv2d: lowered onto the fast gemm through im2col, forward and backward side by side; 3x3
// stride-1 layers take Winograd (kernels/winograd) or, with one input channel, the direct kernels
// (kernels/conv_direct). EMBER_CONV_IM2COL=1 forces im2col everywhere (A/B timing).
//
// With P = Ho*Wo pixels and K = C/groups * kh * kw, image n's columns cols[K, P] (im2col) turn
// the convolution of each group into a product with its weight w_g[Og, K]:
//   forward    y_n[Og, P] = w_g * cols + bias     (or (cols^T * w_g^T)^T + bias; see below)
//   backward   dw^T[K, Og] += cols * dy_n^T,   dcols[K, P] = w_g^T * dy_n,  dx_n = col2im(dcols)
// Images run in parallel, each thread with its own reused buffers. The weight gradient is summed
// per block of images (blocks fixed by the batch size, never by the thread count), then over the
// blocks in order, so the result is the same to the bit whatever the number of threads.
#include "ember/ops/conv.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/ops/elementwise.hpp"
#include "kernels/conv.hpp"
#include "kernels/conv_direct.hpp"
#include "kernels/conv_pooled_grad.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/winograd.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;

namespace {

using ops_detail::dispatch_real;
using ops_detail::pair_str;

struct ConvShape {
  kernels::ConvGeometry g;  // per group: g.C = C / groups
  int64_t N, O, groups;
  int64_t Cin() const { return g.C * groups; }
  int64_t Og() const { return O / groups; }
  int64_t K() const { return g.rows(); }
  int64_t P() const { return g.pixels(); }
  // A 1x1 kernel with stride 1 and no padding reads the image as it is: no im2col needed.
  bool pointwise() const {
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  }
};

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  } else {
    kernels::dgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  }
}

// Per-thread scratch buffers, grow-only, so a steady stream of calls allocates nothing. Each
// starts on a 64-byte boundary, as tensors' storage does: a vector's own data is only 16-byte
// aligned (malloc), and the kernels' 32-byte loads at 32-byte offsets from it would then
// straddle cache lines at every other one.
enum Slot { kCols, kPadded, kProduct, kWinograd, kPartials, kTransformed, kSlots };
template <class T>
T* scratch(Slot slot, int64_t count) {
  thread_local std::array<std::vector<T>, kSlots> buffers;
  auto& b = buffers[slot];
  constexpr int64_t kRoom = 64 / sizeof(T);
  if (static_cast<int64_t>(b.size()) < count + kRoom) b.resize(static_cast<size_t>(count + kRoom));
  const auto misalign = reinterpret_cast<std::uintptr_t>(b.data()) % 64;
  return b.data() + (misalign != 0 ? (64 - misalign) / sizeof(T) : 0);
}

// The columns [K, P] of image n's group gi: x itself for a pointwise convolution, else im2col
// into this thread's buffer.
template <class T>
const T* image_columns(const T* x, const ConvShape& s, int64_t n, int64_t gi) {
  const T* xg = x + (n * s.Cin() + gi * s.g.C) * s.g.H * s.g.W;
  if (s.pointwise()) return xg;
  T* cols = scratch<T>(kCols, s.K() * s.P());
  kernels::im2col(xg, s.g, cols, s.P(), scratch<T>(kPadded, kernels::im2col_padded_size(s.g)));
  return cols;
}

// x: [N, Cin, H, W], w: [O, C, kh, kw], bias: [O] or null -> y: [N, O, Ho, Wo].
// Per image and group, either y_g[Og, P] = w_g * cols, written in place over the bias, or
// yt[P, Og] = cols^T * w_g^T, then y_g = yt^T + bias. The second runs the gemm faster (many rows,
// a few full column panels, the small weight packed once) but costs a transposing pass, which
// pays off only when each output sums enough products (K).
template <class T>
void conv_forward(const T* x, const T* w, const T* bias, const ConvShape& s, T* y) {
  const int64_t Og = s.Og(), K = s.K(), P = s.P();
  const bool transposed = K >= 64;
  for_each_unit(s.N, [&](int64_t n) {
    T* yt = transposed ? scratch<T>(kProduct, P * Og) : nullptr;
    for (int64_t gi = 0; gi < s.groups; ++gi) {
      const T* cols = image_columns(x, s, n, gi);
      T* yg = y + (n * s.O + gi * Og) * P;
      if (!transposed) {
        T beta = T(0);
        if (bias != nullptr) {
          for (int64_t o = 0; o < Og; ++o)
            std::fill(yg + o * P, yg + (o + 1) * P, bias[gi * Og + o]);
          beta = T(1);
        }
        gemm<T>(false, false, Og, P, K, w + gi * Og * K, K, cols, P, beta, yg, P);
        continue;
      }
      gemm<T>(true, true, P, Og, K, cols, P, w + gi * Og * K, K, T(0), yt, Og);
      // y_g[o, p] = yt[p, o] + bias, in blocks of pixels whose rows of yt stay in L1
      constexpr int64_t kPixels = 32;
      for (int64_t p0 = 0; p0 < P; p0 += kPixels) {
        const int64_t p1 = std::min(P, p0 + kPixels);
        for (int64_t o = 0; o < Og; ++o) {
          const T b = bias != nullptr ? bias[gi * Og + o] : T(0);
          T* __restrict out = yg + o * P;
          const T* __restrict in = yt + o;
          for (int64_t p = p0; p < p1; ++p) out[p] = in[p * Og] + b;
        }
      }
    }
  });
}

// Images per backward block: the blocks' weight-gradient partials are summed in block order.
// Depends on the batch size only, never on the thread count.
int64_t block_images(const ConvShape& s) { return std::max<int64_t>(1, (s.N + 31) / 32); }

// db[o] = the sum over n and pixels of dy[n, o, :], for each channel o in a fixed order (8 lanes,
// n and pixels in order, then a tree); with Relu, dy counts only where relu (the layer's output
// after a ReLU) is > 0. Every dy is loaded and the mask is a select, not a branch: the compiler
// vectorises it (a branch per float mispredicted half the time, and kept the loop scalar).
// Channels run kSumChannels at a time, image outermost, so dy is read in memory order: a channel
// at a time, 256 rows a page apart, missed the cache at each row and took twice as long.
constexpr int64_t kSumChannels = 32;

template <class T, bool Relu>
void channel_sums(const T* dy, const T* relu, const ConvShape& s, int64_t o0, int64_t o1, T* db) {
  const int64_t P = s.P();
  const auto at = [dy, relu](int64_t i) {
    const T v = dy[i];
    if constexpr (Relu) return relu[i] > T(0) ? v : T(0);
    return v;
  };
  for (int64_t c0 = o0; c0 < o1; c0 += kSumChannels) {
    const int64_t c1 = std::min(o1, c0 + kSumChannels);
    T lanes[kSumChannels][8] = {};
    for (int64_t n = 0; n < s.N; ++n) {
      for (int64_t o = c0; o < c1; ++o) {
        T* l = lanes[o - c0];
        const int64_t row = (n * s.O + o) * P;
        int64_t p = 0;
        for (; p + 8 <= P; p += 8)
          for (int k = 0; k < 8; ++k) l[k] += at(row + p + k);
        for (; p < P; ++p) l[p % 8] += at(row + p);
      }
    }
    for (int64_t o = c0; o < c1; ++o) {
      const T* l = lanes[o - c0];
      db[o] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    }
  }
}

// db[o] = channel_sums for each o, channels in parallel when there is enough to read.
template <class T>
void bias_grad(const T* dy, const ConvShape& s, T* db, const T* relu = nullptr) {
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, s.N * s.P()));
  parallel_for(0, s.O, grain, [&](int64_t o0, int64_t o1) {
    if (relu != nullptr) {
      channel_sums<T, true>(dy, relu, s, o0, o1, db);
    } else {
      channel_sums<T, false>(dy, relu, s, o0, o1, db);
    }
  });
}

// Output floats per image: [O, Ho, Wo], or its 2x2-pooled quarter.
int64_t out_per_image(const ConvShape& s, bool pooled) { return s.O * s.P() / (pooled ? 4 : 1); }

// Gradients given dy: [N, O, Ho, Wo]; dx [N, Cin, H, W], dw [O, C, kh, kw], db [O] (each null
// when not needed; the others are overwritten). Per image and group:
//   dw_block^T[K, Og] += cols * dy_n^T        (dw_blocks: one [K, O] partial per block)
//   dcols[K, P] = w_g^T * dy_n,  dx_n = col2im(dcols)
// then dw = the sum of the partials in block order, transposed.
template <class T>
void conv_backward(const T* x, const T* w, const T* dy, const ConvShape& s, T* dx, T* dw, T* db,
                   T* dw_blocks) {
  const int64_t Og = s.Og(), K = s.K(), P = s.P(), HW = s.g.H * s.g.W;
  const int64_t per_block = block_images(s);
  const int64_t blocks = (s.N + per_block - 1) / per_block;
  for_each_unit(blocks, [&](int64_t u) {
    const int64_t n0 = u * per_block, n1 = std::min(s.N, n0 + per_block);
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t gi = 0; gi < s.groups; ++gi) {
        const T* gy = dy + (n * s.O + gi * Og) * P;
        if (dw != nullptr) {
          const T* cols = image_columns(x, s, n, gi);
          gemm<T>(false, true, K, Og, P, cols, P, gy, P, n == n0 ? T(0) : T(1),
                  dw_blocks + u * K * s.O + gi * Og, s.O);
        }
        if (dx != nullptr) {
          T* dxg = dx + (n * s.Cin() + gi * s.g.C) * HW;
          if (s.pointwise()) {
            gemm<T>(true, false, K, P, Og, w + gi * Og * K, K, gy, P, T(0), dxg, P);
          } else {
            T* dcols = scratch<T>(kProduct, K * P);
            gemm<T>(true, false, K, P, Og, w + gi * Og * K, K, gy, P, T(0), dcols, P);
            std::fill(dxg, dxg + s.g.C * HW, T(0));
            kernels::col2im_add(dcols, s.g, dxg, P);
          }
        }
      }
    }
  });
  if (dw != nullptr) {
    // dw[o, k] = sum over blocks of dw_blocks[u][k, o], blocks in order
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t k = 0; k < K; ++k) {
        T acc = dw_blocks[k * s.O + o];
        for (int64_t u = 1; u < blocks; ++u) acc += dw_blocks[(u * K + k) * s.O + o];
        dw[o * K + k] = acc;
      }
  }
  if (db != nullptr) bias_grad(dy, s, db);
}

// ---- 3x3 stride-1 convolutions of enough channels: Winograd F(2x2, 3x3) (kernels/winograd) ----

// Whether conv2d takes the Winograd path: f32, a 3x3 kernel with stride and dilation 1, one group,
// padding up to 2, and enough channels for its small products to pay (a one-channel first layer
// stays on im2col).
bool use_winograd(const ConvShape& s, DType dt) {
  static const bool off = std::getenv("EMBER_CONV_IM2COL") != nullptr;  // for A/B timing
  return !off && dt == DType::f32 &&
         kernels::winograd_applies(s.g.kh, s.g.kw, s.g.sh, s.g.sw, s.g.dh, s.g.dw, s.groups, s.g.ph,
                                   s.g.pw, s.g.H, s.g.W) &&
         s.g.C >= 4 && s.O >= 4;
}

kernels::WinogradGeometry winograd_geometry(const ConvShape& s) {
  return {s.g.C, s.O, s.g.H, s.g.W, s.g.ph, s.g.pw};
}

// Images per Winograd call: 2, or 3 where a call's tile columns would otherwise not fill the
// products' 24-column blocks (fewer than 48) and three images' transforms still fit the
// scratch budget (in L2: the MNIST CNN's second layer takes about 300 KB for two). Fixed by the
// layer's shape, never by the thread count.
constexpr int64_t kWinogradScratchBudget = 400 * 1024;
int64_t winograd_call_images(const ConvShape& s) {
  const int64_t tiles = winograd_geometry(s).tiles();
  const int64_t bytes_per_image = 16 * (s.g.C + s.O) * tiles * static_cast<int64_t>(sizeof(float));
  return 2 * tiles < 48 && 3 * bytes_per_image <= kWinogradScratchBudget ? 3 : 2;
}

// Images per backward block, whose transformed-weight gradient is one partial sum: fixed by the
// batch size, never by the thread count.
int64_t winograd_block_images(const ConvShape& s) {
  const int64_t k = winograd_call_images(s);
  return std::max<int64_t>(k, (s.N + 31) / 32 / k * k);
}

// x: [N, C, H, W], w: [O, C, 3, 3], bias: [O] or null -> y: [N, O, Ho, Wo]; with code, the 2x2
// max pool of that instead: y and code [N, O, Ho/2, Wo/2].
void winograd_conv_forward(const float* x, const float* w, const float* bias, const ConvShape& s,
                           float* y, std::uint8_t* code = nullptr, bool relu = false) {
  const kernels::WinogradGeometry g = winograd_geometry(s);
  float* u = scratch<float>(kTransformed, 16 * s.O * s.g.C);  // the caller's; workers read it
  kernels::winograd_weights(w, g, u);
  const int64_t per_call = winograd_call_images(s);
  const int64_t units = (s.N + per_call - 1) / per_call;
  const int64_t in = s.g.C * s.g.H * s.g.W, out = out_per_image(s, code != nullptr);
  for_each_unit(units, [&](int64_t unit) {
    const int64_t n0 = unit * per_call, n = std::min(per_call, s.N - n0);
    float* scratch_buf = scratch<float>(kWinograd, kernels::winograd_scratch_size(g, n));
    kernels::winograd_forward(x + n0 * in, u, bias, g, n, y + n0 * out, scratch_buf,
                              code != nullptr ? code + n0 * out : nullptr, relu);
  });
}

// Gradients given dy [N, O, Ho, Wo] (with code: the pooled gradient [N, O, Ho/2, Wo/2]): dx
// [N, C, H, W], dw [O, C, 3, 3] (each null when not needed). Per block, the transformed-weight
// gradient partial (pooled: dw's own and db's, from kernels/conv_pooled_grad, which writes the
// block's dx too); then their sum in block order. Returns whether it wrote db [O] too (asked for
// with db not null; the pooled path sums it from the same windows, sparing the caller a pass over
// the gradient).
bool winograd_conv_backward(const float* x, const float* w, const float* dy, const ConvShape& s,
                            float* dx, float* dw, const std::uint8_t* code = nullptr,
                            const float* relu = nullptr, float* db = nullptr) {
  const kernels::WinogradGeometry g = winograd_geometry(s);
  const int64_t UC = 16 * s.O * s.g.C;
  const int64_t per_call = winograd_call_images(s), per_block = winograd_block_images(s);
  const int64_t blocks = (s.N + per_block - 1) / per_block;
  // Pooled: dw and dx straight from the pooled gradient (kernels/conv_pooled_grad), whose windows
  // pass one element's gradient each, rather than Winograd's backward; the partials are then dw's
  // own. (its copies of an image index in int32)
  const bool pooled =
      code != nullptr && kernels::pooled_conv_grad_scratch_size(g) < (int64_t{1} << 31);
  // the transformed weights (Winograd's u, or the pooled dx's transposed ones; the caller's:
  // workers read them)
  float* u = nullptr;
  if (!pooled) {
    u = scratch<float>(kTransformed, UC);
    kernels::winograd_weights(w, g, u);
  } else if (dx != nullptr) {
    u = scratch<float>(kTransformed, kernels::pooled_conv_grad_weights_size(g));
    kernels::pooled_conv_grad_weights(w, g, u);
  }
  const int64_t part = pooled ? kernels::pooled_conv_grad_partial_size(g) : UC;
  // the caller's grow-only buffer (not a fresh, zeroed 1 MB per call): each block's first call
  // overwrites its partial
  float* partials = dw != nullptr ? scratch<float>(kPartials, blocks * part) : nullptr;
  const int64_t in = s.g.C * s.g.H * s.g.W, out = out_per_image(s, code != nullptr);
  for_each_unit(blocks, [&](int64_t b) {
    const int64_t b0 = b * per_block, b1 = std::min(s.N, b0 + per_block);
    if (pooled) {  // the whole block in one call (it fetches each next image ahead)
      float* buf = scratch<float>(kPadded, kernels::pooled_conv_grad_scratch_size(g));
      kernels::pooled_conv_grad(dw != nullptr ? x + b0 * in : nullptr, u, dy + b0 * out,
                                code + b0 * out, relu != nullptr ? relu + b0 * out : nullptr, g,
                                b1 - b0, dw != nullptr ? partials + b * part : nullptr, false,
                                dx != nullptr ? dx + b0 * in : nullptr, buf);
      return;
    }
    for (int64_t n0 = b0; n0 < b1; n0 += per_call) {
      const int64_t n = std::min(per_call, b1 - n0);
      const std::uint8_t* call_code = code != nullptr ? code + n0 * out : nullptr;
      const float* call_relu = relu != nullptr ? relu + n0 * out : nullptr;
      float* scratch_buf = scratch<float>(kWinograd, kernels::winograd_scratch_size(g, n));
      kernels::winograd_backward(x != nullptr ? x + n0 * in : nullptr, u, dy + n0 * out, g, n,
                                 dx != nullptr ? dx + n0 * in : nullptr,
                                 dw != nullptr ? partials + b * part : nullptr, n0 > b0,
                                 scratch_buf, call_code, call_relu);
    }
  });
  if (dw != nullptr) {
    for (int64_t b = 1; b < blocks; ++b) {
      const float* p = partials + b * part;
      for (int64_t k = 0; k < part; ++k) partials[k] += p[k];
    }
    if (pooled) {
      kernels::pooled_conv_grad_finish(partials, g, dw, db);
      return db != nullptr;
    }
    kernels::winograd_weights_backward(partials, g, dw);
  }
  return false;
}

// ---- a one-channel 3x3 first layer: the direct kernels (kernels/conv_direct) ----

// Whether conv2d takes the direct path: f32, one input channel, 3x3, stride and dilation 1, one
// group, padding up to 2, and AVX2 (without it im2col + gemm is faster than plain loops).
bool use_direct(const ConvShape& s, DType dt) {
  static const bool off = std::getenv("EMBER_CONV_IM2COL") != nullptr;  // for A/B timing
  return !off && dt == DType::f32 && kernels::active_isa() != kernels::Isa::generic &&
         kernels::conv3x3_single_channel_applies(s.g.C, s.groups, s.g.kh, s.g.kw, s.g.sh, s.g.sw,
                                                 s.g.dh, s.g.dw, s.g.ph, s.g.pw, s.g.H, s.g.W);
}

kernels::DirectGeometry direct_geometry(const ConvShape& s) {
  return {s.O, s.g.H, s.g.W, s.g.ph, s.g.pw};
}

// Images per direct call (the forward's unit of work and the backward's fixed partial-sum block).
int64_t direct_block_images(const ConvShape& s) { return std::max<int64_t>(1, (s.N + 31) / 32); }

// x: [N, 1, H, W], w: [O, 1, 3, 3], bias: [O] or null -> y: [N, O, Ho, Wo]; with code, the 2x2
// max pool of that instead: y and code [N, O, Ho/2, Wo/2].
void direct_conv_forward(const float* x, const float* w, const float* bias, const ConvShape& s,
                         float* y, std::uint8_t* code = nullptr, bool relu = false) {
  const kernels::DirectGeometry g = direct_geometry(s);
  constexpr int64_t kImages = 4;
  const int64_t units = (s.N + kImages - 1) / kImages;
  const int64_t in = s.g.H * s.g.W, out = out_per_image(s, code != nullptr);
  for_each_unit(units, [&](int64_t unit) {
    const int64_t n0 = unit * kImages, n = std::min(kImages, s.N - n0);
    float* buf = scratch<float>(kPadded, kernels::conv3x3_single_channel_scratch_size(g, n));
    kernels::conv3x3_single_channel_forward(x + n0 * in, w, bias, g, n, y + n0 * out, buf,
                                            code != nullptr ? code + n0 * out : nullptr, relu);
  });
}

// Given dy [N, O, Ho, Wo] (with code: the pooled gradient [N, O, Ho/2, Wo/2]): dw [O, 1, 3, 3]
// and db [O] (either null when not needed). Per block of images one [O, 10] partial, then their
// sum in block order.
void direct_conv_backward(const float* x, const float* dy, const ConvShape& s, float* dw, float* db,
                          const std::uint8_t* code = nullptr, const float* relu = nullptr) {
  const kernels::DirectGeometry g = direct_geometry(s);
  const int64_t per_block = direct_block_images(s);
  const int64_t blocks = (s.N + per_block - 1) / per_block;
  // the caller's grow-only buffer: each block's call overwrites its partial
  float* partials = scratch<float>(kPartials, blocks * s.O * 10);
  const int64_t in = s.g.H * s.g.W, out = out_per_image(s, code != nullptr);
  for_each_unit(blocks, [&](int64_t b) {
    const int64_t n0 = b * per_block, n = std::min(per_block, s.N - n0);
    float* buf = scratch<float>(kPadded, kernels::conv3x3_single_channel_scratch_size(g, n));
    kernels::conv3x3_single_channel_backward(
        x + n0 * in, dy + n0 * out, g, n, partials + b * s.O * 10, buf,
        code != nullptr ? code + n0 * out : nullptr, relu != nullptr ? relu + n0 * out : nullptr);
  });
  for (int64_t o = 0; o < s.O; ++o)
    for (int k = 0; k < 10; ++k) {
      float acc = partials[o * 10 + k];
      for (int64_t b = 1; b < blocks; ++b) acc += partials[(b * s.O + o) * 10 + k];
      if (k < 9 && dw != nullptr) dw[o * 9 + k] = acc;
      if (k == 9 && db != nullptr) db[o] = acc;
    }
}

// conv2d's checked arguments, in the promoted dtype, and its shape.
struct ConvArgs {
  Tensor x, w, b;  // converted to dt
  DType dt;
  ConvShape s;
};

ConvArgs conv_args(const Tensor& x0, const Tensor& w0, const Tensor& b0,
                   std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                   std::array<int64_t, 2> dilation, int64_t groups) {
  const std::string xs = shape_str(x0.shape()), ws = shape_str(w0.shape());
  if (x0.rank() != 4) throw Error("conv2d: input must be [N, C, H, W], got " + xs);
  if (w0.rank() != 4) throw Error("conv2d: weight must be [O, C/groups, kh, kw], got " + ws);
  if (groups < 1) throw Error("conv2d: groups must be positive, got " + std::to_string(groups));
  if (stride[0] < 1 || stride[1] < 1 || dilation[0] < 1 || dilation[1] < 1 || padding[0] < 0 ||
      padding[1] < 0) {
    throw Error("conv2d: stride " + pair_str(stride) + " and dilation " + pair_str(dilation) +
                " must be positive and padding " + pair_str(padding) + " not negative");
  }
  const int64_t N = x0.size(0), Cin = x0.size(1), H = x0.size(2), W = x0.size(3);
  const int64_t O = w0.size(0), C = w0.size(1), kh = w0.size(2), kw = w0.size(3);
  if (Cin % groups != 0 || O % groups != 0) {
    throw Error("conv2d: groups " + std::to_string(groups) + " must divide the input channels of " +
                xs + " and the output channels of weight " + ws);
  }
  if (C * groups != Cin) {
    throw Error("conv2d: input " + xs + " has " + std::to_string(Cin) + " channels, weight " + ws +
                " expects " + std::to_string(C * groups));
  }
  if (b0.defined() && (b0.rank() != 1 || b0.size(0) != O)) {
    throw Error("conv2d: bias " + shape_str(b0.shape()) + " does not match weight " + ws +
                " (expected [" + std::to_string(O) + "])");
  }
  const int64_t Ho = kernels::conv_out_size(H, kh, stride[0], padding[0], dilation[0]);
  const int64_t Wo = kernels::conv_out_size(W, kw, stride[1], padding[1], dilation[1]);
  if (Ho <= 0 || Wo <= 0 || kh <= 0 || kw <= 0) {
    throw Error("conv2d: input " + xs + " is too small for weight " + ws + " with padding " +
                pair_str(padding) + " and dilation " + pair_str(dilation) +
                ": the output would be empty");
  }
  DType dt = promote_types(x0.dtype(), w0.dtype());
  if (b0.defined()) dt = promote_types(dt, b0.dtype());
  if (!is_floating(dt)) dt = DType::f32;
  return {x0.dtype() == dt ? x0 : x0.to(dt),
          w0.dtype() == dt ? w0 : w0.to(dt),
          !b0.defined() || b0.dtype() == dt ? b0 : b0.to(dt),
          dt,
          {{C, H, W, kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
            Ho, Wo},
           N,
           O,
           groups}};
}

// What a conv2d node keeps for its backward. code: defined for conv2d_max_pool2x2's fused node,
// whose incoming gradient is the pooled one; relu_out: its output when it applied ReLU too
// (the pooled ReLU outputs: where one is 0 no gradient passes, as through relu()'s node).
struct ConvSaved {
  Tensor xs, ws, code, relu_out;
  ConvShape s;
  DType dt;
  bool need_x, need_w, has_b, need_b;
};

std::vector<Tensor> conv_backward_node(const ConvSaved& v, const Tensor& g) {
  const ConvShape& s = v.s;
  const DType dt = v.dt;
  Tensor dx = v.need_x ? empty({s.N, s.Cin(), s.g.H, s.g.W}, dt) : Tensor();
  Tensor dw = v.need_w ? empty({s.O, s.g.C, s.g.kh, s.g.kw}, dt) : Tensor();
  Tensor db = v.need_b ? empty({s.O}, dt) : Tensor();
  const auto grads = [&] {
    std::vector<Tensor> out{dx, dw};
    if (v.has_b) out.push_back(db);
    return out;
  };
  if (s.N * s.O * s.P() == 0) {
    for (Tensor* z : {&dx, &dw, &db})
      if (z->defined()) z->zero_();
    return grads();
  }
  Tensor gc = (g.dtype() == dt ? g : g.to(dt)).contiguous();
  const std::uint8_t* code = v.code.defined() ? v.code.data_ptr<std::uint8_t>() : nullptr;
  // ReLU's backward folded into the pooled kernels (they read the output and count the pooled
  // gradient only where it is > 0, and so does the bias sum) where they alone read the gradient:
  // the Winograd path, and the direct one when it computes dw (and db) only: a pass over the
  // pooled gradient less.
  const bool fold_relu = v.relu_out.defined() && code != nullptr &&
                         (use_winograd(s, dt) || (use_direct(s, dt) && v.need_w && !v.need_x));
  const float* relu = fold_relu ? v.relu_out.data_ptr<float>() : nullptr;
  if (v.relu_out.defined() && !fold_relu) {  // ReLU's backward first: where(out > 0, g, 0)
    gc = ops_detail::relu_backward(gc, v.relu_out);
  }
  if (use_winograd(s, dt)) {
    const float* pg = gc.data_ptr<float>();
    const bool db_done = winograd_conv_backward(
        v.need_w ? v.xs.data_ptr<float>() : nullptr, v.ws.data_ptr<float>(), pg, s,
        v.need_x ? dx.data_ptr<float>() : nullptr, v.need_w ? dw.data_ptr<float>() : nullptr, code,
        relu, v.need_b ? db.data_ptr<float>() : nullptr);
    if (v.need_b && !db_done) {
      // pooled: the sum of the pooled gradient, which holds every nonzero of the full-size one
      // (summed in another order, so equal within rounding, not to the bit)
      ConvShape pooled = s;
      if (code != nullptr) pooled.g.Ho /= 2, pooled.g.Wo /= 2;
      bias_grad(pg, pooled, db.data_ptr<float>(), relu);
    }
    return grads();
  }
  if (use_direct(s, dt)) {
    // dw and db from the direct kernel; dx (rarely wanted of a first layer) by im2col's
    // transposed product
    const float* pg = gc.data_ptr<float>();
    Tensor dense;  // the full-size gradient, rebuilt only when dx or db alone needs it
    const auto dense_grad = [&]() -> const float* {
      if (code == nullptr) return pg;
      if (!dense.defined()) {
        dense = empty({s.N, s.O, s.g.Ho, s.g.Wo}, DType::f32);
        ops_detail::max_pool2d_2x2_backward_planes(gc, v.code, s.N * s.O, s.g.Ho, s.g.Wo, dense);
      }
      return dense.data_ptr<float>();
    };
    if (v.need_w) {
      direct_conv_backward(v.xs.data_ptr<float>(), pg, s, dw.data_ptr<float>(),
                           v.need_b ? db.data_ptr<float>() : nullptr, code, relu);
    } else if (v.need_b) {
      bias_grad(dense_grad(), s, db.data_ptr<float>());
    }
    if (v.need_x)
      conv_backward<float>(nullptr, v.ws.data_ptr<float>(), dense_grad(), s, dx.data_ptr<float>(),
                           nullptr, nullptr, nullptr);
    return grads();
  }
  const int64_t blocks = (s.N + block_images(s) - 1) / block_images(s);
  Tensor dw_blocks = v.need_w ? empty({blocks, s.O * s.K()}, dt) : Tensor();
  dispatch_real(dt, [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; };
    auto mut = [](Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; };
    conv_backward<T>(ptr(v.xs), ptr(v.ws), gc.data_ptr<T>(), s, mut(dx), mut(dw), mut(db),
                     mut(dw_blocks));
  });
  return grads();
}

// Records the node of conv2d (code undefined) or of the fused conv2d + 2x2 max pool.
void record_conv(const char* name, Tensor& out, const ConvArgs& a, const Tensor& xc,
                 const Tensor& wc, const Tensor& code, bool relu = false) {
  std::vector<Tensor> inputs{a.x, a.w};
  if (a.b.defined()) inputs.push_back(a.b);
  if (!needs_grad(inputs)) return;
  ConvSaved v;
  v.need_x = a.x.requires_grad();
  v.need_w = a.w.requires_grad();
  v.has_b = a.b.defined();
  v.need_b = v.has_b && a.b.requires_grad();
  v.s = a.s;
  v.dt = a.dt;
  // dx needs only the weight, dw only the input: keep no more alive than the backward reads
  if (v.need_w) v.xs = xc;
  if (v.need_x || use_winograd(a.s, a.dt)) v.ws = wc;
  v.code = code;
  if (relu) v.relu_out = out.detach();
  record(name, out, inputs,
         [v = std::move(v)](const Tensor& g) { return conv_backward_node(v, g); });
}

}  // namespace

Tensor conv2d(const Tensor& x0, const Tensor& w0, const Tensor& b0, std::array<int64_t, 2> stride,
              std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, int64_t groups) {
  const ConvArgs a = conv_args(x0, w0, b0, stride, padding, dilation, groups);
  const ConvShape& s = a.s;
  const DType dt = a.dt;
  const Tensor xc = a.x.detach().contiguous(), wc = a.w.detach().contiguous();
  const Tensor bc = a.b.defined() ? a.b.detach().contiguous() : Tensor();
  Tensor out = empty({s.N, s.O, s.g.Ho, s.g.Wo}, dt);
  if (out.numel() > 0) {
    dispatch_real(dt, [&](auto tag) {
      using T = decltype(tag);
      const T* pb = bc.defined() ? bc.data_ptr<T>() : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        if (use_winograd(s, dt)) {
          winograd_conv_forward(xc.data_ptr<T>(), wc.data_ptr<T>(), pb, s, out.data_ptr<T>());
          return;
        }
        if (use_direct(s, dt)) {
          direct_conv_forward(xc.data_ptr<T>(), wc.data_ptr<T>(), pb, s, out.data_ptr<T>());
          return;
        }
      }
      conv_forward<T>(xc.data_ptr<T>(), wc.data_ptr<T>(), pb, s, out.data_ptr<T>());
    });
  }
  record_conv("conv2d", out, a, xc, wc, Tensor());
  return out;
}

Tensor conv2d_max_pool2x2(const Tensor& x0, const Tensor& w0, const Tensor& b0,
                          std::array<int64_t, 2> padding, bool with_relu) {
  const ConvArgs a = conv_args(x0, w0, b0, {1, 1}, padding, {1, 1}, 1);
  const ConvShape& s = a.s;
  const bool fused = (use_winograd(s, a.dt) || use_direct(s, a.dt)) && s.g.Ho % 2 == 0 &&
                     s.g.Wo % 2 == 0 && s.N * s.O > 0;
  if (!fused) {
    const Tensor y = conv2d(x0, w0, b0, {1, 1}, padding);
    return max_pool2d(with_relu ? relu(y) : y, {2, 2});
  }
  const Tensor xc = a.x.detach().contiguous(), wc = a.w.detach().contiguous();
  const Tensor bc = a.b.defined() ? a.b.detach().contiguous() : Tensor();
  Tensor out = empty({s.N, s.O, s.g.Ho / 2, s.g.Wo / 2}, a.dt);
  Tensor code = empty({s.N, s.O, s.g.Ho / 2, s.g.Wo / 2}, DType::u8);
  const float* pb = bc.defined() ? bc.data_ptr<float>() : nullptr;
  if (use_winograd(s, a.dt)) {
    winograd_conv_forward(xc.data_ptr<float>(), wc.data_ptr<float>(), pb, s, out.data_ptr<float>(),
                          code.data_ptr<std::uint8_t>(), with_relu);
  } else {
    direct_conv_forward(xc.data_ptr<float>(), wc.data_ptr<float>(), pb, s, out.data_ptr<float>(),
                        code.data_ptr<std::uint8_t>(), with_relu);
  }
  record_conv("conv2d_max_pool2x2", out, a, xc, wc, code, with_relu);
  return out;
}

}  // namespace ember
