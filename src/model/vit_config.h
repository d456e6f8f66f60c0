// Vision-tower configuration of an OpenCLIP ViT (DESIGN §2). Torch-free.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::model {

struct VitConfig {
  std::string name = "ViT-B-32";
  int image_size = 224;
  int patch_size = 32;
  int width = 768;        // transformer width
  int layers = 12;
  int head_width = 64;    // heads = width / head_width
  int mlp_dim = 3072;     // width * mlp_ratio
  int embed_dim = 512;    // output of `proj`
  bool quick_gelu = false;// QuickGELU (OpenAI weights) instead of exact GELU
  double ln_eps = 1e-5;

  int heads() const { return width / head_width; }
  int grid() const { return image_size / patch_size; }
  int tokens() const { return grid() * grid() + 1; }  // patches + class token

  Status Validate() const;  // positive sizes, divisibility
};

// Built-in configs: "ViT-B-32" (default), "ViT-B-16", "ViT-L-14", ... and
// "test-tiny" (image 32, patch 8, width 64, 2 layers, head 32, mlp 256, embed 32)
// for unit tests.
StatusOr<VitConfig> BuiltinConfig(std::string_view name);
std::vector<std::string> BuiltinConfigNames();

// open_clip-style JSON: {"embed_dim":..,"quick_gelu":..,"vision_cfg":{"image_size",
// "layers","width","patch_size","head_width","mlp_ratio"}}.
// Also accepts a Hugging Face CLIP config.json ("vision_config": hidden_size,
// num_hidden_layers, num_attention_heads, intermediate_size, patch_size,
// image_size, layer_norm_eps; "projection_dim"); its hidden_act
// "quick_gelu" (OpenAI checkpoints) sets quick_gelu, "gelu" (LAION) clears it.
StatusOr<VitConfig> ParseOpenClipConfig(std::string_view json_text, std::string name);
StatusOr<VitConfig> LoadOpenClipConfigFile(const std::string& path);

// The config a program's flags name: the JSON file at `config_path` when
// given, else the built-in `model`; `quick_gelu` forces QuickGELU. Validated.
StatusOr<VitConfig> ResolveVitConfig(std::string_view model, const std::string& config_path, bool quick_gelu);

}  // namespace clipserve::model
