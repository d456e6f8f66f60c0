// The LibTorch Engine behind the torch-free interface: config resolution,
// input validation, threads, precisions.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "model/vit_config.h"
#include "model/weights.h"
#include "reference_vit.h"

namespace clipserve {
namespace {

using engine::CreateEngine;
using engine::EngineOptions;
using engine::Precision;

EngineOptions TinyOptions() {
  EngineOptions o;
  o.model = "test-tiny";
  o.weights = "random:42";
  o.threads = 1;
  o.precision = Precision::kFp32;
  return o;
}

std::vector<float> Pixels(int batch, int s, unsigned salt) {
  std::vector<float> px(size_t(batch) * 3 * s * s);
  for (size_t i = 0; i < px.size(); ++i) px[i] = float((i * 2654435761u + salt) % 1000) / 999.0f;
  return px;
}

TEST(TorchEngine, InfoAndEmbedMatchReference) {
  auto e = CreateEngine(TinyOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const auto& info = (*e)->info();
  EXPECT_EQ(info.model_name, "test-tiny");
  EXPECT_EQ(info.weights, "random:42");
  EXPECT_EQ(info.image_size, 32);
  EXPECT_EQ(info.embed_dim, 32);
  EXPECT_EQ(info.threads, 1);
  EXPECT_EQ(info.precision, Precision::kFp32);
  // fp32 parameters of test-tiny: every weight once, less the small tables
  // the forward folds together (class token + first position, conv1's
  // normalization bias + positions: at most 1 %).
  auto cfg = *model::BuiltinConfig("test-tiny");
  std::uint64_t params = 0;
  for (const auto& t : model::ExpectedTensors(cfg)) {
    std::uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    params += n;
  }
  EXPECT_GE(info.weight_bytes, params * 4 * 99 / 100);
  EXPECT_LE(info.weight_bytes, params * 4 * 2);

  const int batch = 3;
  auto px = Pixels(batch, 32, 1);
  std::vector<float> out(batch * 32);
  ASSERT_TRUE((*e)->Embed(px, batch, out).ok());
  torch::Tensor in = torch::from_blob(px.data(), {batch, 3, 32, 32}, torch::kFloat).clone();
  torch::Tensor ref = testing::ReferenceForward(cfg, model::RandomWeights(cfg, 42), in);
  torch::Tensor got = torch::from_blob(out.data(), {batch, 32}, torch::kFloat).clone();
  torch::Tensor cos = testing::RowCosine(got, ref);
  for (int i = 0; i < batch; ++i) EXPECT_GT(cos[i].item<double>(), 1.0 - 1e-5);
}

TEST(TorchEngine, RejectsBadSizes) {
  auto e = CreateEngine(TinyOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto px = Pixels(2, 32, 0);
  std::vector<float> out(2 * 32);
  Status s = (*e)->Embed(std::span<const float>(px).first(px.size() - 1), 2, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("6144"), std::string::npos) << s.message();
  s = (*e)->Embed(px, 2, std::span<float>(out).first(10));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = (*e)->Embed(px, 0, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = (*e)->Embed(px, 3, out);  // batch disagrees with the buffers
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  // The engine still works after rejecting input.
  EXPECT_TRUE((*e)->Embed(px, 2, out).ok());
}

TEST(TorchEngine, OptionErrors) {
  EngineOptions o = TinyOptions();
  o.precision = Precision::kFp16;
  auto fp16 = CreateEngine(o);
  ASSERT_FALSE(fp16.ok());
  EXPECT_EQ(fp16.status().code(), StatusCode::kInvalidArgument);

  o = TinyOptions();
  o.model = "no-such-model";
  EXPECT_FALSE(CreateEngine(o).ok());

  o = TinyOptions();
  o.weights = "random:notanumber";
  EXPECT_FALSE(CreateEngine(o).ok());

  if (!torch::cuda::is_available()) {
    o = TinyOptions();
    o.device = engine::DeviceKind::kCuda;
    auto cuda = CreateEngine(o);
    ASSERT_FALSE(cuda.ok());
    EXPECT_EQ(cuda.status().code(), StatusCode::kFailedPrecondition);
  }
}

TEST(TorchEngine, ConfigFileAndQuickGeluFlag) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "engine_test_cfg";
  std::filesystem::create_directories(dir);
  const auto path = dir / "tiny-clip.json";
  {
    std::ofstream f(path);
    f << R"({"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64,
              "patch_size": 16, "head_width": 32, "mlp_ratio": 2}})";
  }
  EngineOptions o = TinyOptions();
  o.config_path = path.string();
  auto gelu = CreateEngine(o);
  ASSERT_TRUE(gelu.ok()) << gelu.status().ToString();
  EXPECT_EQ((*gelu)->info().embed_dim, 16);
  o.quick_gelu = true;
  auto quick = CreateEngine(o);
  ASSERT_TRUE(quick.ok()) << quick.status().ToString();

  auto px = Pixels(1, 32, 3);
  std::vector<float> a(16), b(16);
  ASSERT_TRUE((*gelu)->Embed(px, 1, a).ok());
  ASSERT_TRUE((*quick)->Embed(px, 1, b).ok());
  double diff = 0;
  for (int i = 0; i < 16; ++i) diff = std::max(diff, double(std::abs(a[i] - b[i])));
  EXPECT_GT(diff, 1e-3);
}

TEST(TorchEngine, Bf16CloseToFp32) {
  if (!HostCpuFeatures().NativeBf16()) {
    GTEST_SKIP() << "needs avx512_bf16 or amx_bf16; this CPU: " << HostCpuFeatures().Describe();
  }
  EngineOptions o = TinyOptions();
  auto fp32 = CreateEngine(o);
  o.precision = Precision::kBf16;
  auto bf16 = CreateEngine(o);
  ASSERT_TRUE(fp32.ok() && bf16.ok());
  EXPECT_EQ((*bf16)->info().precision, Precision::kBf16);
  EXPECT_LT((*bf16)->info().weight_bytes, (*fp32)->info().weight_bytes);
  auto px = Pixels(2, 32, 5);
  std::vector<float> a(64), b(64);
  ASSERT_TRUE((*fp32)->Embed(px, 2, a).ok());
  ASSERT_TRUE((*bf16)->Embed(px, 2, b).ok());
  for (int r = 0; r < 2; ++r) {
    double dot = 0;
    for (int i = 0; i < 32; ++i) dot += double(a[r * 32 + i]) * b[r * 32 + i];
    EXPECT_GT(dot, 0.99);  // both unit norm: dot == cosine
  }
}

// Engines run on whichever thread calls them; each call applies the engine's
// own thread count to that thread, so two engines with different counts on
// two threads neither fight nor change results.
TEST(TorchEngine, ThreadCountAppliesToCallingThread) {
  EngineOptions o1 = TinyOptions();
  o1.threads = 1;
  EngineOptions o2 = TinyOptions();
  o2.threads = 2;
  auto e1 = CreateEngine(o1);
  auto e2 = CreateEngine(o2);
  ASSERT_TRUE(e1.ok() && e2.ok());
  EXPECT_EQ((*e2)->info().threads, 2);
  auto px = Pixels(2, 32, 9);
  std::vector<float> expect(64);
  ASSERT_TRUE((*e1)->Embed(px, 2, expect).ok());

  auto run = [&](engine::Engine& e, int want_threads, int* seen, bool* same) {
    std::vector<float> out(64);
    *same = true;
    for (int i = 0; i < 5; ++i) {
      if (!e.Embed(px, 2, out).ok()) *same = false;
      for (int k = 0; k < 64; ++k) *same &= std::abs(out[k] - expect[k]) < 1e-5f;
    }
    *seen = at::get_num_threads();
    (void)want_threads;
  };
  int seen1 = 0, seen2 = 0;
  bool same1 = false, same2 = false;
  std::thread t1(run, std::ref(**e1), 1, &seen1, &same1);
  std::thread t2(run, std::ref(**e2), 2, &seen2, &same2);
  t1.join();
  t2.join();
  EXPECT_EQ(seen1, 1);
  EXPECT_EQ(seen2, 2);
  EXPECT_TRUE(same1);
  EXPECT_TRUE(same2);
}

// auto resolves once, at creation, and the engine records both the request
// and what runs, with the CPU and the compute path.
TEST(TorchEngine, AutoPrecisionIsResolvedAndRecorded) {
  EngineOptions o = TinyOptions();
  o.precision = Precision::kAuto;
  auto e = CreateEngine(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const auto& info = (*e)->info();
  EXPECT_EQ(info.requested_precision, Precision::kAuto);
  EXPECT_EQ(info.precision, HostCpuFeatures().NativeBf16() ? Precision::kBf16 : Precision::kFp32);
  EXPECT_EQ(info.cpu_isa, HostCpuFeatures().Describe());
  EXPECT_FALSE(info.compute.empty());
}

TEST(TorchEngine, ExplicitBf16WithoutNativeSupportFailsAtCreation) {
  if (HostCpuFeatures().NativeBf16()) GTEST_SKIP() << "this CPU computes bf16 natively; nothing to refuse";
  EngineOptions o = TinyOptions();
  o.precision = Precision::kBf16;
  auto e = CreateEngine(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(e.status().message().find("avx512_bf16"), std::string::npos) << e.status().message();
}

// Runs only where LibTorch has CUDA (official LibTorch 2.x on a GPU machine).
TEST(TorchEngine, CudaPrecisionsMatchReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA in this LibTorch / machine";
  auto cfg = *model::BuiltinConfig("test-tiny");
  const int batch = 3;
  auto px = Pixels(batch, 32, 11);
  torch::Tensor in = torch::from_blob(px.data(), {batch, 3, 32, 32}, torch::kFloat).clone();
  torch::Tensor ref = testing::ReferenceForward(cfg, model::RandomWeights(cfg, 42), in);
  for (Precision p : {Precision::kFp32, Precision::kBf16, Precision::kFp16}) {
    EngineOptions o = TinyOptions();
    o.device = engine::DeviceKind::kCuda;
    o.precision = p;
    auto e = CreateEngine(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ((*e)->info().device, engine::DeviceKind::kCuda);
    std::vector<float> out(batch * 32);
    ASSERT_TRUE((*e)->Embed(px, batch, out).ok());
    torch::Tensor got = torch::from_blob(out.data(), {batch, 32}, torch::kFloat).clone();
    torch::Tensor cos = testing::RowCosine(got, ref);
    const double min_cos = p == Precision::kFp32 ? 1.0 - 1e-5 : 0.99;
    for (int i = 0; i < batch; ++i) {
      EXPECT_GT(cos[i].item<double>(), min_cos) << engine::PrecisionName(p) << " row " << i;
    }
  }
}

TEST(TorchEngine, DeviceFacts) {
  auto facts = engine::QueryDeviceFacts();
  EXPECT_FALSE(facts.torch_version.empty());
  EXPECT_EQ(facts.cuda_available, torch::cuda::is_available());
  if (!facts.cuda_available) {
    EXPECT_TRUE(facts.gpus.empty());
  }
  for (const auto& g : facts.gpus) {
    EXPECT_FALSE(g.name.empty());
    EXPECT_GT(g.memory_total_bytes, 0u);
  }
}

}  // namespace
}  // namespace clipserve
