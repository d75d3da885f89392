#pragma once
// Reduction loops on contiguous data seen as [outer, inner] (reduce each row) or [rows, cols]
// (reduce down the columns). Raw pointers only.
#include <cstdint>

namespace ember::kernels {

// out[o] = op over x[o*inner .. o*inner+inner)
template <class T, class Acc, class Op>
void reduce_rows(const T* x, std::int64_t outer, std::int64_t inner, Acc init, Op op, Acc* out) {
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * inner;
    Acc acc = init;
    for (std::int64_t i = 0; i < inner; ++i) acc = op(acc, static_cast<Acc>(row[i]));
    out[o] = acc;
  }
}

// out[c] = op over x[r*cols + c] for r in [0, rows)
template <class T, class Acc, class Op>
void reduce_cols(const T* x, std::int64_t rows, std::int64_t cols, Acc init, Op op, Acc* out) {
  for (std::int64_t c = 0; c < cols; ++c) out[c] = init;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * cols;
    for (std::int64_t c = 0; c < cols; ++c) out[c] = op(out[c], static_cast<Acc>(row[c]));
  }
}

// Index of the first maximum (or minimum when `want_min`) of each row.
template <class T>
void arg_extreme_rows(const T* x, std::int64_t outer, std::int64_t inner, bool want_min,
                      std::int64_t* out) {
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * inner;
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < inner; ++i) {
      const bool better = want_min ? row[i] < row[best] : row[i] > row[best];
      // NaN wins, as in PyTorch
      if (better || (row[i] != row[i] && row[best] == row[best])) best = i;
    }
    out[o] = best;
  }
}

// Row-wise softmax or log-softmax of x: [outer, n] -> out, computed stably.
template <class T>
void softmax_rows(const T* x, std::int64_t outer, std::int64_t n, bool log_space, T* out);

}  // namespace ember::kernels
