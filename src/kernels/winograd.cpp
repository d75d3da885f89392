// Winograd F(2x2, 3x3) convolution; see winograd.hpp.
//
// Layouts for a call on n images, T = n * tiles columns (tile t of image i at i*tiles + ty*TW + tx):
//   V[16][C][T]   transformed input tiles        M[16][O][T]   products (and dM in backward)
//   u[16][O][C]   transformed weights
// The transforms run along whole rows of tiles so the compiler vectorises them; the 16 products
// per position are sgemm calls (which run inline on the calling thread inside a parallel region).
// The transform bodies are compiled twice, plain and for AVX2+FMA, and chosen by active_isa().
#include "kernels/winograd.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/gemm.hpp"

namespace ember::kernels {
namespace {

struct Sizes {
  int64_t TH, TW, tiles, Hp, Wp, Ho, Wo;
  explicit Sizes(const WinogradGeometry& g)
      : TH(g.TH()), TW(g.TW()), tiles(g.tiles()), Hp(2 * g.TH() + 2), Wp(2 * g.TW() + 2),
        Ho(g.Ho()), Wo(g.Wo()) {}
};

// Scratch layout: V, M, one padded plane, 4 transformed rows (or 16 rows of TW for dx).
struct Scratch {
  float *V, *M, *plane, *rows;
};
Scratch carve(const WinogradGeometry& g, int64_t n, float* s) {
  const Sizes z(g);
  const int64_t T = n * z.tiles;
  Scratch r;
  r.V = s;
  r.M = r.V + 16 * g.C * T;
  r.plane = r.M + 16 * g.O * T;
  r.rows = r.plane + z.Hp * z.Wp;
  return r;
}

// V for images [0, n): per channel, the image in a zero-bordered plane, then per tile row
// t = B^T d on whole rows, then the column step on even/odd columns.
inline void input_transform(const float* x, const WinogradGeometry& g, int64_t n, const Scratch& s) {
  const Sizes z(g);
  const int64_t T = n * z.tiles, C = g.C;
  float* plane = s.plane;
  std::fill(plane, plane + z.Hp * z.Wp, 0.0f);
  float* t0 = s.rows;
  float* t1 = t0 + z.Wp;
  float* t2 = t1 + z.Wp;
  float* t3 = t2 + z.Wp;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float* img = x + (i * C + c) * g.H * g.W;
      for (int64_t h = 0; h < g.H; ++h)
        std::memcpy(plane + (h + g.ph) * z.Wp + g.pw, img + h * g.W, sizeof(float) * g.W);
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const float* __restrict r0 = plane + 2 * ty * z.Wp;
        const float* __restrict r1 = r0 + z.Wp;
        const float* __restrict r2 = r1 + z.Wp;
        const float* __restrict r3 = r2 + z.Wp;
        for (int64_t k = 0; k < z.Wp; ++k) {
          t0[k] = r0[k] - r2[k];
          t1[k] = r1[k] + r2[k];
          t2[k] = r2[k] - r1[k];
          t3[k] = r1[k] - r3[k];
        }
        const int64_t col = i * z.tiles + ty * z.TW;
        const float* trow[4] = {t0, t1, t2, t3};
        for (int r = 0; r < 4; ++r) {
          const float* __restrict t = trow[r];
          float* __restrict v0 = s.V + ((4 * r + 0) * C + c) * T + col;
          float* __restrict v1 = s.V + ((4 * r + 1) * C + c) * T + col;
          float* __restrict v2 = s.V + ((4 * r + 2) * C + c) * T + col;
          float* __restrict v3 = s.V + ((4 * r + 3) * C + c) * T + col;
          for (int64_t tx = 0; tx < z.TW; ++tx) {
            const float e0 = t[2 * tx], o0 = t[2 * tx + 1], e1 = t[2 * tx + 2], o1 = t[2 * tx + 3];
            v0[tx] = e0 - e1;
            v1[tx] = o0 + e1;
            v2[tx] = e1 - o0;
            v3[tx] = o0 - o1;
          }
        }
      }
      // clear the interior again so the next plane's border is still zero
      for (int64_t h = 0; h < g.H; ++h)
        std::fill(plane + (h + g.ph) * z.Wp + g.pw, plane + (h + g.ph) * z.Wp + g.pw + g.W, 0.0f);
    }
}

// y = A^T M A (+ bias) for every output channel and tile, clipped to Ho x Wo.
inline void output_transform(const float* M, const float* bias, const WinogradGeometry& g,
                             int64_t n, float* y) {
  const Sizes z(g);
  const int64_t T = n * z.tiles, O = g.O;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < O; ++o) {
      const float b = bias != nullptr ? bias[o] : 0.0f;
      float* out = y + (i * O + o) * z.Ho * z.Wo;
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        const float* m[16];
        for (int p = 0; p < 16; ++p) m[p] = M + (p * O + o) * T + col;
        float* __restrict y0 = out + 2 * ty * z.Wo;
        float* __restrict y1 = y0 + z.Wo;
        const bool row1 = 2 * ty + 1 < z.Ho;
        const int64_t full = z.Wo / 2;  // tiles whose two columns both exist
        for (int64_t tx = 0; tx < z.TW; ++tx) {
          float a[4], d[4];
          for (int j = 0; j < 4; ++j) {
            a[j] = m[j][tx] + m[4 + j][tx] + m[8 + j][tx];
            d[j] = m[4 + j][tx] - m[8 + j][tx] - m[12 + j][tx];
          }
          const float y00 = a[0] + a[1] + a[2] + b, y01 = a[1] - a[2] - a[3] + b;
          const float y10 = d[0] + d[1] + d[2] + b, y11 = d[1] - d[2] - d[3] + b;
          y0[2 * tx] = y00;
          if (tx < full) y0[2 * tx + 1] = y01;
          if (row1) {
            y1[2 * tx] = y10;
            if (tx < full) y1[2 * tx + 1] = y11;
          }
        }
      }
    }
}

// dM = A dy A^T for every output channel and tile (dy zero outside Ho x Wo).
inline void grad_output_transform(const float* dy, const WinogradGeometry& g, int64_t n, float* dM) {
  const Sizes z(g);
  const int64_t T = n * z.tiles, O = g.O;
  const int64_t full = z.Wo / 2;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < O; ++o) {
      const float* plane = dy + (i * O + o) * z.Ho * z.Wo;
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        float* m[16];
        for (int p = 0; p < 16; ++p) m[p] = dM + (p * O + o) * T + col;
        const float* g0 = plane + 2 * ty * z.Wo;
        const float* g1 = g0 + z.Wo;
        const bool row1 = 2 * ty + 1 < z.Ho;
        for (int64_t tx = 0; tx < z.TW; ++tx) {
          const float d00 = g0[2 * tx], d01 = tx < full ? g0[2 * tx + 1] : 0.0f;
          const float d10 = row1 ? g1[2 * tx] : 0.0f;
          const float d11 = row1 && tx < full ? g1[2 * tx + 1] : 0.0f;
          // rows: [r0, r1, r2, r3] = [d0, d0 + d1, d0 - d1, -d1]; then the same along columns
          const float r[4][2] = {{d00, d01}, {d00 + d10, d01 + d11}, {d00 - d10, d01 - d11},
                                 {-d10, -d11}};
          for (int k = 0; k < 4; ++k) {
            m[4 * k + 0][tx] = r[k][0];
            m[4 * k + 1][tx] = r[k][0] + r[k][1];
            m[4 * k + 2][tx] = r[k][0] - r[k][1];
            m[4 * k + 3][tx] = -r[k][1];
          }
        }
      }
    }
}

// dx = the sum over tiles of B dV B^T placed at each tile's input window, cropped to the image.
// Per tile row: the column step into 4 rows of partial sums (even/odd columns combined with the
// neighbouring tile's), then the row step added into the padded plane.
inline void grad_input_transform(const float* dV, const WinogradGeometry& g, int64_t n,
                                 const Scratch& s, float* dx) {
  const Sizes z(g);
  const int64_t T = n * z.tiles, C = g.C;
  float* plane = s.plane;
  float* q = s.rows;  // q[k][Wp]: row k (0..3) of the tile row after the column step
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      std::fill(plane, plane + z.Hp * z.Wp, 0.0f);
      for (int64_t ty = 0; ty < z.TH; ++ty) {
        const int64_t col = i * z.tiles + ty * z.TW;
        for (int k = 0; k < 4; ++k) {
          // row k of the tile: dV[k][0..3]; column step [v0, v1 - v2 + v3, -v0 + v1 + v2, -v3]
          const float* __restrict v0 = dV + ((4 * k + 0) * C + c) * T + col;
          const float* __restrict v1 = dV + ((4 * k + 1) * C + c) * T + col;
          const float* __restrict v2 = dV + ((4 * k + 2) * C + c) * T + col;
          const float* __restrict v3 = dV + ((4 * k + 3) * C + c) * T + col;
          float* __restrict qk = q + k * z.Wp;
          // even column 2tx gets c0(tx) + c2(tx - 1), odd column 2tx + 1 gets c1(tx) + c3(tx - 1)
          float c2 = 0.0f, c3 = 0.0f;
          for (int64_t tx = 0; tx < z.TW; ++tx) {
            const float a = v0[tx], b = v1[tx], cc = v2[tx], d = v3[tx];
            qk[2 * tx] = a + c2;
            qk[2 * tx + 1] = (b - cc + d) + c3;
            c2 = -a + b + cc;
            c3 = -d;
          }
          qk[2 * z.TW] = c2;
          qk[2 * z.TW + 1] = c3;
        }
        // row step: [q0, q1 - q2 + q3, -q0 + q1 + q2, -q3] added at rows 2ty .. 2ty + 3
        float* __restrict p0 = plane + 2 * ty * z.Wp;
        float* __restrict p1 = p0 + z.Wp;
        float* __restrict p2 = p1 + z.Wp;
        float* __restrict p3 = p2 + z.Wp;
        const float* __restrict q0 = q;
        const float* __restrict q1 = q + z.Wp;
        const float* __restrict q2 = q1 + z.Wp;
        const float* __restrict q3 = q2 + z.Wp;
        for (int64_t k = 0; k < z.Wp; ++k) {
          p0[k] += q0[k];
          p1[k] += q1[k] - q2[k] + q3[k];
          p2[k] += -q0[k] + q1[k] + q2[k];
          p3[k] -= q3[k];
        }
      }
      float* out = dx + (i * C + c) * g.H * g.W;
      for (int64_t h = 0; h < g.H; ++h)
        std::memcpy(out + h * g.W, plane + (h + g.ph) * z.Wp + g.pw, sizeof(float) * g.W);
    }
}

inline void forward_body(const float* x, const float* u, const float* bias,
                         const WinogradGeometry& g, int64_t n, float* y, float* scratch) {
  const Scratch s = carve(g, n, scratch);
  const int64_t T = n * g.tiles();
  input_transform(x, g, n, s);
  for (int p = 0; p < 16; ++p)
    sgemm(false, false, g.O, T, g.C, u + p * g.O * g.C, g.C, s.V + p * g.C * T, T, 0.0f,
          s.M + p * g.O * T, T);
  output_transform(s.M, bias, g, n, y);
}

inline void backward_body(const float* x, const float* u, const float* dy,
                          const WinogradGeometry& g, int64_t n, float* dx, float* du,
                          bool accumulate, float* scratch) {
  const Scratch s = carve(g, n, scratch);
  const int64_t T = n * g.tiles(), O = g.O, C = g.C;
  grad_output_transform(dy, g, n, s.M);
  if (du != nullptr) {
    input_transform(x, g, n, s);
    for (int p = 0; p < 16; ++p)
      sgemm(false, true, O, C, T, s.M + p * O * T, T, s.V + p * C * T, T,
            accumulate ? 1.0f : 0.0f, du + p * O * C, C);
  }
  if (dx != nullptr) {
    for (int p = 0; p < 16; ++p)  // dV, into V's place
      sgemm(true, false, C, T, O, u + p * O * C, C, s.M + p * O * T, T, 0.0f, s.V + p * C * T, T);
    grad_input_transform(s.V, g, n, s, dx);
  }
}

__attribute__((target("avx2,fma"), flatten)) void forward_avx2(const float* x, const float* u,
                                                               const float* bias,
                                                               const WinogradGeometry& g,
                                                               int64_t n, float* y, float* scratch) {
  forward_body(x, u, bias, g, n, y, scratch);
}
__attribute__((flatten)) void forward_generic(const float* x, const float* u, const float* bias,
                                              const WinogradGeometry& g, int64_t n, float* y,
                                              float* scratch) {
  forward_body(x, u, bias, g, n, y, scratch);
}
__attribute__((target("avx2,fma"), flatten)) void backward_avx2(const float* x, const float* u,
                                                                const float* dy,
                                                                const WinogradGeometry& g,
                                                                int64_t n, float* dx, float* du,
                                                                bool accumulate, float* scratch) {
  backward_body(x, u, dy, g, n, dx, du, accumulate, scratch);
}
__attribute__((flatten)) void backward_generic(const float* x, const float* u, const float* dy,
                                               const WinogradGeometry& g, int64_t n, float* dx,
                                               float* du, bool accumulate, float* scratch) {
  backward_body(x, u, dy, g, n, dx, du, accumulate, scratch);
}

}  // namespace

bool winograd_applies(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      int64_t groups, int64_t ph, int64_t pw, int64_t H, int64_t W) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 &&
         ph >= 0 && ph <= 2 && pw >= 0 && pw <= 2 && H + 2 * ph >= 3 && W + 2 * pw >= 3;
}

int64_t winograd_scratch_size(const WinogradGeometry& g, int64_t n) {
  const Sizes z(g);
  const int64_t T = n * z.tiles;
  return 16 * g.C * T + 16 * g.O * T + z.Hp * z.Wp + 4 * z.Wp;
}

void winograd_weights(const float* w, const WinogradGeometry& g, float* u) {
  const int64_t OC = g.O * g.C;
  for (int64_t k = 0; k < OC; ++k) {
    const float* f = w + 9 * k;
    // t = G f: rows [f0, (f0 + f1 + f2) / 2, (f0 - f1 + f2) / 2, f2]; then u = t G^T
    float t[4][3];
    for (int j = 0; j < 3; ++j) {
      const float f0 = f[j], f1 = f[3 + j], f2 = f[6 + j];
      t[0][j] = f0;
      t[1][j] = 0.5f * (f0 + f1 + f2);
      t[2][j] = 0.5f * (f0 - f1 + f2);
      t[3][j] = f2;
    }
    for (int r = 0; r < 4; ++r) {
      const float f0 = t[r][0], f1 = t[r][1], f2 = t[r][2];
      u[(4 * r + 0) * OC + k] = f0;
      u[(4 * r + 1) * OC + k] = 0.5f * (f0 + f1 + f2);
      u[(4 * r + 2) * OC + k] = 0.5f * (f0 - f1 + f2);
      u[(4 * r + 3) * OC + k] = f2;
    }
  }
}

void winograd_weights_backward(const float* du, const WinogradGeometry& g, float* dw) {
  const int64_t OC = g.O * g.C;
  for (int64_t k = 0; k < OC; ++k) {
    // dw = G^T du G: G^T rows [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1], on rows then on columns
    float t[3][4];
    for (int j = 0; j < 4; ++j) {
      const float u0 = du[(0 + j) * OC + k], u1 = du[(4 + j) * OC + k];
      const float u2 = du[(8 + j) * OC + k], u3 = du[(12 + j) * OC + k];
      t[0][j] = u0 + 0.5f * (u1 + u2);
      t[1][j] = 0.5f * (u1 - u2);
      t[2][j] = 0.5f * (u1 + u2) + u3;
    }
    float* f = dw + 9 * k;
    for (int r = 0; r < 3; ++r) {
      const float u0 = t[r][0], u1 = t[r][1], u2 = t[r][2], u3 = t[r][3];
      f[3 * r + 0] = u0 + 0.5f * (u1 + u2);
      f[3 * r + 1] = 0.5f * (u1 - u2);
      f[3 * r + 2] = 0.5f * (u1 + u2) + u3;
    }
  }
}

void winograd_forward(const float* x, const float* u, const float* bias, const WinogradGeometry& g,
                      int64_t n, float* y, float* scratch) {
  if (active_isa() != Isa::generic) {
    forward_avx2(x, u, bias, g, n, y, scratch);
  } else {
    forward_generic(x, u, bias, g, n, y, scratch);
  }
}

void winograd_backward(const float* x, const float* u, const float* dy, const WinogradGeometry& g,
                       int64_t n, float* dx, float* du, bool accumulate, float* scratch) {
  if (active_isa() != Isa::generic) {
    backward_avx2(x, u, dy, g, n, dx, du, accumulate, scratch);
  } else {
    backward_generic(x, u, dy, g, n, dx, du, accumulate, scratch);
  }
}

}  // namespace ember::kernels
