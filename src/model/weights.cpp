// Canonical weight map: expected names/shapes, validation, random weights and
// the LoadWeights dispatcher (file readers live in their own files).
#include "model/weights.h"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "model/weight_readers.h"

namespace clipserve::model {
namespace {

std::string ShapeString(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// splitmix64: a counter-based generator, so every element's value depends
// only on (seed, tensor index, element index) — bit-identical on every
// platform and LibTorch version, unlike torch's randn kernels.
std::uint64_t SplitMix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// How RandomWeights fills one tensor: uniform noise with standard deviation
// `std` around `mean`.
struct Init {
  float mean;
  float std;
};

// Scales follow open_clip's init so activations stay O(1) through the tower:
// embeddings and proj width^-0.5, attention width^-0.5, MLP in (2W)^-0.5,
// residual outputs width^-0.5 * (2L)^-0.5, conv1 fan_in^-0.5. LayerNorms and
// biases get small noise (not exactly 1/0) so that tests can tell whether a
// forward actually applies them.
Init InitFor(const std::string& name, const VitConfig& c) {
  const float w = static_cast<float>(c.width);
  const float scale = 1.0f / std::sqrt(w);
  const float resid = scale / std::sqrt(2.0f * static_cast<float>(c.layers));
  auto ends = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (name == "conv1.weight") return {0, 1.0f / std::sqrt(3.0f * c.patch_size * c.patch_size)};
  if (name == "class_embedding" || name == "positional_embedding" || name == "proj") return {0, scale};
  if (ends("ln_1.weight") || ends("ln_2.weight") || ends("ln_pre.weight") || ends("ln_post.weight")) {
    return {1.0f, 0.05f};
  }
  if (ends(".bias") || ends("in_proj_bias")) return {0, 0.02f};
  if (ends("attn.in_proj_weight")) return {0, scale};
  if (ends("attn.out_proj.weight") || ends("mlp.c_proj.weight")) return {0, resid};
  if (ends("mlp.c_fc.weight")) return {0, 1.0f / std::sqrt(2.0f * w)};
  return {0, scale};
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const VitConfig& c) {
  const std::int64_t w = c.width, m = c.mlp_dim, p = c.patch_size;
  std::vector<ExpectedTensor> out = {
      {"conv1.weight", {w, 3, p, p}},
      {"class_embedding", {w}},
      {"positional_embedding", {c.tokens(), w}},
      {"ln_pre.weight", {w}},
      {"ln_pre.bias", {w}},
  };
  for (int i = 0; i < c.layers; ++i) {
    const std::string b = "transformer.resblocks." + std::to_string(i) + ".";
    out.push_back({b + "ln_1.weight", {w}});
    out.push_back({b + "ln_1.bias", {w}});
    out.push_back({b + "attn.in_proj_weight", {3 * w, w}});
    out.push_back({b + "attn.in_proj_bias", {3 * w}});
    out.push_back({b + "attn.out_proj.weight", {w, w}});
    out.push_back({b + "attn.out_proj.bias", {w}});
    out.push_back({b + "ln_2.weight", {w}});
    out.push_back({b + "ln_2.bias", {w}});
    out.push_back({b + "mlp.c_fc.weight", {m, w}});
    out.push_back({b + "mlp.c_fc.bias", {m}});
    out.push_back({b + "mlp.c_proj.weight", {w, m}});
    out.push_back({b + "mlp.c_proj.bias", {w}});
  }
  out.push_back({"ln_post.weight", {w}});
  out.push_back({"ln_post.bias", {w}});
  out.push_back({"proj", {w, c.embed_dim}});
  return out;
}

Status ValidateWeights(const WeightMap& weights, const VitConfig& config) {
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    auto it = weights.find(e.name);
    if (it == weights.end() || !it->second.defined()) {
      return NotFoundError(e.name + ": expected " + ShapeString(e.shape) + ", got nothing (missing)");
    }
    const torch::Tensor& t = it->second;
    if (t.sizes() != c10::IntArrayRef(e.shape)) {
      return InvalidArgumentError(e.name + ": expected " + ShapeString(e.shape) + ", got " +
                                  ShapeString(t.sizes()));
    }
    const auto dtype = t.scalar_type();
    if (dtype != torch::kFloat32 && dtype != torch::kFloat16 && dtype != torch::kBFloat16) {
      return InvalidArgumentError(e.name + ": dtype " + std::string(c10::toString(dtype)) +
                                  " is not supported (float32, float16, bfloat16)");
    }
    if (!t.device().is_cpu()) return InvalidArgumentError(e.name + ": expected a CPU tensor");
  }
  return {};
}

WeightMap RandomWeights(const VitConfig& config, std::uint64_t seed) {
  WeightMap out;
  std::uint64_t tensor_index = 0;
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    torch::Tensor t = torch::empty(e.shape, torch::kFloat32);
    const Init init = InitFor(e.name, config);
    // Uniform on [-sqrt(3), sqrt(3)) has unit variance.
    const float amplitude = init.std * std::sqrt(3.0f);
    const std::uint64_t stream = SplitMix64(seed ^ SplitMix64(++tensor_index));
    float* data = t.data_ptr<float>();
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint64_t bits = SplitMix64(stream + static_cast<std::uint64_t>(i));
      // 24 random bits -> exactly representable u in [0, 1); all float ops
      // below are IEEE-exact or correctly rounded, hence portable.
      const float u = static_cast<float>(bits >> 40) * 0x1.0p-24f;
      data[i] = init.mean + amplitude * (2.0f * u - 1.0f);
    }
    out.emplace(e.name, std::move(t));
  }
  return out;
}

StatusOr<std::uint64_t> ParseRandomSeed(std::string_view spec) {
  constexpr std::string_view kPrefix = "random:";
  if (!spec.starts_with(kPrefix)) return InvalidArgumentError("not a random weight spec");
  const std::string digits(spec.substr(kPrefix.size()));
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgumentError("weights \"" + std::string(spec) +
                                "\": the seed must be a non-negative integer, e.g. random:0");
  }
  errno = 0;
  const unsigned long long seed = std::strtoull(digits.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    return InvalidArgumentError("weights \"" + std::string(spec) + "\": seed out of range");
  }
  return static_cast<std::uint64_t>(seed);
}

StatusOr<WeightMap> LoadWeights(const std::string& spec, const VitConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  if (spec.starts_with("random:")) {
    ASSIGN_OR_RETURN(std::uint64_t seed, ParseRandomSeed(spec));
    return RandomWeights(config, seed);
  }
  ASSIGN_OR_RETURN(WeightMap weights, ReadWeightFile(spec));
  Status valid = ValidateWeights(weights, config);
  if (!valid.ok()) return valid.WithPrefix(spec + " (config " + config.name + ")");
  return weights;
}

}  // namespace clipserve::model
