// matmul and the fused linear layers (x @ w.T + b, and its ReLU), with their backward rules.
#include "ember/ops/linalg.hpp"

#include "ember/ops/elementwise.hpp"
#include "ember/ops/movement.hpp"
#include "ember/ops/reduce.hpp"
#include "kernels/gemm.hpp"
#include "ops/op_utils.hpp"

namespace ember {

using autograd::needs_grad;
using autograd::record;

namespace {

// How a 2-D strided block [rows, cols] at `p` can be read by gemm: row-major with leading
// dimension ld (trans false) or column-major (trans true). False when neither: copy it first.
bool gemm_layout(std::int64_t rows, std::int64_t cols, std::int64_t s0, std::int64_t s1,
                 bool& trans, std::int64_t& ld) {
  if (s1 == 1 || cols == 1) {
    if (rows == 1 || s0 >= cols) {
      trans = false;
      ld = rows == 1 ? cols : s0;
      return true;
    }
  }
  if (s0 == 1 || rows == 1) {
    if (cols == 1 || s1 >= rows) {
      trans = true;
      ld = cols == 1 ? rows : s1;
      return true;
    }
  }
  return false;
}

template <class T>
void gemm_dispatch(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A,
                   std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  } else if constexpr (std::is_same_v<T, double>) {
    kernels::dgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  } else {  // integers: plain loops (rare; no fast path)
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        T acc = beta != T(0) ? C[i * ldc + j] : T(0);
        for (std::int64_t k = 0; k < K; ++k)
          acc += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
        C[i * ldc + j] = acc;
      }
  }
}

// out[M,N] (contiguous, at `c`) = a[M,K] @ b[K,N] for 2-D strided operands of dtype T.
template <class T>
void matmul_2d(const Tensor& a, std::int64_t a_off, const Shape& a_st, const Tensor& b,
               std::int64_t b_off, const Shape& b_st, std::int64_t M, std::int64_t K,
               std::int64_t N, T* c) {
  if (K == 0) {
    for (std::int64_t i = 0; i < M * N; ++i) c[i] = T(0);
    return;
  }
  const T* pa = static_cast<const T*>(a.impl().storage->data()) + a_off;
  const T* pb = static_cast<const T*>(b.impl().storage->data()) + b_off;
  bool ta = false, tb = false;
  std::int64_t lda = 0, ldb = 0;
  // operands that gemm cannot read in place were made contiguous by the caller
  gemm_layout(M, K, a_st[0], a_st[1], ta, lda);
  gemm_layout(K, N, b_st[0], b_st[1], tb, ldb);
  gemm_dispatch<T>(ta, tb, M, N, K, pa, lda, pb, ldb, T(0), c, N);
}

Tensor readable(const Tensor& t) {
  // the last two axes must be readable by gemm; otherwise take a contiguous copy
  const auto r = t.rank();
  bool trans;
  std::int64_t ld;
  const auto& sh = t.shape();
  const auto& st = t.strides();
  if (gemm_layout(sh[static_cast<std::size_t>(r - 2)], sh[static_cast<std::size_t>(r - 1)],
                  st[static_cast<std::size_t>(r - 2)], st[static_cast<std::size_t>(r - 1)], trans,
                  ld)) {
    return t;
  }
  return t.contiguous();
}

// Strides of t read as batch + its last two axes (0 on broadcast batch axes).
Shape stacked_strides(const Tensor& t, const Shape& batch) {
  const std::size_t r = t.shape().size();
  const std::size_t lead = batch.size() - (r - 2);
  Shape st(batch.size() + 2, 0);
  for (std::size_t i = 0; i + 2 < r; ++i) st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  st[batch.size()] = t.strides()[r - 2];
  st[batch.size() + 1] = t.strides()[r - 1];
  return st;
}

// The forward of matmul on operands of rank >= 2 (already promoted to one dtype).
Tensor matmul_forward(const Tensor& a0, const Tensor& b0) {
  const Tensor a = readable(a0.detach()), b = readable(b0.detach());
  const auto ra = static_cast<std::size_t>(a.rank()), rb = static_cast<std::size_t>(b.rank());
  const std::int64_t M = a.shape()[ra - 2], K = a.shape()[ra - 1];
  const std::int64_t K2 = b.shape()[rb - 2], N = b.shape()[rb - 1];
  if (K != K2) {
    throw Error("matmul: inner sizes differ: " + shape_str(a0.shape()) + " x " +
                shape_str(b0.shape()));
  }
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, a.dtype());
  const Shape a_full_st = stacked_strides(a, batch);
  const Shape b_full_st = stacked_strides(b, batch);
  const std::int64_t nb = shape_numel(batch);
  const std::size_t nbd = batch.size();
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* c = static_cast<T*>(out.raw_data());
    std::vector<std::int64_t> idx(nbd, 0);
    for (std::int64_t bi = 0; bi < nb; ++bi) {
      std::int64_t ao = a.offset(), bo = b.offset();
      for (std::size_t d = 0; d < nbd; ++d) {
        ao += idx[d] * a_full_st[d];
        bo += idx[d] * b_full_st[d];
      }
      matmul_2d<T>(a, ao, {a_full_st[nbd], a_full_st[nbd + 1]}, b, bo,
                   {b_full_st[nbd], b_full_st[nbd + 1]}, M, K, N, c + bi * M * N);
      for (std::size_t d = nbd; d-- > 0;) {
        if (++idx[d] < batch[d]) break;
        idx[d] = 0;
      }
    }
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a0, const Tensor& b0) {
  if (a0.rank() == 0 || b0.rank() == 0) {
    throw Error("matmul: both operands need at least one axis, got " + shape_str(a0.shape()) +
                " x " + shape_str(b0.shape()));
  }
  const DType dt = promote_types(a0.dtype(), b0.dtype());
  const Tensor a = a0.dtype() == dt ? a0 : a0.to(dt);
  const Tensor b = b0.dtype() == dt ? b0 : b0.to(dt);
  const bool a_vec = a.rank() == 1, b_vec = b.rank() == 1;
  if ((a_vec ? a.shape()[0] : a.shape().back()) !=
      (b_vec ? b.shape()[0] : b.shape()[static_cast<std::size_t>(b.rank() - 2)])) {
    throw Error("matmul: inner sizes differ: " + shape_str(a0.shape()) + " x " +
                shape_str(b0.shape()));
  }
  const Tensor a2 = a_vec ? a.detach().unsqueeze(0) : a.detach();
  const Tensor b2 = b_vec ? b.detach().unsqueeze(1) : b.detach();
  Tensor out2 = matmul_forward(a2, b2);
  Shape out_shape(out2.shape().begin(), out2.shape().end() - 2);
  if (!a_vec) out_shape.push_back(out2.shape()[out2.shape().size() - 2]);
  if (!b_vec) out_shape.push_back(out2.shape().back());
  Tensor out = out2.shape() == out_shape ? out2 : out2.reshape(out_shape);
  if (needs_grad({&a, &b})) {
    record("matmul", out, {a, b},
           [a2, b2, s2 = out2.shape(), sa = a.shape(), sb = b.shape(), na = a.requires_grad(),
            nb = b.requires_grad()](const Tensor& g) {
             const Tensor g2 = g.reshape(s2);
             Tensor ga, gb;
             if (na) ga = sum_to(matmul(g2, b2.transpose(-1, -2)), a2.shape()).reshape(sa);
             if (nb) gb = sum_to(matmul(a2.transpose(-1, -2), g2), b2.shape()).reshape(sb);
             return std::vector<Tensor>{ga, gb};
           });
  }
  return out;
}

namespace {

// C[B, outf] = x @ w^T (+ bias) (then the ReLU), f32 or f64: the bias and ReLU in the product's
// epilogue (kernels::sgemm_bias_relu).
template <class T>
void linear_product(const T* x, const T* w, const T* bias, std::int64_t B, std::int64_t in,
                    std::int64_t outf, bool relu, T* c) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::sgemm_bias_relu(false, true, B, outf, in, x, in, w, in, 0.0f, c, outf, bias, relu);
  } else if constexpr (std::is_same_v<T, double>) {
    kernels::dgemm_bias_relu(false, true, B, outf, in, x, in, w, in, 0.0, c, outf, bias, relu);
  }
}

Tensor linear_impl(const Tensor& x0, const Tensor& w0, const Tensor& bias0, bool relu) {
  const char* op = relu ? "linear_relu" : "linear";
  if (w0.rank() != 2) {
    throw Error(std::string(op) + ": weight must be [out, in], got " + shape_str(w0.shape()));
  }
  if (x0.rank() < 1 || x0.shape().back() != w0.shape()[1]) {
    throw Error(std::string(op) + ": input " + shape_str(x0.shape()) + " does not match weight " +
                shape_str(w0.shape()) + " (the input's last axis must be " +
                std::to_string(w0.shape()[1]) + ")");
  }
  const std::int64_t in = w0.shape()[1], outf = w0.shape()[0];
  if (bias0.defined() && (bias0.rank() != 1 || bias0.shape()[0] != outf)) {
    throw Error(std::string(op) + ": bias " + shape_str(bias0.shape()) + " does not match weight " +
                shape_str(w0.shape()));
  }
  const DType dt = promote_types(promote_types(x0.dtype(), w0.dtype()),
                                 bias0.defined() ? bias0.dtype() : w0.dtype());
  if (!is_floating(dt)) throw Error(std::string(op) + ": expects floating tensors");
  const Tensor x = x0.dtype() == dt ? x0 : x0.to(dt);
  const Tensor w = w0.dtype() == dt ? w0 : w0.to(dt);
  const Tensor bias = !bias0.defined() || bias0.dtype() == dt ? bias0 : bias0.to(dt);
  const Tensor x2 = x.detach().reshape({-1, in}).contiguous();
  const Tensor wc = w.detach().contiguous();
  const std::int64_t B = x2.shape()[0];
  Tensor out2 = empty({B, outf}, dt);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
    linear_product<T>(static_cast<const T*>(x2.raw_data()), static_cast<const T*>(wc.raw_data()),
                      bc.defined() ? static_cast<const T*>(bc.raw_data()) : nullptr, B, in, outf,
                      relu, static_cast<T*>(out2.raw_data()));
  });
  Shape out_shape = x.shape();
  out_shape.back() = outf;
  Tensor out = x.rank() == 2 ? out2 : out2.reshape(out_shape);
  std::vector<Tensor> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs)) {
    record(op, out, inputs,
           [x2, wc, od = relu ? out2.detach() : Tensor(), has_bias = bias.defined(), sx = x.shape(),
            outf, nx = x.requires_grad(), nw = w.requires_grad(),
            nb = bias.defined() && bias.requires_grad()](const Tensor& g) {
             Tensor g2 = g.reshape({-1, outf});
             if (od.defined()) g2 = ops_detail::relu_backward(g2, od);
             std::vector<Tensor> grads{nx ? matmul(g2, wc).reshape(sx) : Tensor(),
                                       nw ? matmul(g2.t(), x2) : Tensor()};
             if (has_bias) grads.push_back(nb ? sum(g2, 0) : Tensor());
             return grads;
           });
  }
  return out;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  return linear_impl(x, w, bias, false);
}

Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& bias) {
  return linear_impl(x, w, bias, true);
}

}  // namespace ember
