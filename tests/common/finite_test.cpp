#include "common/finite.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace clipserve
