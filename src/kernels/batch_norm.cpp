// Batch normalisation's per-channel loops; see batch_norm.hpp.
//
// One body per loop, written with GCC/Clang vector extensions (4 doubles per vector, 4 vectors =
// 16 lanes, so 4 independent add chains instead of one) and compiled twice: portable, and under
// the avx2 target (without FMA, so both do exactly the same roundings). A float input is widened
// to double 4 at a time for the sums; a float dx is computed in float, 8 lanes at a time.
#include "kernels/batch_norm.hpp"

#include <cstring>
#include <type_traits>

#include "kernels/gemm.hpp"

namespace ember::kernels {
namespace {

using Doubles4 = double __attribute__((vector_size(32)));
using Floats4 = float __attribute__((vector_size(16)));
using Floats8 = float __attribute__((vector_size(32)));
constexpr int64_t kVectors = 4, kLanes = 4 * kVectors;

template <class T>
[[gnu::always_inline]] inline void load4(Doubles4& v, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    Floats4 f;
    std::memcpy(&f, p, sizeof(f));
    v = __builtin_convertvector(f, Doubles4);
  } else {
    std::memcpy(&v, p, sizeof(v));
  }
}

template <class T>
[[gnu::always_inline]] inline void store4(T* p, const Doubles4& v) {
  if constexpr (std::is_same_v<T, float>) {
    const Floats4 f = __builtin_convertvector(v, Floats4);
    std::memcpy(p, &f, sizeof(f));
  } else {
    std::memcpy(p, &v, sizeof(v));
  }
}

// 16 lane sums and a scalar for row tails, combined in a fixed tree.
struct Sum {
  Doubles4 lane[kVectors] = {};
  double tail = 0.0;
  [[gnu::always_inline]] double total() const {
    const Doubles4 s = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
  }
};

// Visits channel c's values: each row's whole 16-lane groups as 4 vectors of 4 doubles
// (vec(v, j), j the vector's place in the group), the rest of the row one by one (one(value)).
template <class T, class Vec, class One>
[[gnu::always_inline]] inline void each_value(const T* x, int64_t N, int64_t C, int64_t S,
                                              int64_t c, Vec vec, One one) {
  for (int64_t n = 0; n < N; ++n) {
    const T* row = x + (n * C + c) * S;
    int64_t i = 0;
    for (; i + kLanes <= S; i += kLanes) {
      for (int64_t j = 0; j < kVectors; ++j) {
        Doubles4 v;
        load4(v, row + i + 4 * j);
        vec(v, j);
      }
    }
    for (; i < S; ++i) one(static_cast<double>(row[i]));
  }
}

template <class T>
[[gnu::always_inline]] inline void stats_body(const T* x, int64_t N, int64_t C, int64_t S,
                                              int64_t c0, int64_t c1, double* mean, double* var) {
  const double count = static_cast<double>(N * S);
  for (int64_t c = c0; c < c1; ++c) {
    Sum s;
    each_value(
        x, N, C, S, c, [&](const Doubles4& v, int64_t j) { s.lane[j] += v; },
        [&](double v) { s.tail += v; });
    const double m = s.total() / count;
    const Doubles4 mv = {m, m, m, m};
    Sum q;
    each_value(
        x, N, C, S, c,
        [&](const Doubles4& v, int64_t j) {
          const Doubles4 d = v - mv;
          q.lane[j] += d * d;
        },
        [&](double v) { q.tail += (v - m) * (v - m); });
    mean[c] = m;
    var[c] = q.total() / count;
  }
}

// g's element at `at`, as a double: 0 where the ReLU cut it (relu_y not null and relu_y <= 0).
template <class T>
[[gnu::always_inline]] inline double grad_at(const T* g, const T* relu_y, int64_t at) {
  if (relu_y != nullptr && !(relu_y[at] > T(0))) return 0.0;
  return static_cast<double>(g[at]);
}

// The same for 4 elements (for float, selected before widening: half the work of a double select).
template <class T>
[[gnu::always_inline]] inline void load_grad4(Doubles4& gv, const T* g, const T* relu_y,
                                              int64_t at) {
  if (relu_y == nullptr) {
    load4(gv, g + at);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    Floats4 gf, yf;
    std::memcpy(&gf, g + at, sizeof(gf));
    std::memcpy(&yf, relu_y + at, sizeof(yf));
    const Floats4 zero = {0.0f, 0.0f, 0.0f, 0.0f};
    gv = __builtin_convertvector(yf > zero ? gf : zero, Doubles4);
  } else {
    Doubles4 yv;
    load4(gv, g + at);
    load4(yv, relu_y + at);
    const Doubles4 zero = {0.0, 0.0, 0.0, 0.0};
    gv = yv > zero ? gv : zero;
  }
}

// Channel c's dx in float, 8 lanes at a time: kc * ((g - mgc) - (x - m) * is * mgxc) with each
// coefficient rounded to float once, and x - m taken as (x - m_hi) - m_lo, m split into two
// floats, so that m's rounding does not shift every x_hat (the sum m_hi + m_lo holds m to about
// 2^-48). Float operations, no FMA: the portable and AVX2 builds round alike. Six float
// roundings per element (and the coefficients' one each) where the double path had one; the
// bound the kernel test derives from them is 7u of the terms' sizes.
[[gnu::always_inline]] inline void dx_float(const float* x, const float* g, const float* relu_y,
                                            int64_t N, int64_t C, int64_t S, int64_t c, double m,
                                            double is, double kc, double mgc, double mgxc,
                                            float* dx) {
  const auto m_hi = static_cast<float>(m);
  const auto m_lo = static_cast<float>(m - static_cast<double>(m_hi));
  const auto k = static_cast<float>(kc), mg = static_cast<float>(mgc);
  const auto sx = static_cast<float>(is * mgxc);
  const Floats8 zero = {}, hiv = zero + m_hi, lov = zero + m_lo, kv = zero + k, mgv = zero + mg,
                sxv = zero + sx;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t off = (n * C + c) * S;
    int64_t i = 0;
    for (; i + 8 <= S; i += 8) {
      Floats8 gv, xv;
      std::memcpy(&gv, g + off + i, sizeof(gv));
      std::memcpy(&xv, x + off + i, sizeof(xv));
      if (relu_y != nullptr) {
        Floats8 yv;
        std::memcpy(&yv, relu_y + off + i, sizeof(yv));
        gv = yv > zero ? gv : zero;
      }
      const Floats8 d = kv * ((gv - mgv) - ((xv - hiv) - lov) * sxv);
      std::memcpy(dx + off + i, &d, sizeof(d));
    }
    for (; i < S; ++i) {
      const float gi = relu_y != nullptr && !(relu_y[off + i] > 0.0f) ? 0.0f : g[off + i];
      dx[off + i] = k * ((gi - mg) - ((x[off + i] - m_hi) - m_lo) * sx);
    }
  }
}

template <class T>
[[gnu::always_inline]] inline void backward_body(const T* x, const T* g, int64_t N, int64_t C,
                                                 int64_t S, int64_t c0, int64_t c1,
                                                 const double* mean, const double* invstd,
                                                 const double* w, bool training, double* sum_g,
                                                 double* sum_gx, T* dx, const T* relu_y) {
  const double count = static_cast<double>(N * S);
  for (int64_t c = c0; c < c1; ++c) {
    const double m = mean[c], is = invstd[c];
    const Doubles4 mv = {m, m, m, m};
    Sum sg, sgx;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t off = (n * C + c) * S;
      int64_t i = 0;
      for (; i + kLanes <= S; i += kLanes) {
        for (int64_t j = 0; j < kVectors; ++j) {
          Doubles4 gv, xv;
          load_grad4(gv, g, relu_y, off + i + 4 * j);
          load4(xv, x + off + i + 4 * j);
          sg.lane[j] += gv;
          sgx.lane[j] += gv * (xv - mv);
        }
      }
      for (; i < S; ++i) {
        const double gv = grad_at(g, relu_y, off + i);
        sg.tail += gv;
        sgx.tail += gv * (static_cast<double>(x[off + i]) - m);
      }
    }
    sum_g[c] = sg.total();
    sum_gx[c] = sgx.total() * is;
    if (dx == nullptr) continue;
    const double kc = w[c] * is;
    const double mgc = training ? sum_g[c] / count : 0.0;
    const double mgxc = training ? sum_gx[c] / count : 0.0;
    if constexpr (std::is_same_v<T, float>) {
      dx_float(x, g, relu_y, N, C, S, c, m, is, kc, mgc, mgxc, dx);
      continue;
    }
    const Doubles4 isv = {is, is, is, is}, kv = {kc, kc, kc, kc};
    const Doubles4 mgv = {mgc, mgc, mgc, mgc}, mgxv = {mgxc, mgxc, mgxc, mgxc};
    for (int64_t n = 0; n < N; ++n) {
      const int64_t off = (n * C + c) * S;
      int64_t i = 0;
      for (; i + 4 <= S; i += 4) {
        Doubles4 gv, xv;
        load_grad4(gv, g, relu_y, off + i);
        load4(xv, x + off + i);
        const Doubles4 xh = (xv - mv) * isv;
        store4(dx + off + i, kv * ((gv - mgv) - xh * mgxv));
      }
      for (; i < S; ++i) {
        const double xh = (static_cast<double>(x[off + i]) - m) * is;
        dx[off + i] = static_cast<T>(kc * ((grad_at(g, relu_y, off + i) - mgc) - xh * mgxc));
      }
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
// avx2 without fma: the same roundings as the portable code
#define EMBER_AVX2 __attribute__((target("avx2")))

template <class T>
EMBER_AVX2 void stats_avx2(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                           double* mean, double* var) {
  stats_body(x, N, C, S, c0, c1, mean, var);
}

template <class T>
EMBER_AVX2 void backward_avx2(const T* x, const T* g, int64_t N, int64_t C, int64_t S, int64_t c0,
                              int64_t c1, const double* mean, const double* invstd, const double* w,
                              bool training, double* sum_g, double* sum_gx, T* dx,
                              const T* relu_y) {
  backward_body(x, g, N, C, S, c0, c1, mean, invstd, w, training, sum_g, sum_gx, dx, relu_y);
}
#endif

bool use_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  return active_isa() != Isa::generic;
#else
  return false;
#endif
}

template <class T>
void stats(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean,
           double* var) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) return stats_avx2(x, N, C, S, c0, c1, mean, var);
#endif
  stats_body(x, N, C, S, c0, c1, mean, var);
}

template <class T>
void backward(const T* x, const T* g, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
              const double* mean, const double* invstd, const double* w, bool training,
              double* sum_g, double* sum_gx, T* dx, const T* relu_y) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) {
    return backward_avx2(x, g, N, C, S, c0, c1, mean, invstd, w, training, sum_g, sum_gx, dx,
                         relu_y);
  }
#endif
  backward_body(x, g, N, C, S, c0, c1, mean, invstd, w, training, sum_g, sum_gx, dx, relu_y);
}

}  // namespace

void batch_norm_stats(const float* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                      double* mean, double* var) {
  stats(x, N, C, S, c0, c1, mean, var);
}
void batch_norm_stats(const double* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                      double* mean, double* var) {
  stats(x, N, C, S, c0, c1, mean, var);
}

void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S,
                         int64_t c0, int64_t c1, const double* mean, const double* invstd,
                         const double* w, bool training, double* sum_g, double* sum_gx, float* dx,
                         const float* relu_y) {
  backward(x, g, N, C, S, c0, c1, mean, invstd, w, training, sum_g, sum_gx, dx, relu_y);
}
void batch_norm_backward(const double* x, const double* g, int64_t N, int64_t C, int64_t S,
                         int64_t c0, int64_t c1, const double* mean, const double* invstd,
                         const double* w, bool training, double* sum_g, double* sum_gx, double* dx,
                         const double* relu_y) {
  backward(x, g, N, C, S, c0, c1, mean, invstd, w, training, sum_g, sum_gx, dx, relu_y);
}

}  // namespace ember::kernels
