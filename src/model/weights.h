// Weight loading for the OpenCLIP vision tower.
//
// Every reader produces the same canonical map: open_clip's visual key names
// *without* the "visual." prefix (DESIGN §2):
//   conv1.weight [W,3,P,P]          class_embedding [W]
//   positional_embedding [T,W]      ln_pre.{weight,bias} [W]
//   transformer.resblocks.N.ln_1.{weight,bias} [W]
//   transformer.resblocks.N.attn.in_proj_weight [3W,W], in_proj_bias [3W]
//   transformer.resblocks.N.attn.out_proj.weight [W,W], .bias [W]
//   transformer.resblocks.N.ln_2.{weight,bias} [W]
//   transformer.resblocks.N.mlp.c_fc.weight [M,W], .bias [M]
//   transformer.resblocks.N.mlp.c_proj.weight [W,M], .bias [W]
//   ln_post.{weight,bias} [W]       proj [W,E]
// Tensors are CPU, in the dtype the file stored (fp32/fp16/bf16); the engine
// converts once into its own dtype.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/vit_config.h"

namespace clipserve::model {

using WeightMap = std::map<std::string, torch::Tensor>;

struct ExpectedTensor {
  std::string name;
  std::vector<std::int64_t> shape;
};
// Every tensor the config needs, with its shape.
std::vector<ExpectedTensor> ExpectedTensors(const VitConfig& config);

// Checks names and shapes; the error names the tensor and both shapes.
Status ValidateWeights(const WeightMap& weights, const VitConfig& config);

// Deterministic random weights (real compute, meaningless embeddings).
WeightMap RandomWeights(const VitConfig& config, std::uint64_t seed);

// `spec` is a file path (.safetensors: open_clip or Hugging Face CLIP;
// .bin/.pt: torch zip archive, plain or {"state_dict": ...}) or
// "random:SEED". The result is validated against `config`.
StatusOr<WeightMap> LoadWeights(const std::string& spec, const VitConfig& config);

}  // namespace clipserve::model
