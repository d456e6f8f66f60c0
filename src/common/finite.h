// Finding non-finite floats (NaN, +/-Inf) in request tensors, at memory
// speed (compiled for AVX2 and baseline x86-64, picked at load time).
#pragma once

#include <cstddef>
#include <optional>
#include <span>

namespace clipserve {

// Index of the first NaN or infinity in `values`; nullopt when all are finite.
std::optional<std::size_t> FirstNonFinite(std::span<const float> values);

// Copies `src` (raw little-endian float bytes, any alignment; a whole number
// of floats) into `dst` (src.size() / 4 floats) and checks the values on the
// way, block by block while they are in cache: one pass over memory instead
// of a copy and then a scan. Returns the first non-finite index, as above
// (dst is then only partly written).
std::optional<std::size_t> CopyFloatsCheckingFinite(std::span<const std::byte> src, std::span<float> dst);

}  // namespace clipserve
