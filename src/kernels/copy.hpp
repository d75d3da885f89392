#pragma once
// Strided copy with element-type conversion: dst[i] = Dst(src[i]) over one shape.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/strided.hpp"

namespace ember::kernels {

template <class Src, class Dst>
void copy_strided(const std::vector<std::int64_t>& shape, const Src* src,
                  const std::int64_t* src_strides, Dst* dst, const std::int64_t* dst_strides) {
  const auto layout = coalesce<2>(shape, {dst_strides, src_strides});
  strided_for_each<2>(layout, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                                  const std::array<std::int64_t, 2>& st) {
    Dst* d = dst + off[0];
    const Src* s = src + off[1];
    if (st[0] == 1 && st[1] == 1) {
      if constexpr (std::is_same_v<Src, Dst>) {
        std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(Dst));
      } else {
        for (std::int64_t i = 0; i < n; ++i) d[i] = static_cast<Dst>(s[i]);
      }
    } else {
      for (std::int64_t i = 0; i < n; ++i) d[i * st[0]] = static_cast<Dst>(s[i * st[1]]);
    }
  });
}

}  // namespace ember::kernels
