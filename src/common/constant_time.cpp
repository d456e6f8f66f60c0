#include "common/constant_time.h"

#include <algorithm>
#include <cstddef>

namespace clipserve {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  // volatile: the compiler may not turn this into an early-exit comparison.
  const volatile unsigned char* pa = reinterpret_cast<const volatile unsigned char*>(a.data());
  const volatile unsigned char* pb = reinterpret_cast<const volatile unsigned char*>(b.data());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? pa[i] : 0;
    const unsigned char y = i < b.size() ? pb[i] : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace clipserve
