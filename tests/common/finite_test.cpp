#include "common/finite.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

namespace clipserve {
namespace {

TEST(FirstNonFinite, FindsTheFirstNanOrInfAnywhere) {
  std::vector<float> v(1000, 1.0f);
  EXPECT_FALSE(FirstNonFinite(v).has_value());
  EXPECT_FALSE(FirstNonFinite({}).has_value());
  v[0] = std::numeric_limits<float>::max();  // large but finite
  v[1] = std::numeric_limits<float>::denorm_min();
  EXPECT_FALSE(FirstNonFinite(v).has_value());
  // Every position, including block edges and the tail.
  for (std::size_t pos : {std::size_t(0), std::size_t(255), std::size_t(256), std::size_t(511), std::size_t(999)}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::signaling_NaN(),
                      std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
      std::vector<float> w(1000, 0.5f);
      w[pos] = bad;
      auto found = FirstNonFinite(w);
      ASSERT_TRUE(found.has_value()) << pos;
      EXPECT_EQ(*found, pos);
    }
  }
  std::vector<float> two(600, 0.f);
  two[300] = std::numeric_limits<float>::infinity();
  two[100] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(*FirstNonFinite(two), 100u);
}

TEST(CopyFloatsCheckingFinite, CopiesFromUnalignedBytesAndFindsTheFirstBadValue) {
  const std::size_t n = 3000;  // crosses the 1024-float copy blocks
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = static_cast<float>(i) * 0.25f;
  std::vector<std::byte> bytes(n * sizeof(float) + 1);
  std::memcpy(bytes.data() + 1, values.data(), n * sizeof(float));  // unaligned source
  const std::span<const std::byte> src(bytes.data() + 1, n * sizeof(float));
  std::vector<float> dst(n, -1.f);
  EXPECT_FALSE(CopyFloatsCheckingFinite(src, dst).has_value());
  EXPECT_EQ(dst, values);
  for (std::size_t pos : {std::size_t(0), std::size_t(1023), std::size_t(1024), std::size_t(2999)}) {
    std::vector<float> w = values;
    w[pos] = std::numeric_limits<float>::quiet_NaN();
    if (pos + 5 < n) w[pos + 5] = std::numeric_limits<float>::infinity();  // a later one is not reported
    std::memcpy(bytes.data() + 1, w.data(), n * sizeof(float));
    auto found = CopyFloatsCheckingFinite(src, dst);
    ASSERT_TRUE(found.has_value()) << pos;
    EXPECT_EQ(*found, pos);
  }
  EXPECT_FALSE(CopyFloatsCheckingFinite({}, {}).has_value());
}

}  // namespace
}  // namespace clipserve
