#pragma once

#include <string_view>

namespace clipserve {

// a == b, in a time that depends on the two lengths only, never on where
// the strings first differ (for comparing secrets such as an API key).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace clipserve
