// The shared AVX2 helpers: lane masks, and the inline row copy / clear that never write outside
// [0, n) (guard values on both sides), for every n from 0 to 40.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/avx2_util.hpp"

namespace ember::kernels {
namespace {

__attribute__((target("avx2"))) void lanes_of(int64_t n, int out[8]) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), first_lanes(n));
}

TEST(Avx2Util, FirstLanes) {
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "CPU has no AVX2";
  for (int64_t n = -3; n <= 11; ++n) {
    int lanes[8];
    lanes_of(n, lanes);
    for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(lanes[i], i < n ? -1 : 0) << "n=" << n << " i=" << i;
  }
}

TEST(Avx2Util, CopyAndZeroRowStayInside) {
  if (detected_isa() == Isa::generic) GTEST_SKIP() << "CPU has no AVX2";
  constexpr int64_t kGuard = 16;
  for (int64_t n = 0; n <= 40; ++n) {
    std::vector<float> src(static_cast<size_t>(n + 2 * kGuard)), dst(src.size(), -1.0f);
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) + 0.5f;
    copy_row(dst.data() + kGuard, src.data() + kGuard, n);
    for (int64_t i = 0; i < n + 2 * kGuard; ++i) {
      const bool inside = i >= kGuard && i < kGuard + n;
      ASSERT_EQ(dst[static_cast<size_t>(i)], inside ? src[static_cast<size_t>(i)] : -1.0f)
          << "copy_row n=" << n << " at " << i - kGuard;
    }
    zero_row(dst.data() + kGuard, n);
    for (int64_t i = 0; i < n + 2 * kGuard; ++i) {
      const bool inside = i >= kGuard && i < kGuard + n;
      ASSERT_EQ(dst[static_cast<size_t>(i)], inside ? 0.0f : -1.0f)
          << "zero_row n=" << n << " at " << i - kGuard;
    }
  }
}

}  // namespace
}  // namespace ember::kernels
#endif
