// config.pbtxt from clip-export: golden files (CPU, one GPU, four GPUs with
// count 1), Triton's semantics, and the round trip through the reader that
// `clip-server --model-config` uses.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "batching/triton_config.h"
#include "export/export.h"
#include "model/vit_config.h"

namespace clipserve::exporter {
namespace {

std::string Fixture(const std::string& name) {
  const std::string path = std::string(CLIPSERVE_SOURCE_DIR) + "/tests/export/fixtures/" + name;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

model::VitConfig B32() { return *model::BuiltinConfig("ViT-B-32"); }

ExportOptions Options(TargetDevice device, ExportFormat format) {
  ExportOptions o;
  o.weights = "random:0";
  o.output_dir = "/tmp/unused";
  o.device = device;
  o.format = format;
  o.max_batch_size = 32;
  o.max_queue_delay_us = 10000;
  return o;
}

std::string Render(const ExportOptions& o) {
  auto c = BuildTritonConfig(o, B32());
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? RenderTritonConfig(o, *c, B32()) : "";
}

// Golden files are compared byte for byte; CLIPSERVE_UPDATE_GOLDEN=1 rewrites them.
void ExpectGolden(const std::string& name, const std::string& text) {
  if (std::getenv("CLIPSERVE_UPDATE_GOLDEN")) {
    std::ofstream(std::string(CLIPSERVE_SOURCE_DIR) + "/tests/export/fixtures/" + name, std::ios::binary) << text;
  }
  EXPECT_EQ(text, Fixture(name)) << "golden file tests/export/fixtures/" << name;
}

TEST(ExportConfig, GoldenCpu) {
  ExportOptions o = Options(TargetDevice::kCpu, ExportFormat::kOnnx);
  o.instance_count = 2;
  ExpectGolden("config_cpu.pbtxt", Render(o));
}

TEST(ExportConfig, GoldenOneGpu) {
  ExportOptions o = Options(TargetDevice::kGpu, ExportFormat::kOnnx);
  o.gpus = {0};
  ExpectGolden("config_gpu1.pbtxt", Render(o));
}

TEST(ExportConfig, GoldenFourGpusOneInstanceEach) {
  ExportOptions o = Options(TargetDevice::kGpu, ExportFormat::kTorchScript);
  o.gpus = {0, 1, 2, 3};
  o.instance_count = 1;
  ExpectGolden("config_gpu4.pbtxt", Render(o));
}

TEST(ExportConfig, FourGpusIsOneGroupWithCountPerGpu) {
  ExportOptions o = Options(TargetDevice::kGpu, ExportFormat::kOnnx);
  o.gpus = {0, 1, 2, 3};
  auto c = BuildTritonConfig(o, B32());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->instance_groups.size(), 1u);
  EXPECT_EQ(c->instance_groups[0].count, 1);  // Triton: one instance on EACH listed GPU
  EXPECT_EQ(c->instance_groups[0].gpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(c->instance_groups[0].kind, "KIND_GPU");
}

TEST(ExportConfig, NoPreferredBatchSizeUnlessAsked) {
  ExportOptions o = Options(TargetDevice::kGpu, ExportFormat::kOnnx);
  EXPECT_EQ(Render(o).find("preferred_batch_size"), std::string::npos);
  o.preferred_batch_sizes = {8, 16};
  const std::string text = Render(o);
  EXPECT_NE(text.find("preferred_batch_size: [ 8, 16 ]"), std::string::npos) << text;
  auto back = batching::ParseTritonConfig(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->dynamic_batching->preferred_batch_size, (std::vector<int>{8, 16}));
}

TEST(ExportConfig, RoundTripsThroughTheModelConfigReader) {
  for (TargetDevice device : {TargetDevice::kCpu, TargetDevice::kGpu}) {
    ExportOptions o = Options(device, ExportFormat::kOnnx);
    o.instance_count = 3;
    o.max_batch_size = 16;
    o.max_queue_delay_us = 2500;
    auto parsed = batching::ParseTritonConfig(Render(o));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->name, "openclip_vit_b32");
    EXPECT_EQ(parsed->platform, "onnxruntime_onnx");
    ASSERT_EQ(parsed->inputs.size(), 1u);
    EXPECT_EQ(parsed->inputs[0].name, "image");
    EXPECT_EQ(parsed->inputs[0].data_type, "TYPE_FP32");
    EXPECT_EQ(parsed->inputs[0].dims, (std::vector<std::int64_t>{3, 224, 224}));
    ASSERT_EQ(parsed->outputs.size(), 1u);
    EXPECT_EQ(parsed->outputs[0].name, "embedding");
    EXPECT_EQ(parsed->outputs[0].dims, (std::vector<std::int64_t>{512}));
    EXPECT_TRUE(parsed->ignored_fields.empty());
    // What clip-server --model-config derives from it.
    auto b = batching::ToBatcherConfig(*parsed);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->max_batch_size, 16);
    EXPECT_TRUE(b->dynamic_batching);
    EXPECT_TRUE(b->preferred_batch_sizes.empty());
    EXPECT_EQ(b->max_queue_delay.count(), 2500);
    EXPECT_EQ(b->instance_count, 3);
    EXPECT_FALSE(b->allow_timeout_override);
  }
}

TEST(ExportConfig, WarmupBlockIsSkippedByTheReader) {
  ExportOptions o = Options(TargetDevice::kGpu, ExportFormat::kTorchScript);
  o.warmup = true;
  const std::string text = Render(o);
  EXPECT_NE(text.find("model_warmup ["), std::string::npos);
  EXPECT_NE(text.find("random_data: true"), std::string::npos);
  auto parsed = batching::ParseTritonConfig(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->ignored_fields, (std::vector<std::string>{"model_warmup"}));
  EXPECT_EQ(parsed->platform, "pytorch_libtorch");
  EXPECT_TRUE(batching::ToBatcherConfig(*parsed).ok());
}

TEST(ExportConfig, ImageAndEmbeddingSizesFollowTheModel) {
  ExportOptions o = Options(TargetDevice::kCpu, ExportFormat::kOnnx);
  const model::VitConfig tiny = *model::BuiltinConfig("test-tiny");
  auto c = BuildTritonConfig(o, tiny);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->inputs[0].dims, (std::vector<std::int64_t>{3, tiny.image_size, tiny.image_size}));
  EXPECT_EQ(c->outputs[0].dims, (std::vector<std::int64_t>{tiny.embed_dim}));
}

TEST(ExportConfig, BadBatchingSettingsAreRejected) {
  ExportOptions o = Options(TargetDevice::kGpu, ExportFormat::kOnnx);
  o.preferred_batch_sizes = {64};
  EXPECT_FALSE(BuildTritonConfig(o, B32()).ok());
  o = Options(TargetDevice::kGpu, ExportFormat::kOnnx);
  o.instance_count = 0;
  EXPECT_FALSE(BuildTritonConfig(o, B32()).ok());
}

TEST(ExportOptionsTest, Validation) {
  ExportOptions o = Options(TargetDevice::kCpu, ExportFormat::kOnnx);
  EXPECT_TRUE(ValidateExportOptions(o).ok());
  o.gpus = {0};
  EXPECT_FALSE(ValidateExportOptions(o).ok());  // --gpus with --device cpu
  o = Options(TargetDevice::kCpu, ExportFormat::kTorchScript);
  o.precision = ExportPrecision::kFp16;
  EXPECT_FALSE(ValidateExportOptions(o).ok());  // LibTorch CPU has no fp16 kernels
  o.device = TargetDevice::kGpu;
  EXPECT_TRUE(ValidateExportOptions(o).ok());
  o.model_name = "../x";
  EXPECT_FALSE(ValidateExportOptions(o).ok());
  o = Options(TargetDevice::kCpu, ExportFormat::kOnnx);
  o.weights.clear();
  EXPECT_FALSE(ValidateExportOptions(o).ok());
}

TEST(ExportOptionsTest, GpuList) {
  EXPECT_EQ(*ParseGpuList(""), std::vector<int>{});
  EXPECT_EQ(*ParseGpuList("0,1,3"), (std::vector<int>{0, 1, 3}));
  EXPECT_FALSE(ParseGpuList("0,,1").ok());
  EXPECT_FALSE(ParseGpuList("0,").ok());
  EXPECT_FALSE(ParseGpuList("a").ok());
  EXPECT_FALSE(ParseGpuList("-1").ok());
  EXPECT_FALSE(ParseGpuList("1,1").ok());
}

}  // namespace
}  // namespace clipserve::exporter
