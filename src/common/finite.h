// Finding non-finite floats (NaN, +/-Inf) in request tensors, at memory
// speed (compiled for AVX2 and baseline x86-64, picked at load time).
#pragma once

#include <cstddef>
#include <optional>
#include <span>

namespace clipserve {

// Index of the first NaN or infinity in `values`; nullopt when all are finite.
std::optional<std::size_t> FirstNonFinite(std::span<const float> values);

}  // namespace clipserve
