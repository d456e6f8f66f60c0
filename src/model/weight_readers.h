// Internal to the model layer: the weight-file readers behind LoadWeights.
// Each returns the canonical map of weights.h (not yet validated against a
// config), tensors on CPU in the dtype the file stored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "model/weights.h"

namespace clipserve::model {

// "random:SEED" -> SEED; anything else is an error naming the spec.
StatusOr<std::uint64_t> ParseRandomSeed(std::string_view spec);

// Detects the format from the file's bytes (safetensors header, zip magic)
// and dispatches; an unknown format is an error naming the path.
StatusOr<WeightMap> ReadWeightFile(const std::string& path);

}  // namespace clipserve::model
