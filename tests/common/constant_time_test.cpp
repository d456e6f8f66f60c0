// ConstantTimeEquals: the same answers as ==, for equal, different, prefix
// and empty strings, and bytes with the high bit set.
#include "common/constant_time.h"

#include <gtest/gtest.h>

#include <string>

namespace clipserve {
namespace {

TEST(ConstantTimeEquals, AgreesWithEquality) {
  const std::string cases[] = {"", "a", "key", "kez", "key!", "ke", std::string("k\xffy"), std::string("k\0y", 3)};
  for (const auto& a : cases) {
    for (const auto& b : cases) EXPECT_EQ(ConstantTimeEquals(a, b), a == b) << a << " vs " << b;
  }
}

}  // namespace
}  // namespace clipserve
