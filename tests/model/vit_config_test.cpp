#include "model/vit_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace clipserve::model {
namespace {

using ::testing::HasSubstr;

TEST(BuiltinConfig, VitB32MatchesOpenClip) {
  auto c = BuiltinConfig("ViT-B-32");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->image_size, 224);
  EXPECT_EQ(c->patch_size, 32);
  EXPECT_EQ(c->width, 768);
  EXPECT_EQ(c->layers, 12);
  EXPECT_EQ(c->heads(), 12);
  EXPECT_EQ(c->mlp_dim, 3072);
  EXPECT_EQ(c->embed_dim, 512);
  EXPECT_FALSE(c->quick_gelu);
  EXPECT_EQ(c->tokens(), 50);
}

TEST(BuiltinConfig, LargerModels) {
  auto l14 = BuiltinConfig("ViT-L-14");
  ASSERT_TRUE(l14.ok());
  EXPECT_EQ(l14->width, 1024);
  EXPECT_EQ(l14->layers, 24);
  EXPECT_EQ(l14->heads(), 16);
  EXPECT_EQ(l14->tokens(), 257);
  EXPECT_EQ(l14->embed_dim, 768);
  auto h14 = BuiltinConfig("ViT-H-14");
  ASSERT_TRUE(h14.ok());
  EXPECT_EQ(h14->heads(), 16);
  EXPECT_EQ(h14->head_width, 80);
  EXPECT_EQ(h14->embed_dim, 1024);
  auto big = BuiltinConfig("ViT-bigG-14");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->mlp_dim, 8192);
  EXPECT_TRUE(BuiltinConfig("ViT-B-32-quickgelu")->quick_gelu);
}

TEST(BuiltinConfig, TestTiny) {
  auto c = BuiltinConfig("test-tiny");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->image_size, 32);
  EXPECT_EQ(c->patch_size, 8);
  EXPECT_EQ(c->width, 64);
  EXPECT_EQ(c->layers, 2);
  EXPECT_EQ(c->head_width, 32);
  EXPECT_EQ(c->heads(), 2);
  EXPECT_EQ(c->mlp_dim, 256);
  EXPECT_EQ(c->embed_dim, 32);
  EXPECT_EQ(c->tokens(), 17);
}

TEST(BuiltinConfig, AllValidAndUnknownNamed) {
  for (const std::string& name : BuiltinConfigNames()) {
    auto c = BuiltinConfig(name);
    ASSERT_TRUE(c.ok()) << name;
    EXPECT_EQ(c->name, name);
    EXPECT_TRUE(c->Validate().ok()) << name << ": " << c->Validate().ToString();
  }
  auto bad = BuiltinConfig("ViT-X-99");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(bad.status().message(), HasSubstr("ViT-X-99"));
  EXPECT_THAT(bad.status().message(), HasSubstr("ViT-B-32"));
}

TEST(VitConfigValidate, RejectsBadSizes) {
  VitConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.head_width = 100;
  EXPECT_THAT(c.Validate().message(), HasSubstr("head_width"));
  c = VitConfig{};
  c.patch_size = 30;
  EXPECT_THAT(c.Validate().message(), HasSubstr("patch_size"));
  c = VitConfig{};
  c.layers = 0;
  EXPECT_THAT(c.Validate().message(), HasSubstr("layers must be positive"));
  c = VitConfig{};
  c.width = 1 << 30;
  EXPECT_FALSE(c.Validate().ok());
}

// open_clip's model_configs/ViT-B-16.json, verbatim.
constexpr char kOpenClipB16[] = R"({
    "embed_dim": 512,
    "vision_cfg": {
        "image_size": 224,
        "layers": 12,
        "width": 768,
        "patch_size": 16
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 512,
        "heads": 8,
        "layers": 12
    }
})";

TEST(ParseOpenClipConfig, VitB16) {
  auto c = ParseOpenClipConfig(kOpenClipB16, "ViT-B-16");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "ViT-B-16");
  EXPECT_EQ(c->patch_size, 16);
  EXPECT_EQ(c->width, 768);
  EXPECT_EQ(c->head_width, 64);  // default
  EXPECT_EQ(c->mlp_dim, 3072);   // default mlp_ratio 4
  EXPECT_EQ(c->embed_dim, 512);
  EXPECT_EQ(c->tokens(), 197);
  EXPECT_FALSE(c->quick_gelu);
}

TEST(ParseOpenClipConfig, HeadWidthMlpRatioQuickGelu) {
  // open_clip's ViT-g-14 (mlp_ratio 4.3637) with quick_gelu set.
  auto c = ParseOpenClipConfig(R"({"embed_dim": 1024, "quick_gelu": true,
      "vision_cfg": {"image_size": 224, "layers": 40, "width": 1408, "head_width": 88,
                     "mlp_ratio": 4.3637, "patch_size": 14}})",
                               "g14");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->heads(), 16);
  EXPECT_EQ(c->mlp_dim, 6144);
  EXPECT_TRUE(c->quick_gelu);
  EXPECT_EQ(c->mlp_dim, BuiltinConfig("ViT-g-14")->mlp_dim);
}

TEST(ParseOpenClipConfig, BadConfigsNameTheProblem) {
  struct Case {
    const char* json;
    const char* expect;
  };
  const Case cases[] = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"embed_dim": 512})", "vision_cfg"},
      {R"({"vision_cfg": {"layers": 12, "width": 768, "patch_size": 16}})", "embed_dim"},
      {R"({"embed_dim": 512, "vision_cfg": {"layers": 12, "patch_size": 16}})", "width"},
      {R"({"embed_dim": 512, "vision_cfg": {"layers": "12", "width": 768, "patch_size": 16}})",
       "\"layers\" must be an integer"},
      {R"({"embed_dim": 512, "vision_cfg": {"layers": 12, "width": 768, "patch_size": 15}})",
       "not divisible by patch_size"},
      {R"({"embed_dim": 512, "vision_cfg": {"layers": 12, "width": 700, "patch_size": 16}})",
       "not divisible by head_width"},
      {R"({"embed_dim": 512, "vision_cfg": {"layers": [3,4,6,3], "width": 64, "patch_size": null}})",
       "ResNet"},
      {R"({"embed_dim": 512, "vision_cfg": {"layers": 12, "width": 768, "patch_size": 16,
           "timm_model_name": "vit_base"}})",
       "timm_model_name"},
      {R"({"embed_dim": 512, "quick_gelu": "yes", "vision_cfg": {"layers": 12, "width": 768,
           "patch_size": 16}})",
       "quick_gelu"},
      {R"({"embed_dim": -5, "vision_cfg": {"layers": 12, "width": 768, "patch_size": 16}})",
       "embed_dim must be positive"},
  };
  for (const Case& c : cases) {
    auto r = ParseOpenClipConfig(c.json, "bad");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expect)) << c.json;
  }
}

TEST(ParseOpenClipConfig, HuggingFaceClipConfig) {
  // The shape of openai/clip-vit-base-patch16's config.json (trimmed).
  auto c = ParseOpenClipConfig(R"({"architectures": ["CLIPModel"], "projection_dim": 512,
      "text_config": {"hidden_size": 512},
      "vision_config": {"hidden_act": "quick_gelu", "hidden_size": 768, "image_size": 224,
        "intermediate_size": 3072, "layer_norm_eps": 1e-05, "num_attention_heads": 12,
        "num_hidden_layers": 12, "patch_size": 16}})",
                               "hf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->patch_size, 16);
  EXPECT_EQ(c->head_width, 64);
  EXPECT_EQ(c->embed_dim, 512);
  EXPECT_TRUE(c->quick_gelu);
  auto laion = ParseOpenClipConfig(R"({"projection_dim": 1024, "vision_config": {"hidden_act": "gelu",
      "hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 16,
      "num_hidden_layers": 32, "patch_size": 14}})",
                                   "hf-h14");
  ASSERT_TRUE(laion.ok()) << laion.status().ToString();
  EXPECT_FALSE(laion->quick_gelu);
  EXPECT_EQ(laion->head_width, 80);
  auto bad_act = ParseOpenClipConfig(R"({"vision_config": {"hidden_act": "relu"}})", "x");
  EXPECT_THAT(bad_act.status().message(), HasSubstr("relu"));
}

TEST(LoadOpenClipConfigFile, ReadsFileAndNamesIt) {
  const std::string path = ::testing::TempDir() + "/ViT-B-16.json";
  {
    std::ofstream out(path);
    out << kOpenClipB16;
  }
  auto c = LoadOpenClipConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "ViT-B-16");
  EXPECT_EQ(c->patch_size, 16);
  std::remove(path.c_str());
  auto missing = LoadOpenClipConfigFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(path));
}

}  // namespace
}  // namespace clipserve::model
