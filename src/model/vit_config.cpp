// Built-in OpenCLIP vision configs and open_clip / Hugging Face JSON parsing.
//
// Numbers come from open_clip's model_configs/*.json (vision_cfg) and
// Hugging Face's CLIPVisionConfig; the MLP width is int(width * mlp_ratio),
// as open_clip computes it.
#include "model/vit_config.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

namespace clipserve::model {
namespace {

struct BuiltinRow {
  const char* name;
  int image_size;
  int patch_size;
  int width;
  int layers;
  int head_width;
  int mlp_dim;
  int embed_dim;
  bool quick_gelu;
};

// clang-format off
constexpr std::array kBuiltins = {
  //          name                    img  patch width layers headw  mlp   embed quick
  BuiltinRow{"ViT-B-32",              224, 32,   768,  12,    64,   3072, 512,  false},
  BuiltinRow{"ViT-B-32-quickgelu",    224, 32,   768,  12,    64,   3072, 512,  true},
  BuiltinRow{"ViT-B-32-256",          256, 32,   768,  12,    64,   3072, 512,  false},
  BuiltinRow{"ViT-B-16",              224, 16,   768,  12,    64,   3072, 512,  false},
  BuiltinRow{"ViT-B-16-quickgelu",    224, 16,   768,  12,    64,   3072, 512,  true},
  BuiltinRow{"ViT-B-16-plus-240",     240, 16,   896,  12,    64,   3584, 640,  false},
  BuiltinRow{"ViT-L-14",              224, 14,  1024,  24,    64,   4096, 768,  false},
  BuiltinRow{"ViT-L-14-quickgelu",    224, 14,  1024,  24,    64,   4096, 768,  true},
  BuiltinRow{"ViT-L-14-336",          336, 14,  1024,  24,    64,   4096, 768,  false},
  BuiltinRow{"ViT-H-14",              224, 14,  1280,  32,    80,   5120, 1024, false},
  BuiltinRow{"ViT-H-14-quickgelu",    224, 14,  1280,  32,    80,   5120, 1024, true},
  BuiltinRow{"ViT-g-14",              224, 14,  1408,  40,    88,   6144, 1024, false},
  BuiltinRow{"ViT-bigG-14",           224, 14,  1664,  48,   104,   8192, 1280, false},
  BuiltinRow{"test-tiny",              32,  8,    64,   2,    32,    256, 32,   false},
};
// clang-format on

VitConfig FromRow(const BuiltinRow& row) {
  VitConfig c;
  c.name = row.name;
  c.image_size = row.image_size;
  c.patch_size = row.patch_size;
  c.width = row.width;
  c.layers = row.layers;
  c.head_width = row.head_width;
  c.mlp_dim = row.mlp_dim;
  c.embed_dim = row.embed_dim;
  c.quick_gelu = row.quick_gelu;
  return c;
}

using nlohmann::json;

// Reads an integer field; absent -> fallback; wrong type -> error.
StatusOr<int> IntField(const json& obj, const char* key, std::optional<int> fallback,
                       std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (fallback) return *fallback;
    return InvalidArgumentError(std::string(where) + ": missing \"" + key + "\"");
  }
  if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) ==
                                                                 it->get<double>())) {
    return InvalidArgumentError(std::string(where) + ": \"" + key + "\" must be an integer, got " +
                                it->dump());
  }
  const double v = it->get<double>();
  if (v < -1e9 || v > 1e9) {
    return InvalidArgumentError(std::string(where) + ": \"" + key + "\" out of range: " + it->dump());
  }
  return static_cast<int>(v);
}

StatusOr<double> NumberField(const json& obj, const char* key, double fallback,
                             std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number()) {
    return InvalidArgumentError(std::string(where) + ": \"" + key + "\" must be a number, got " +
                                it->dump());
  }
  return it->get<double>();
}

// open_clip vision_cfg features this engine does not implement: refuse them
// rather than compute something else silently.
Status RejectUnsupportedOpenClip(const json& v) {
  auto truthy = [&](const char* key) {
    auto it = v.find(key);
    return it != v.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>());
  };
  for (const char* key : {"timm_model_name", "attentional_pool", "global_average_pool",
                          "no_ln_pre", "ls_init_value", "input_patchnorm"}) {
    if (truthy(key)) {
      return UnimplementedError(std::string("vision_cfg.") + key +
                                " is not supported (only the plain OpenCLIP ViT tower)");
    }
  }
  if (auto it = v.find("pool_type"); it != v.end() && it->is_string() && *it != "tok") {
    return UnimplementedError("vision_cfg.pool_type " + it->dump() +
                              " is not supported (only \"tok\", the class token)");
  }
  if (auto it = v.find("final_ln_after_pool"); it != v.end() && it->is_boolean() && it->get<bool>()) {
    return UnimplementedError("vision_cfg.final_ln_after_pool is not supported");
  }
  return {};
}

StatusOr<int> ImageSizeField(const json& v) {
  auto it = v.find("image_size");
  if (it != v.end() && it->is_array()) {
    if (it->size() != 2 || !(*it)[0].is_number_integer() || (*it)[0] != (*it)[1]) {
      return UnimplementedError("vision_cfg.image_size must be square, got " + it->dump());
    }
    return (*it)[0].get<int>();
  }
  return IntField(v, "image_size", 224, "vision_cfg");
}

StatusOr<VitConfig> ParseOpenClip(const json& root, std::string name) {
  const json& v = root["vision_cfg"];
  if (!v.is_object()) return InvalidArgumentError("\"vision_cfg\" must be an object");
  RETURN_IF_ERROR(RejectUnsupportedOpenClip(v));
  if (auto it = v.find("layers"); it != v.end() && it->is_array()) {
    return UnimplementedError("vision_cfg.layers is a list: ResNet towers are not supported");
  }
  VitConfig c;
  c.name = std::move(name);
  ASSIGN_OR_RETURN(c.embed_dim, IntField(root, "embed_dim", std::nullopt, "config"));
  ASSIGN_OR_RETURN(c.image_size, ImageSizeField(v));
  ASSIGN_OR_RETURN(c.layers, IntField(v, "layers", std::nullopt, "vision_cfg"));
  ASSIGN_OR_RETURN(c.width, IntField(v, "width", std::nullopt, "vision_cfg"));
  ASSIGN_OR_RETURN(c.patch_size, IntField(v, "patch_size", std::nullopt, "vision_cfg"));
  ASSIGN_OR_RETURN(c.head_width, IntField(v, "head_width", 64, "vision_cfg"));
  ASSIGN_OR_RETURN(double mlp_ratio, NumberField(v, "mlp_ratio", 4.0, "vision_cfg"));
  if (!(mlp_ratio > 0) || mlp_ratio > 64) {
    return InvalidArgumentError("vision_cfg.mlp_ratio out of range: " + std::to_string(mlp_ratio));
  }
  c.mlp_dim = static_cast<int>(c.width * mlp_ratio);  // int(width * mlp_ratio), as open_clip
  if (auto it = root.find("quick_gelu"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) return InvalidArgumentError("\"quick_gelu\" must be a boolean");
    c.quick_gelu = it->get<bool>();
  }
  return c;
}

// Hugging Face CLIPConfig (config.json with "vision_config") or a bare
// CLIPVisionConfig. HF's hidden_act is "quick_gelu" for the OpenAI
// checkpoints and "gelu" for LAION ones; we follow it.
StatusOr<VitConfig> ParseHuggingFace(const json& root, std::string name) {
  const json& v = root.contains("vision_config") ? root["vision_config"] : root;
  if (!v.is_object()) return InvalidArgumentError("\"vision_config\" must be an object");
  VitConfig c;
  c.name = std::move(name);
  const char* where = "vision_config";
  ASSIGN_OR_RETURN(c.width, IntField(v, "hidden_size", 768, where));
  ASSIGN_OR_RETURN(c.layers, IntField(v, "num_hidden_layers", 12, where));
  ASSIGN_OR_RETURN(int heads, IntField(v, "num_attention_heads", 12, where));
  ASSIGN_OR_RETURN(c.mlp_dim, IntField(v, "intermediate_size", 3072, where));
  ASSIGN_OR_RETURN(c.image_size, IntField(v, "image_size", 224, where));
  ASSIGN_OR_RETURN(c.patch_size, IntField(v, "patch_size", 32, where));
  ASSIGN_OR_RETURN(c.ln_eps, NumberField(v, "layer_norm_eps", 1e-5, where));
  if (heads <= 0 || c.width % heads != 0) {
    return InvalidArgumentError("vision_config: hidden_size " + std::to_string(c.width) +
                                " is not divisible by num_attention_heads " + std::to_string(heads));
  }
  c.head_width = c.width / heads;
  // projection_dim sits at the top level of CLIPConfig and inside
  // CLIPVisionConfig for CLIPVisionModelWithProjection.
  const json& proj_holder = root.contains("projection_dim") ? root : v;
  ASSIGN_OR_RETURN(c.embed_dim, IntField(proj_holder, "projection_dim", 512, "config"));
  std::string act = "quick_gelu";  // HF CLIPVisionConfig's default
  if (auto it = v.find("hidden_act"); it != v.end() && it->is_string()) act = it->get<std::string>();
  if (act == "quick_gelu") {
    c.quick_gelu = true;
  } else if (act == "gelu") {
    c.quick_gelu = false;
  } else {
    return UnimplementedError("vision_config.hidden_act \"" + act +
                              "\" is not supported (gelu or quick_gelu)");
  }
  return c;
}

}  // namespace

Status VitConfig::Validate() const {
  auto positive = [&](const char* field, double value) -> Status {
    if (!(value > 0)) {
      return InvalidArgumentError("config " + name + ": " + field + " must be positive, got " +
                                  std::to_string(value));
    }
    return {};
  };
  RETURN_IF_ERROR(positive("image_size", image_size));
  RETURN_IF_ERROR(positive("patch_size", patch_size));
  RETURN_IF_ERROR(positive("width", width));
  RETURN_IF_ERROR(positive("layers", layers));
  RETURN_IF_ERROR(positive("head_width", head_width));
  RETURN_IF_ERROR(positive("mlp_dim", mlp_dim));
  RETURN_IF_ERROR(positive("embed_dim", embed_dim));
  RETURN_IF_ERROR(positive("ln_eps", ln_eps));
  if (width % head_width != 0) {
    return InvalidArgumentError("config " + name + ": width " + std::to_string(width) +
                                " is not divisible by head_width " + std::to_string(head_width));
  }
  if (image_size % patch_size != 0) {
    return InvalidArgumentError("config " + name + ": image_size " + std::to_string(image_size) +
                                " is not divisible by patch_size " + std::to_string(patch_size));
  }
  // Keeps every tensor size far inside int64 and any real model.
  if (image_size > 4096 || width > 65536 || layers > 1024 || mlp_dim > 262144 ||
      embed_dim > 65536) {
    return InvalidArgumentError("config " + name + ": sizes are implausibly large");
  }
  return {};
}

StatusOr<VitConfig> BuiltinConfig(std::string_view name) {
  for (const BuiltinRow& row : kBuiltins) {
    if (name == row.name) return FromRow(row);
  }
  std::string known;
  for (const BuiltinRow& row : kBuiltins) known += (known.empty() ? "" : ", ") + std::string(row.name);
  return NotFoundError("unknown model \"" + std::string(name) + "\" (built in: " + known +
                       "; other models: --config FILE)");
}

std::vector<std::string> BuiltinConfigNames() {
  std::vector<std::string> names;
  for (const BuiltinRow& row : kBuiltins) names.emplace_back(row.name);
  return names;
}

StatusOr<VitConfig> ParseOpenClipConfig(std::string_view json_text, std::string name) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgumentError("config " + name + ": not valid JSON");
  if (!root.is_object()) return InvalidArgumentError("config " + name + ": not a JSON object");
  StatusOr<VitConfig> parsed = InvalidArgumentError("unreachable");
  try {
    if (root.contains("vision_cfg")) {
      parsed = ParseOpenClip(root, name);
    } else if (root.contains("vision_config") || root.value("model_type", "") == "clip_vision_model") {
      parsed = ParseHuggingFace(root, name);
    } else {
      return InvalidArgumentError("config " + name +
                                  ": neither an open_clip config (\"vision_cfg\") nor a Hugging "
                                  "Face CLIP config (\"vision_config\")");
    }
  } catch (const json::exception& e) {  // type mismatches inside nlohmann
    return InvalidArgumentError("config " + name + ": " + e.what());
  }
  if (!parsed.ok()) return parsed.status().WithPrefix("config " + name);
  RETURN_IF_ERROR(parsed->Validate());
  return parsed;
}

StatusOr<VitConfig> LoadOpenClipConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open config file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return InternalError("cannot read config file " + path);
  // Name the model after the file: ".../ViT-B-16.json" -> "ViT-B-16".
  std::string name = path;
  if (auto slash = name.find_last_of('/'); slash != std::string::npos) name = name.substr(slash + 1);
  if (name.size() > 5 && name.ends_with(".json")) name.resize(name.size() - 5);
  StatusOr<VitConfig> parsed = ParseOpenClipConfig(text.str(), name);
  if (!parsed.ok()) return parsed.status().WithPrefix(path);
  return parsed;
}

StatusOr<VitConfig> ResolveVitConfig(std::string_view model, const std::string& config_path, bool quick_gelu) {
  VitConfig cfg;
  if (!config_path.empty()) {
    ASSIGN_OR_RETURN(cfg, LoadOpenClipConfigFile(config_path));
  } else {
    ASSIGN_OR_RETURN(cfg, BuiltinConfig(model));
  }
  if (quick_gelu) cfg.quick_gelu = true;
  RETURN_IF_ERROR(cfg.Validate());
  return cfg;
}

}  // namespace clipserve::model
