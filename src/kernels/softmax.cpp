#include <cmath>

#include "kernels/reduce.hpp"

namespace ember::kernels {

template <class T>
void softmax_rows(const T* x, std::int64_t outer, std::int64_t n, bool log_space, T* out) {
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * n;
    T* dst = out + o * n;
    T m = row[0];
    for (std::int64_t i = 1; i < n; ++i) m = row[i] > m ? row[i] : m;
    double total = 0.0;
    for (std::int64_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(row[i] - m));
    if (log_space) {
      const T lse = static_cast<T>(std::log(total)) + m;
      for (std::int64_t i = 0; i < n; ++i) dst[i] = row[i] - lse;
    } else {
      const double inv = 1.0 / total;
      for (std::int64_t i = 0; i < n; ++i)
        dst[i] = static_cast<T>(std::exp(static_cast<double>(row[i] - m)) * inv);
    }
  }
}

template void softmax_rows<float>(const float*, std::int64_t, std::int64_t, bool, float*);
template void softmax_rows<double>(const double*, std::int64_t, std::int64_t, bool, double*);

}  // namespace ember::kernels
