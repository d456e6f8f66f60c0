// A benchmark image for the protocol tests: its encoded bytes and a CHW
// tensor of `size` x `size` filled with `fill`.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/protocol.h"

namespace clipserve::bench::testing {

inline InputImage Img(std::vector<std::uint8_t> bytes, int size = 2, float fill = 0.5f) {
  InputImage i;
  i.name = "x.jpg";
  i.encoded = std::move(bytes);
  i.size = size;
  i.unit_chw.assign(static_cast<std::size_t>(3 * size * size), fill);
  return i;
}

}  // namespace clipserve::bench::testing
