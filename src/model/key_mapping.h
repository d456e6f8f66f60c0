// Maps a checkpoint's own tensor names onto the canonical map of weights.h.
//
// Recognised layouts (a "module." prefix, as DataParallel writes it, is
// stripped first):
//  - open_clip full model: "visual.*" keys; everything else (text tower,
//    logit_scale) is ignored.
//  - open_clip visual tower alone: canonical names without a prefix; known
//    text-tower names are ignored.
//  - Hugging Face CLIPModel / CLIPVisionModelWithProjection: "vision_model.*"
//    and "visual_projection.weight". q/k/v projections are concatenated (in
//    q, k, v order) into attn.in_proj_{weight,bias} (one copy) and
//    visual_projection [E, W] is transposed into proj [W, E].
#pragma once

#include <string>

#include "common/status.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace clipserve::model {

// `raw` is consumed. Errors (a needed tensor in an unsupported dtype,
// inconsistent q/k/v pieces) name the file's tensor. The result still needs
// ValidateWeights against a config.
StatusOr<WeightMap> ToCanonical(RawTensors raw);

}  // namespace clipserve::model
