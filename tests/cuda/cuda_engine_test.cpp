// The engine on CUDA against the same engine on the CPU (fp32 reference):
// the same weights and pixels must give the same embeddings on both devices,
// within the tolerance of each precision, alone or batched.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "engine/engine.h"

namespace clipserve {
namespace {

using engine::CreateEngine;
using engine::DeviceKind;
using engine::EngineOptions;
using engine::Precision;

std::vector<float> Pixels(int batch, int s) {
  std::vector<float> px(size_t(batch) * 3 * s * s);
  for (size_t i = 0; i < px.size(); ++i) px[i] = float((i * 2654435761u + 17u) % 1000) / 999.0f;
  return px;
}

double MinRowCosine(const std::vector<float>& a, const std::vector<float>& b, int dim) {
  double worst = 1.0;
  for (size_t r = 0; r * dim < a.size(); ++r) {
    double dot = 0, na = 0, nb = 0;
    for (int k = 0; k < dim; ++k) {
      const double x = a[r * dim + k], y = b[r * dim + k];
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

struct Case {
  const char* model;
  Precision precision;
  double min_cosine;
};

class CudaEngineTest : public ::testing::TestWithParam<Case> {};

TEST_P(CudaEngineTest, MatchesCpuFp32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch build";
  const Case c = GetParam();
  EngineOptions cpu;
  cpu.model = c.model;
  cpu.weights = "random:7";
  cpu.threads = 0;
  EngineOptions gpu = cpu;
  gpu.device = DeviceKind::kCuda;
  gpu.precision = c.precision;

  auto ref = CreateEngine(cpu);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  auto dev = CreateEngine(gpu);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->info().device, DeviceKind::kCuda);

  const int s = (*ref)->info().image_size, dim = (*ref)->info().embed_dim, batch = 5;
  const auto px = Pixels(batch, s);
  std::vector<float> want(size_t(batch) * dim), got(size_t(batch) * dim), one(dim);
  ASSERT_TRUE((*ref)->Embed(px, batch, want).ok());
  ASSERT_TRUE((*dev)->Embed(px, batch, got).ok());
  EXPECT_GE(MinRowCosine(want, got, dim), c.min_cosine);

  // Batch invariance on the device: the last image alone equals its row.
  const size_t per = size_t(3) * s * s;
  ASSERT_TRUE((*dev)->Embed(std::span<const float>(px).subspan(per * (batch - 1), per), 1, one).ok());
  std::vector<float> last(got.end() - dim, got.end());
  EXPECT_GE(MinRowCosine(last, one, dim), c.min_cosine);
}

INSTANTIATE_TEST_SUITE_P(
    Precisions, CudaEngineTest,
    ::testing::Values(Case{"test-tiny", Precision::kFp32, 0.99999}, Case{"test-tiny", Precision::kFp16, 0.999},
                      Case{"test-tiny", Precision::kBf16, 0.99}, Case{"ViT-B-32", Precision::kFp32, 0.9999},
                      Case{"ViT-B-32", Precision::kFp16, 0.999}, Case{"ViT-B-32", Precision::kBf16, 0.99}),
    [](const auto& info) {
      return std::string(info.param.model == std::string("test-tiny") ? "Tiny" : "B32") + "_" +
             std::string(engine::PrecisionName(info.param.precision));
    });

}  // namespace
}  // namespace clipserve
