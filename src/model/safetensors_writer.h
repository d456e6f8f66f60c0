// Writes a canonical weight map (weights.h) as an open_clip-style
// safetensors file ("visual." keys), e.g. to convert a Hugging Face or
// torch.save checkpoint, or to make test fixtures for other layers.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "model/weights.h"

namespace clipserve::model {

struct SafetensorsWriteOptions {
  // Stored dtype: float32, float16 or bfloat16; nullopt keeps each tensor's.
  std::optional<torch::ScalarType> dtype;
  std::string key_prefix = "visual.";  // open_clip's full-model naming
};

// Tensors are written in name order, 64-byte aligned (header padded with
// spaces, as the format allows). Writes to "<path>.partial", then renames.
Status WriteSafetensors(const WeightMap& weights, const std::string& path,
                        const SafetensorsWriteOptions& options = {});

}  // namespace clipserve::model
