// Test helpers: write small weight files byte by byte, independently of the
// readers under test.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "model/weights.h"

namespace clipserve::model::testing {

inline std::string DtypeName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    default: return "??";
  }
}

// Safetensors: [u64 LE header length][JSON header][data]; tensors are laid
// out in map order. `pad_header_to` aligns the data start (the spec pads
// with spaces to 8 bytes; 0 = no padding, to test unaligned data).
inline std::string SafetensorsBytes(const std::map<std::string, torch::Tensor>& tensors,
                                    std::size_t pad_header_to = 8) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const auto& [name, t0] : tensors) {
    torch::Tensor t = t0.contiguous();
    header += ",\"" + name + "\":{\"dtype\":\"" + DtypeName(t.scalar_type()) + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.sizes().size(); ++i) {
      if (i > 0) header += ',';
      header += std::to_string(t.sizes()[i]);
    }
    const std::size_t begin = data.size();
    data.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
    header += "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  if (pad_header_to > 0) {
    while ((8 + header.size()) % pad_header_to != 0) header += ' ';
  }
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string TempPath(const std::string& name) {
  std::string dir = ::testing::TempDir();
  if (dir.empty() || dir.back() != '/') dir += '/';
  return dir + "clipserve_model_" + std::to_string(::getpid()) + "_" + name;
}

// Canonical -> Hugging Face CLIPVisionModelWithProjection names, computed
// here by splitting in_proj into q, k, v and transposing proj.
inline std::map<std::string, torch::Tensor> ToHuggingFace(const WeightMap& w, int layers) {
  std::map<std::string, torch::Tensor> hf;
  const std::string v = "vision_model.";
  hf[v + "embeddings.patch_embedding.weight"] = w.at("conv1.weight");
  hf[v + "embeddings.class_embedding"] = w.at("class_embedding");
  hf[v + "embeddings.position_embedding.weight"] = w.at("positional_embedding");
  hf[v + "pre_layrnorm.weight"] = w.at("ln_pre.weight");
  hf[v + "pre_layrnorm.bias"] = w.at("ln_pre.bias");
  hf[v + "post_layernorm.weight"] = w.at("ln_post.weight");
  hf[v + "post_layernorm.bias"] = w.at("ln_post.bias");
  hf["visual_projection.weight"] = w.at("proj").t().contiguous();
  for (int i = 0; i < layers; ++i) {
    const std::string b = "transformer.resblocks." + std::to_string(i) + ".";
    const std::string h = v + "encoder.layers." + std::to_string(i) + ".";
    hf[h + "layer_norm1.weight"] = w.at(b + "ln_1.weight");
    hf[h + "layer_norm1.bias"] = w.at(b + "ln_1.bias");
    hf[h + "layer_norm2.weight"] = w.at(b + "ln_2.weight");
    hf[h + "layer_norm2.bias"] = w.at(b + "ln_2.bias");
    auto qkv_w = w.at(b + "attn.in_proj_weight").chunk(3, 0);
    auto qkv_b = w.at(b + "attn.in_proj_bias").chunk(3, 0);
    const char* letters[] = {"q", "k", "v"};
    for (int k = 0; k < 3; ++k) {
      hf[h + "self_attn." + letters[k] + "_proj.weight"] = qkv_w[k].contiguous();
      hf[h + "self_attn." + letters[k] + "_proj.bias"] = qkv_b[k].contiguous();
    }
    hf[h + "self_attn.out_proj.weight"] = w.at(b + "attn.out_proj.weight");
    hf[h + "self_attn.out_proj.bias"] = w.at(b + "attn.out_proj.bias");
    hf[h + "mlp.fc1.weight"] = w.at(b + "mlp.c_fc.weight");
    hf[h + "mlp.fc1.bias"] = w.at(b + "mlp.c_fc.bias");
    hf[h + "mlp.fc2.weight"] = w.at(b + "mlp.c_proj.weight");
    hf[h + "mlp.fc2.bias"] = w.at(b + "mlp.c_proj.bias");
  }
  return hf;
}

inline std::map<std::string, torch::Tensor> WithPrefix(const WeightMap& w, const std::string& prefix,
                                                       torch::ScalarType dtype = torch::kFloat32) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : w) out[prefix + name] = t.to(dtype);
  return out;
}

}  // namespace clipserve::model::testing
