// Safetensors (open_clip and Hugging Face layouts) through LoadWeights.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "model/safetensors.h"
#include "model/safetensors_writer.h"
#include "model/weights.h"
#include "test_files.h"

namespace clipserve::model {
namespace {

using ::testing::HasSubstr;
using namespace clipserve::model::testing;

VitConfig Tiny() { return *BuiltinConfig("test-tiny"); }

class SafetensorsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& p : paths_) std::remove(p.c_str());
  }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = TempPath(name);
    WriteFile(path, bytes);
    paths_.push_back(path);
    return path;
  }
  void ExpectEqualTo(const WeightMap& loaded, const WeightMap& expected, torch::ScalarType dtype) {
    ASSERT_EQ(loaded.size(), expected.size());
    for (const auto& [name, t] : expected) {
      ASSERT_TRUE(loaded.count(name)) << name;
      const torch::Tensor& got = loaded.at(name);
      EXPECT_EQ(got.scalar_type(), dtype) << name;
      EXPECT_TRUE(torch::equal(got, t.to(dtype))) << name;
    }
  }
  std::vector<std::string> paths_;
};

// Text-tower keys of a full open_clip model; unprefixed names collide with
// visual ones and must be ignored when "visual." keys exist.
void AddTextTower(std::map<std::string, torch::Tensor>& file) {
  file["positional_embedding"] = torch::ones({77, 48});
  file["transformer.resblocks.0.ln_1.weight"] = torch::ones({48});
  file["token_embedding.weight"] = torch::ones({100, 48});
  file["text_projection"] = torch::ones({48, 32});
  file["logit_scale"] = torch::ones({});
  file["ln_final.weight"] = torch::ones({48});
}

TEST_F(SafetensorsTest, OpenClipWithVisualPrefixIgnoresTextTower) {
  const WeightMap w = RandomWeights(Tiny(), 3);
  auto file = WithPrefix(w, "visual.");
  AddTextTower(file);
  auto loaded = LoadWeights(Write("oc.safetensors", SafetensorsBytes(file)), Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
}

TEST_F(SafetensorsTest, OpenClipVisualOnlyWithoutPrefix) {
  const WeightMap w = RandomWeights(Tiny(), 4);
  auto loaded = LoadWeights(Write("vis.safetensors", SafetensorsBytes(WithPrefix(w, ""))), Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
}

TEST_F(SafetensorsTest, Fp16AndBf16KeepTheirDtype) {
  const WeightMap w = RandomWeights(Tiny(), 5);
  for (torch::ScalarType dtype : {torch::kFloat16, torch::kBFloat16}) {
    auto path = Write(std::string("half_") + DtypeName(dtype) + ".safetensors",
                      SafetensorsBytes(WithPrefix(w, "visual.", dtype)));
    auto loaded = LoadWeights(path, Tiny());
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ExpectEqualTo(*loaded, w, dtype);
  }
}

TEST_F(SafetensorsTest, HuggingFaceLayoutMapsNumerically) {
  const VitConfig c = Tiny();
  const WeightMap w = RandomWeights(c, 6);
  auto file = ToHuggingFace(w, c.layers);
  // Keys a real CLIPModel file also has: text tower, buffers, logit scale.
  file["text_model.embeddings.token_embedding.weight"] = torch::ones({100, 48});
  file["text_model.encoder.layers.0.self_attn.q_proj.weight"] = torch::ones({48, 48});
  file["text_projection.weight"] = torch::ones({32, 48});
  file["logit_scale"] = torch::ones({});
  file["vision_model.embeddings.position_ids"] = torch::arange(c.tokens()).unsqueeze(0);  // I64
  auto loaded = LoadWeights(Write("hf.safetensors", SafetensorsBytes(file)), c);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
  // Spelled out: in_proj is q, k, v stacked; proj is visual_projection^T.
  const auto& in_proj = loaded->at("transformer.resblocks.1.attn.in_proj_weight");
  const int64_t W = c.width;
  EXPECT_TRUE(torch::equal(in_proj.slice(0, W, 2 * W),
                           file.at("vision_model.encoder.layers.1.self_attn.k_proj.weight")));
  EXPECT_TRUE(torch::equal(loaded->at("transformer.resblocks.0.attn.in_proj_bias").slice(0, 2 * W),
                           file.at("vision_model.encoder.layers.0.self_attn.v_proj.bias")));
  EXPECT_FLOAT_EQ(loaded->at("proj")[5][7].item<float>(),
                  file.at("visual_projection.weight")[7][5].item<float>());
}

TEST_F(SafetensorsTest, HuggingFaceBf16AndMissingK) {
  const VitConfig c = Tiny();
  const WeightMap w = RandomWeights(c, 7);
  auto file = ToHuggingFace(w, c.layers);
  for (auto& [name, t] : file) t = t.to(torch::kBFloat16);
  auto loaded = LoadWeights(Write("hf_bf16.safetensors", SafetensorsBytes(file)), c);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kBFloat16);

  file.erase("vision_model.encoder.layers.1.self_attn.k_proj.weight");
  auto missing = LoadWeights(Write("hf_nok.safetensors", SafetensorsBytes(file)), c);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("vision_model.encoder.layers.1.self_attn.k_proj.weight is missing"));
}

TEST_F(SafetensorsTest, TensorsAreViewsIntoTheMapping) {
  const WeightMap w = RandomWeights(Tiny(), 8);
  const std::string path = Write("mapped.safetensors", SafetensorsBytes(WithPrefix(w, "visual.")));
  auto loaded = LoadWeights(path, Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  // The data pointer must lie inside this file's mapping in /proc/self/maps.
  const auto address = reinterpret_cast<std::uintptr_t>(loaded->at("conv1.weight").data_ptr());
  std::ifstream maps("/proc/self/maps");
  bool inside = false;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(path) == std::string::npos) continue;
    std::uintptr_t lo = 0, hi = 0;
    std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi);
    inside = inside || (address >= lo && address < hi);
  }
  EXPECT_TRUE(inside) << "conv1.weight is not backed by the file mapping";
  // The mapping outlives the file name and is copy-on-write.
  std::remove(path.c_str());
  torch::Tensor t = loaded->at("ln_pre.bias");
  t.add_(1.0f);
  EXPECT_TRUE(torch::equal(t, w.at("ln_pre.bias") + 1.0f));
}

TEST_F(SafetensorsTest, UnalignedDataIsCopied) {
  const WeightMap w = RandomWeights(Tiny(), 9);
  auto file = WithPrefix(w, "visual.");
  file["visual.aaa_odd"] = torch::zeros({1}, torch::kFloat16);  // sorts first: shifts data by 2
  auto loaded = LoadWeights(Write("unaligned.safetensors", SafetensorsBytes(file, 0)), Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
}

TEST_F(SafetensorsTest, WrongShapeAndMissingTensorNamed) {
  const VitConfig c = Tiny();
  WeightMap w = RandomWeights(c, 10);
  w["transformer.resblocks.1.attn.in_proj_weight"] = torch::zeros({64, 64});
  auto bad = LoadWeights(Write("shape.safetensors", SafetensorsBytes(WithPrefix(w, "visual."))), c);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("transformer.resblocks.1.attn.in_proj_weight: expected [192, 64], got [64, 64]"));
  w = RandomWeights(c, 10);
  w.erase("proj");
  auto missing = LoadWeights(Write("missing.safetensors", SafetensorsBytes(WithPrefix(w, "visual."))), c);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("proj: expected [64, 32], got nothing (missing)"));
  // Weights of another config: named with both shapes.
  auto other = LoadWeights(Write("b32.safetensors", SafetensorsBytes(WithPrefix(RandomWeights(c, 1), ""))),
                           *BuiltinConfig("ViT-B-32"));
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.status().message(), HasSubstr("conv1.weight: expected [768, 3, 32, 32], got [64, 3, 8, 8]"));
}

TEST_F(SafetensorsTest, NeededTensorInUnsupportedDtype) {
  WeightMap w = RandomWeights(Tiny(), 11);
  auto file = WithPrefix(w, "visual.");
  file["visual.ln_pre.bias"] = torch::zeros({64}, torch::kInt32);
  auto r = LoadWeights(Write("i32.safetensors", SafetensorsBytes(file)), Tiny());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("visual.ln_pre.bias: dtype I32 is not supported"));
}

// Direct reader tests on malformed files.
class CorruptSafetensorsTest : public SafetensorsTest {
 protected:
  std::string Good() { return SafetensorsBytes(WithPrefix(RandomWeights(Tiny(), 12), "visual.")); }
  Status ReadBytes(const std::string& bytes) {
    return ReadSafetensors(Write("corrupt.safetensors", bytes)).status();
  }
  static std::string Header(const std::string& json) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
    return out + json;
  }
};

TEST_F(CorruptSafetensorsTest, TruncatedFile) {
  const std::string good = Good();
  Status st = ReadBytes(good.substr(0, good.size() - 100));
  EXPECT_THAT(st.message(), HasSubstr("past the end of the data"));
  EXPECT_THAT(st.message(), HasSubstr("corrupt.safetensors"));
  EXPECT_THAT(ReadBytes(good.substr(0, 5)).message(), HasSubstr("too small"));
  EXPECT_THAT(ReadBytes(good.substr(0, 40)).message(), HasSubstr("exceeds the file size"));
}

TEST_F(CorruptSafetensorsTest, HeaderProblems) {
  std::string huge = Good();
  huge[7] = 0x7f;  // header length ~ 2^63
  EXPECT_THAT(ReadBytes(huge).message(), HasSubstr("exceeds the file size"));
  EXPECT_THAT(ReadBytes(Header("{\"a\": [1, 2")).message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ReadBytes(Header("[1,2,3]")).message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ReadBytes(Header(R"({"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})") + "abcd").message(),
              HasSubstr("unknown dtype"));
  EXPECT_THAT(ReadBytes(Header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})") + "abcd").message(),
              HasSubstr("need 8"));
  EXPECT_THAT(ReadBytes(Header(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})") + "abcd").message(),
              HasSubstr("bad shape"));
  EXPECT_THAT(ReadBytes(Header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})") + "abcd").message(),
              HasSubstr("bad data_offsets"));
  EXPECT_THAT(ReadBytes(Header(R"({"t":{"dtype":"F32","shape":[1]}})") + "abcd").message(),
              HasSubstr("data_offsets"));
  EXPECT_THAT(ReadBytes(Header(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],
                                  "data_offsets":[0,4]}})") + "abcd").message(),
              HasSubstr("too large"));
  EXPECT_THAT(ReadBytes(Header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                  "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})") +
                        std::string(12, '\0')).message(),
              HasSubstr("overlap"));
  // A well-formed empty file is fine for the reader (validation fails later).
  EXPECT_TRUE(ReadBytes(Header("{}")).ok());
}

// The first bytes torch.save's legacy format writes: a pickled magic number.
std::string LegacyPickleHead() {
  const unsigned char bytes[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

TEST_F(SafetensorsTest, UnknownFileTypeAndLegacyPickleNamePath) {
  const std::string text = Write("weights.txt", "hello, these are not weights");
  auto r = LoadWeights(text, Tiny());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(text));
  EXPECT_THAT(r.status().message(), HasSubstr("unknown file type"));
  const std::string legacy = Write("legacy.pt", LegacyPickleHead());
  auto l = LoadWeights(legacy, Tiny());
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.status().message(), HasSubstr(legacy));
  EXPECT_THAT(l.status().message(), HasSubstr("legacy"));
}

TEST_F(SafetensorsTest, WriterRoundTripsThroughTheReader) {
  const WeightMap w = RandomWeights(Tiny(), 13);
  const std::string path = TempPath("written.safetensors");
  paths_.push_back(path);
  ASSERT_TRUE(WriteSafetensors(w, path).ok());
  auto loaded = LoadWeights(path, Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
  // Same bytes as the independent test writer (64-byte alignment aside):
  // key order, offsets and data agree tensor by tensor.
  auto raw = ReadSafetensors(path);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->tensors.size(), w.size());
  EXPECT_TRUE(raw->tensors.count("visual.conv1.weight"));
  SafetensorsWriteOptions bf16;
  bf16.dtype = torch::kBFloat16;
  bf16.key_prefix = "";
  ASSERT_TRUE(WriteSafetensors(w, path, bf16).ok());
  loaded = LoadWeights(path, Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kBFloat16);
  EXPECT_FALSE(WriteSafetensors(w, "/nonexistent_dir/x.safetensors").ok());
}

}  // namespace
}  // namespace clipserve::model
