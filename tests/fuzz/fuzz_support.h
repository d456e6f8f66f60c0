// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cpp).
//
// A target fails by crashing: ASan/UBSan (fuzz build), an escaped exception
// (every parser here reports errors as Status values), or FUZZ_CHECK, which
// aborts when a documented property of a successful parse does not hold.
// Inputs a parser rejects with an error are fine, never a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <utility>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace clipserve::fuzz {

inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

inline std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

// Splits an input at its first '\n' into (first line, rest). Targets whose
// parser takes a header value and a body read both from one input this way.
// No '\n': the whole input is the first line and the rest is empty.
inline std::pair<std::string_view, std::string_view> SplitFirstLine(std::string_view text) {
  const std::size_t nl = text.find('\n');
  if (nl == std::string_view::npos) return {text, std::string_view()};
  return {text.substr(0, nl), text.substr(nl + 1)};
}

// True when `inner` is a view into `outer` (the parsers hand out views).
inline bool ViewInside(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;
  const auto in = reinterpret_cast<std::uintptr_t>(inner.data());
  const auto out = reinterpret_cast<std::uintptr_t>(outer.data());
  return in >= out && in + inner.size() <= out + outer.size();
}

}  // namespace clipserve::fuzz
