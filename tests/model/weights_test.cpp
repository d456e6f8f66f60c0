#include "model/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace clipserve::model {
namespace {

using ::testing::HasSubstr;

VitConfig Tiny() { return *BuiltinConfig("test-tiny"); }

TEST(ExpectedTensors, CountsNamesAndShapes) {
  const VitConfig b32 = *BuiltinConfig("ViT-B-32");
  const auto expected = ExpectedTensors(b32);
  EXPECT_EQ(expected.size(), 5u + 12u * 12u + 3u);
  std::set<std::string> names;
  std::int64_t params = 0;
  for (const auto& e : expected) {
    names.insert(e.name);
    std::int64_t n = 1;
    for (auto d : e.shape) n *= d;
    params += n;
  }
  EXPECT_EQ(names.size(), expected.size());  // no duplicates
  // open_clip ViT-B-32 visual tower: 87,849,216 parameters.
  EXPECT_EQ(params, 87849216);
  EXPECT_EQ(expected.front().name, "conv1.weight");
  EXPECT_EQ(expected.front().shape, (std::vector<std::int64_t>{768, 3, 32, 32}));
  EXPECT_EQ(expected.back().name, "proj");
  EXPECT_EQ(expected.back().shape, (std::vector<std::int64_t>{768, 512}));
  EXPECT_TRUE(names.count("transformer.resblocks.11.mlp.c_proj.weight"));
  EXPECT_TRUE(names.count("positional_embedding"));
}

TEST(ValidateWeights, AcceptsRandomAndNamesMismatches) {
  const VitConfig b32 = *BuiltinConfig("ViT-B-32");
  WeightMap w;
  for (const auto& e : ExpectedTensors(b32)) w[e.name] = torch::zeros(e.shape);
  EXPECT_TRUE(ValidateWeights(w, b32).ok());

  w["transformer.resblocks.3.attn.in_proj_weight"] = torch::zeros({768, 768});
  Status st = ValidateWeights(w, b32);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "transformer.resblocks.3.attn.in_proj_weight: expected [2304, 768], got [768, 768]");

  w["transformer.resblocks.3.attn.in_proj_weight"] = torch::zeros({2304, 768});
  w.erase("ln_post.bias");
  st = ValidateWeights(w, b32);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("ln_post.bias: expected [768]"));
  EXPECT_THAT(st.message(), HasSubstr("missing"));

  w["ln_post.bias"] = torch::zeros({768}, torch::kInt32);
  EXPECT_THAT(ValidateWeights(w, b32).message(), HasSubstr("ln_post.bias: dtype"));
  w["ln_post.bias"] = torch::zeros({768}, torch::kBFloat16);
  EXPECT_TRUE(ValidateWeights(w, b32).ok());
}

TEST(RandomWeights, DeterministicPerSeed) {
  const VitConfig c = Tiny();
  WeightMap a = RandomWeights(c, 42), b = RandomWeights(c, 42), other = RandomWeights(c, 43);
  ASSERT_TRUE(ValidateWeights(a, c).ok()) << ValidateWeights(a, c).ToString();
  ASSERT_EQ(a.size(), ExpectedTensors(c).size());
  for (const auto& [name, t] : a) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
    EXPECT_FALSE(torch::equal(t, other.at(name))) << name;
  }
  // Different tensors of the same shape get different streams.
  EXPECT_FALSE(torch::equal(a.at("ln_pre.bias"), a.at("ln_post.bias")));
}

TEST(RandomWeights, PinnedValues) {
  // The generator is portable integer arithmetic (splitmix64) plus exact
  // float ops: these values must not change across platforms or LibTorch
  // versions; a change here silently changes every pinned forward output.
  WeightMap w = RandomWeights(Tiny(), 0);
  const float conv0 = w.at("conv1.weight").view(-1)[0].item<float>();
  const float proj_last = w.at("proj").view(-1)[-1].item<float>();
  const double conv_sum = w.at("conv1.weight").to(torch::kFloat64).sum().item<double>();
  EXPECT_EQ(conv0, 0x1.8c500ep-5f);
  EXPECT_EQ(proj_last, -0x1.39f84p-8f);
  EXPECT_NEAR(conv_sum, -0x1.8754d4ffcb18p+3, 1e-9);
}

TEST(RandomWeights, ScalesFollowOpenClipInit) {
  const VitConfig c = *BuiltinConfig("ViT-B-32");
  WeightMap w = RandomWeights(c, 1);
  auto std_of = [&](const char* name) { return w.at(name).std().item<double>(); };
  auto mean_of = [&](const char* name) { return w.at(name).mean().item<double>(); };
  EXPECT_NEAR(std_of("conv1.weight"), 1.0 / std::sqrt(3.0 * 32 * 32), 2e-4);
  EXPECT_NEAR(std_of("positional_embedding"), 1.0 / std::sqrt(768.0), 1e-3);
  EXPECT_NEAR(std_of("proj"), 1.0 / std::sqrt(768.0), 1e-3);
  EXPECT_NEAR(std_of("transformer.resblocks.0.attn.in_proj_weight"), 1.0 / std::sqrt(768.0), 1e-3);
  EXPECT_NEAR(std_of("transformer.resblocks.5.mlp.c_fc.weight"), 1.0 / std::sqrt(1536.0), 1e-3);
  EXPECT_NEAR(mean_of("transformer.resblocks.0.ln_1.weight"), 1.0, 0.01);
  EXPECT_NEAR(mean_of("ln_post.bias"), 0.0, 0.005);
  EXPECT_NEAR(mean_of("transformer.resblocks.0.mlp.c_fc.weight"), 0.0, 1e-3);
  // Uniform noise: bounded by sqrt(3) * std.
  EXPECT_LE(w.at("proj").abs().max().item<double>(), std::sqrt(3.0 / 768.0) + 1e-6);
}

TEST(LoadWeights, RandomSpec) {
  const VitConfig c = Tiny();
  auto w = LoadWeights("random:7", c);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  WeightMap direct = RandomWeights(c, 7);
  for (const auto& [name, t] : direct) EXPECT_TRUE(torch::equal(t, w->at(name))) << name;
  auto big = LoadWeights("random:18446744073709551615", c);
  EXPECT_TRUE(big.ok()) << big.status().ToString();
  for (const char* bad : {"random:", "random:-1", "random:abc", "random:1x",
                          "random:99999999999999999999999"}) {
    auto r = LoadWeights(bad, c);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr(bad));
  }
}

TEST(LoadWeights, MissingFileNamesPath) {
  auto r = LoadWeights("/nonexistent/dir/weights.safetensors", Tiny());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/dir/weights.safetensors"));
}

TEST(LoadWeights, DirectoryNamesPath) {
  auto r = LoadWeights(::testing::TempDir(), Tiny());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("is a directory"));
}

TEST(LoadWeights, RejectsInvalidConfig) {
  VitConfig c = Tiny();
  c.head_width = 7;
  EXPECT_FALSE(LoadWeights("random:0", c).ok());
}

}  // namespace
}  // namespace clipserve::model
