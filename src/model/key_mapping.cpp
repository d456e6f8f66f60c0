// Checkpoint names -> canonical names (open_clip visual, without "visual.").
#include "model/key_mapping.h"

#include <array>
#include <optional>
#include <string_view>

namespace clipserve::model {
namespace {

constexpr std::string_view kModulePrefix = "module.";
constexpr std::string_view kVisualPrefix = "visual.";
constexpr std::string_view kHfPrefix = "vision_model.";
constexpr std::string_view kHfLayers = "vision_model.encoder.layers.";
constexpr std::string_view kHfProjection = "visual_projection.weight";

bool IsCanonicalName(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kTopLevel = {
      "conv1.weight",   "class_embedding", "positional_embedding", "ln_pre.weight",
      "ln_pre.bias",    "ln_post.weight",  "ln_post.bias",         "proj"};
  for (std::string_view n : kTopLevel) {
    if (name == n) return true;
  }
  return name.starts_with("transformer.resblocks.");
}

// One tensor of an HF checkpoint: where it goes in the canonical map.
struct HfTarget {
  std::string canonical;  // for q/k/v: the in_proj name they are concatenated into
  int qkv_index = -1;     // 0, 1, 2 for q, k, v pieces; -1 otherwise
  bool transpose = false; // visual_projection
};

std::optional<HfTarget> MapHfName(std::string_view key) {
  if (key == kHfProjection) return HfTarget{"proj", -1, true};
  if (!key.starts_with(kHfPrefix)) return std::nullopt;  // text tower, logit_scale, ...
  const std::string_view rest = key.substr(kHfPrefix.size());
  struct Pair {
    std::string_view hf;
    std::string_view canonical;
  };
  static constexpr Pair kTop[] = {
      {"embeddings.patch_embedding.weight", "conv1.weight"},
      {"embeddings.class_embedding", "class_embedding"},
      {"embeddings.position_embedding.weight", "positional_embedding"},
      {"pre_layrnorm.weight", "ln_pre.weight"},  // sic: HF's spelling
      {"pre_layrnorm.bias", "ln_pre.bias"},
      {"post_layernorm.weight", "ln_post.weight"},
      {"post_layernorm.bias", "ln_post.bias"},
  };
  for (const Pair& p : kTop) {
    if (rest == p.hf) return HfTarget{std::string(p.canonical)};
  }
  if (!key.starts_with(kHfLayers)) return std::nullopt;
  std::string_view layer = key.substr(kHfLayers.size());
  const std::size_t dot = layer.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const std::string_view index = layer.substr(0, dot);
  if (index.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  const std::string_view field = layer.substr(dot + 1);
  const std::string block = "transformer.resblocks." + std::string(index) + ".";
  static constexpr Pair kBlock[] = {
      {"layer_norm1.", "ln_1."},
      {"layer_norm2.", "ln_2."},
      {"self_attn.out_proj.", "attn.out_proj."},
      {"mlp.fc1.", "mlp.c_fc."},
      {"mlp.fc2.", "mlp.c_proj."},
  };
  for (const Pair& p : kBlock) {
    if (field.starts_with(p.hf)) {
      const std::string_view leaf = field.substr(p.hf.size());
      if (leaf != "weight" && leaf != "bias") return std::nullopt;
      return HfTarget{block + std::string(p.canonical) + std::string(leaf)};
    }
  }
  static constexpr std::array<std::string_view, 3> kQkv = {"self_attn.q_proj.", "self_attn.k_proj.",
                                                           "self_attn.v_proj."};
  for (int i = 0; i < 3; ++i) {
    if (field.starts_with(kQkv[i])) {
      const std::string_view leaf = field.substr(kQkv[i].size());
      if (leaf == "weight") return HfTarget{block + "attn.in_proj_weight", i};
      if (leaf == "bias") return HfTarget{block + "attn.in_proj_bias", i};
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string Shape(const torch::Tensor& t) {
  std::string s = "[";
  for (std::size_t i = 0; i < t.sizes().size(); ++i) {
    s += (i ? ", " : "") + std::to_string(t.sizes()[i]);
  }
  return s + "]";
}

Status UnsupportedDtype(const std::string& key, const std::string& dtype) {
  return InvalidArgumentError("tensor " + key + ": dtype " + dtype +
                              " is not supported (float32, float16 or bfloat16)");
}

StatusOr<WeightMap> FromHuggingFace(RawTensors raw) {
  for (const auto& [key, dtype] : raw.unsupported_dtypes) {
    if (MapHfName(key)) return UnsupportedDtype(key, dtype);
  }
  WeightMap out;
  struct QkvParts {
    std::array<torch::Tensor, 3> parts;
    std::array<std::string, 3> keys;
  };
  std::map<std::string, QkvParts> qkv;  // by canonical in_proj name
  for (auto& [key, tensor] : raw.tensors) {
    std::optional<HfTarget> target = MapHfName(key);
    if (!target) continue;
    if (target->qkv_index >= 0) {
      QkvParts& group = qkv[target->canonical];
      group.parts[target->qkv_index] = std::move(tensor);
      group.keys[target->qkv_index] = key;
    } else if (target->transpose) {
      if (tensor.dim() != 2) {
        return InvalidArgumentError("tensor " + key + ": expected 2 dimensions [embed_dim, width], got " +
                                    Shape(tensor));
      }
      // Small ([E, W]); made contiguous so consumers need not care.
      out[target->canonical] = tensor.t().contiguous();
    } else {
      out[target->canonical] = std::move(tensor);
    }
  }
  static constexpr std::array<char, 3> kLetter = {'q', 'k', 'v'};
  for (auto& [canonical, group] : qkv) {
    int present = 0;
    for (int i = 0; i < 3; ++i) present += group.parts[i].defined() ? 1 : 0;
    for (int i = 0; i < 3 && present < 3; ++i) {
      if (group.parts[i].defined()) continue;
      // Rebuild the missing key's name from a present sibling's.
      const std::string& sibling = group.keys[group.keys[0].empty() ? (group.keys[1].empty() ? 2 : 1) : 0];
      std::string missing = sibling;
      missing[sibling.find("_proj.") - 1] = kLetter[i];
      return NotFoundError("tensor " + missing + " is missing (q, k and v projections are needed for " +
                           canonical + ")");
    }
    for (int i = 1; i < 3; ++i) {
      if (group.parts[i].sizes() != group.parts[0].sizes() ||
          group.parts[i].scalar_type() != group.parts[0].scalar_type()) {
        return InvalidArgumentError("tensor " + group.keys[i] + " " + Shape(group.parts[i]) + " " +
                                    std::string(c10::toString(group.parts[i].scalar_type())) +
                                    " does not match " + group.keys[0] + " " + Shape(group.parts[0]) +
                                    " " + std::string(c10::toString(group.parts[0].scalar_type())));
      }
    }
    out[canonical] = torch::cat({group.parts[0], group.parts[1], group.parts[2]}, 0);
  }
  return out;
}

}  // namespace

StatusOr<WeightMap> ToCanonical(RawTensors raw) {
  // Strip DataParallel's "module." from every name.
  auto strip_module = [](auto& map) {
    std::remove_reference_t<decltype(map)> renamed;
    for (auto& [key, value] : map) {
      std::string name = key;
      if (std::string_view(name).starts_with(kModulePrefix)) name.erase(0, kModulePrefix.size());
      renamed.emplace(std::move(name), std::move(value));
    }
    map = std::move(renamed);
  };
  strip_module(raw.tensors);
  strip_module(raw.unsupported_dtypes);

  auto any_key = [&](std::string_view prefix) {
    auto starts = [&](const auto& kv) { return std::string_view(kv.first).starts_with(prefix); };
    return std::any_of(raw.tensors.begin(), raw.tensors.end(), starts) ||
           std::any_of(raw.unsupported_dtypes.begin(), raw.unsupported_dtypes.end(), starts);
  };
  if (any_key(kHfPrefix)) return FromHuggingFace(std::move(raw));

  // open_clip: with a "visual." prefix only those keys count (unprefixed
  // keys are the text tower there); without one, the file is the visual
  // tower alone.
  const bool prefixed = any_key(kVisualPrefix);
  auto canonical_of = [&](const std::string& key) -> std::optional<std::string> {
    std::string_view name = key;
    if (prefixed) {
      if (!name.starts_with(kVisualPrefix)) return std::nullopt;
      name.remove_prefix(kVisualPrefix.size());
    }
    if (!IsCanonicalName(name)) return std::nullopt;
    return std::string(name);
  };
  for (const auto& [key, dtype] : raw.unsupported_dtypes) {
    if (canonical_of(key)) return UnsupportedDtype(key, dtype);
  }
  WeightMap out;
  for (auto& [key, tensor] : raw.tensors) {
    if (std::optional<std::string> name = canonical_of(key)) out[*name] = std::move(tensor);
  }
  return out;
}

}  // namespace clipserve::model
