// VitModel against the float64 reference (reference_vit.h), on the small
// "test-tiny" config, for every backend this build has.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "model/vit.h"
#include "model/vit_config.h"
#include "model/weights.h"
#include "reference_vit.h"

namespace clipserve {
namespace {

using model::VitBackend;
using ::clipserve::CpuIsa;
using ::clipserve::HostCpuFeatures;
using testing::ReferenceForward;
using testing::RowCosine;

model::VitConfig TinyConfig(bool quick_gelu = false) {
  auto cfg = model::BuiltinConfig("test-tiny");
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  model::VitConfig c = *cfg;
  c.quick_gelu = quick_gelu;
  return c;
}

// One forward path: a backend, and for the ones with our kernels the ISA
// they run at (each level below the CPU's is tested on this machine too).
struct Path {
  const char* name;
  VitBackend backend;
  bool fused_attention = true;
  CpuIsa kernel_isa = CpuIsa::kAmx;
};

std::unique_ptr<model::VitModel> Build(const model::VitConfig& c, std::uint64_t seed, const Path& path,
                                       torch::ScalarType dtype = torch::kFloat, bool fold = true) {
  model::VitOptions o;
  o.backend = path.backend;
  o.fused_attention = path.fused_attention;
  o.max_kernel_isa = path.kernel_isa;
  o.dtype = dtype;
  o.fold_normalization = fold;
  auto m = model::VitModel::Create(c, model::RandomWeights(c, seed), o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(*m) : nullptr;
}

// bf16 where the path computes it: ATen everywhere (emulated where the CPU
// lacks it), oneDNN only with native bf16, the BLAS path never.
bool PathHasBf16(const Path& p) {
  if (p.backend == VitBackend::kAten) return true;
  if (p.backend == VitBackend::kOneDnn) return HostCpuFeatures().NativeBf16();
  return false;
}

std::vector<torch::ScalarType> Dtypes(const Path& p) {
  if (PathHasBf16(p)) return {torch::kFloat, torch::kBFloat16};
  std::printf("note: %s runs fp32 only here (bf16 needs avx512_bf16 or amx_bf16 on oneDNN; CPU %s)\n", p.name,
              HostCpuFeatures().Describe().c_str());
  return {torch::kFloat};
}

torch::Tensor RandomPixels(int64_t n, int64_t s, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::rand({n, 3, s, s}, torch::kFloat);
}

class VitTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    const Path& p = GetParam();
    if (p.backend == VitBackend::kOneDnn && !model::OneDnnCompiledIn()) GTEST_SKIP() << "no oneDNN in this build";
    if (p.kernel_isa != CpuIsa::kAmx && p.kernel_isa > HostCpuFeatures().Isa()) {
      GTEST_SKIP() << "needs " << CpuIsaName(p.kernel_isa) << "; this CPU: " << HostCpuFeatures().Describe();
    }
  }
};

TEST_P(VitTest, ShapeAndUnitNorm) {
  const auto c = TinyConfig();
  for (auto dtype : Dtypes(GetParam())) {
    auto m = Build(c, 1, GetParam(), dtype);
    ASSERT_TRUE(m);
    torch::Tensor out = m->Forward(RandomPixels(3, c.image_size, 5));
    ASSERT_EQ(out.dim(), 2);
    EXPECT_EQ(out.size(0), 3);
    EXPECT_EQ(out.size(1), c.embed_dim);
    EXPECT_EQ(out.scalar_type(), torch::kFloat);
    EXPECT_TRUE(out.device().is_cpu());
    torch::Tensor norms = out.norm(2, {1});
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(norms[i].item<double>(), 1.0, 1e-5);
    EXPECT_GT(m->weight_bytes(), 0u);
  }
}

TEST_P(VitTest, MatchesFloat64ReferenceAtFp32) {
  for (bool quick : {false, true}) {
    const auto c = TinyConfig(quick);
    auto m = Build(c, 11, GetParam());
    ASSERT_TRUE(m);
    torch::Tensor px = RandomPixels(4, c.image_size, 3);
    torch::Tensor ref = ReferenceForward(c, model::RandomWeights(c, 11), px);
    torch::Tensor out = m->Forward(px);
    torch::Tensor cos = RowCosine(out, ref);
    for (int i = 0; i < 4; ++i) EXPECT_GT(cos[i].item<double>(), 1.0 - 1e-5) << "row " << i << " quick=" << quick;
    EXPECT_LT((out.to(torch::kDouble) - ref).abs().max().item<double>(), 5e-5) << "quick=" << quick;
  }
}

// Head width 64 and 65 tokens: the register-blocked attention kernel (two
// 64-token blocks, 63 padded) rather than the generic one test-tiny uses.
TEST_P(VitTest, WideHeadsAndManyTokensMatchReference) {
  model::VitConfig c = TinyConfig();
  c.image_size = 64;  // 8 x 8 patches + class token = 65 tokens
  c.width = 128;
  c.head_width = 64;
  c.layers = 1;
  for (auto dtype : Dtypes(GetParam())) {
    auto m = Build(c, 21, GetParam(), dtype);
    ASSERT_TRUE(m);
    torch::Tensor px = RandomPixels(3, c.image_size, 22);
    torch::Tensor cos = RowCosine(m->Forward(px), ReferenceForward(c, model::RandomWeights(c, 21), px));
    const double min_cos = dtype == torch::kFloat ? 1.0 - 1e-5 : 0.99;
    for (int i = 0; i < 3; ++i) EXPECT_GT(cos[i].item<double>(), min_cos) << "row " << i << " dtype " << dtype;
  }
}

TEST_P(VitTest, QuickGeluAndGeluDiffer) {
  auto gelu = Build(TinyConfig(false), 2, GetParam());
  auto quick = Build(TinyConfig(true), 2, GetParam());
  ASSERT_TRUE(gelu && quick);
  torch::Tensor px = RandomPixels(2, 32, 9);
  torch::Tensor diff = (gelu->Forward(px) - quick->Forward(px)).abs().max();
  // Measurably different, far above fp32 rounding (the reference test shows
  // each one matches its own activation).
  EXPECT_GT(diff.item<double>(), 1e-3);
}

TEST_P(VitTest, BatchInvariance) {
  const auto c = TinyConfig();
  for (auto dtype : Dtypes(GetParam())) {
    auto m = Build(c, 4, GetParam(), dtype);
    ASSERT_TRUE(m);
    torch::Tensor px = RandomPixels(5, c.image_size, 21);
    torch::Tensor batch = m->Forward(px);
    const double tol = dtype == torch::kFloat ? 1e-5 : 2e-2;
    for (int i = 0; i < 5; ++i) {
      torch::Tensor alone = m->Forward(px.slice(0, i, i + 1));
      EXPECT_LT((alone[0] - batch[i]).abs().max().item<double>(), tol) << "image " << i << " dtype " << dtype;
    }
  }
}

TEST_P(VitTest, Bf16CloseToFp32) {
  if (!PathHasBf16(GetParam())) {
    GTEST_SKIP() << GetParam().name << ": bf16 needs avx512_bf16 or amx_bf16 (oneDNN) or the ATen path; CPU "
                 << HostCpuFeatures().Describe();
  }
  const auto c = TinyConfig();
  auto fp32 = Build(c, 6, GetParam(), torch::kFloat);
  auto bf16 = Build(c, 6, GetParam(), torch::kBFloat16);
  ASSERT_TRUE(fp32 && bf16);
  torch::Tensor px = RandomPixels(4, c.image_size, 8);
  torch::Tensor a = fp32->Forward(px), b = bf16->Forward(px);
  torch::Tensor cos = RowCosine(a, b);
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(cos[i].item<double>(), 0.99) << "row " << i;
    EXPECT_LT(cos[i].item<double>(), 1.0 - 1e-9) << "bf16 should not be bit-identical to fp32, row " << i;
  }
}

TEST_P(VitTest, FoldedNormalizationEqualsExplicit) {
  const auto c = TinyConfig();
  auto folded = Build(c, 12, GetParam(), torch::kFloat, /*fold=*/true);
  auto explicit_norm = Build(c, 12, GetParam(), torch::kFloat, /*fold=*/false);
  ASSERT_TRUE(folded && explicit_norm);
  torch::Tensor px = RandomPixels(3, c.image_size, 13);
  EXPECT_LT((folded->Forward(px) - explicit_norm->Forward(px)).abs().max().item<double>(), 1e-5);
}

TEST_P(VitTest, NormalizationIsApplied) {
  const auto c = TinyConfig();
  auto m = Build(c, 14, GetParam());
  ASSERT_TRUE(m);
  const auto w = model::RandomWeights(c, 14);
  torch::Tensor px = RandomPixels(2, c.image_size, 15);
  torch::Tensor out = m->Forward(px);
  // The model's [0,1] input equals the reference fed pre-normalized pixels
  // without its own normalization ...
  torch::Tensor pre = ReferenceForward(c, w, testing::RefNormalize(px), /*normalize=*/false);
  EXPECT_LT((out.to(torch::kDouble) - pre).abs().max().item<double>(), 5e-5);
  // ... and is far from what the model would give unnormalized pixels.
  torch::Tensor raw = ReferenceForward(c, w, px, /*normalize=*/false);
  EXPECT_GT((out.to(torch::kDouble) - raw).abs().max().item<double>(), 1e-2);
}

TEST_P(VitTest, NonContiguousInput) {
  const auto c = TinyConfig();
  auto m = Build(c, 16, GetParam());
  ASSERT_TRUE(m);
  torch::Tensor px = RandomPixels(2, c.image_size, 17);
  torch::Tensor strided = px.transpose(2, 3).contiguous().transpose(2, 3);  // same values, other strides
  EXPECT_LT((m->Forward(px) - m->Forward(strided)).abs().max().item<double>(), 1e-6);
}

// Regression pin: a fixed random-weight model (test-tiny, random:1234, GELU,
// fp32) on a fixed formula input. Values are not arbitrary: they were
// produced by this forward and agree with the float64 reference (checked
// below too). Regenerate (only after a deliberate change of RandomWeights or
// the math): CLIPSERVE_PRINT_PINS=1 ./build/tests/engine/vit_test
// --gtest_filter='*RegressionPin*' and paste the printed values.
TEST_P(VitTest, RegressionPin) {
  const auto c = TinyConfig();
  auto m = Build(c, 1234, GetParam());
  ASSERT_TRUE(m);
  const int64_t n = 2, s = c.image_size;
  torch::Tensor px = torch::empty({n, 3, s, s}, torch::kFloat);
  float* p = px.data_ptr<float>();
  for (int64_t i = 0; i < px.numel(); ++i) p[i] = float((i * 7919) % 251) / 250.0f;
  torch::Tensor out = m->Forward(px);
  const int idx[4] = {0, 1, 7, 31};
  if (std::getenv("CLIPSERVE_PRINT_PINS")) {
    for (int r = 0; r < n; ++r) {
      std::printf("row %d:", r);
      for (int j : idx) std::printf(" %.7f", out[r][j].item<double>());
      std::printf("\n");
    }
  }
  const double pins[2][4] = {
      {-0.0486691, -0.0632468, -0.0562102, -0.1790814},
      {-0.0744161, -0.0603603, -0.0364786, -0.1817683},
  };
  for (int r = 0; r < n; ++r) {
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(out[r][idx[k]].item<double>(), pins[r][k], 2e-5) << "row " << r << " col " << idx[k];
    }
  }
  torch::Tensor ref = ReferenceForward(c, model::RandomWeights(c, 1234), px);
  EXPECT_LT((out.to(torch::kDouble) - ref).abs().max().item<double>(), 5e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, VitTest,
    ::testing::Values(Path{"Aten", VitBackend::kAten},
                      Path{"OneDnnFusedAttention", VitBackend::kOneDnn},
                      Path{"OneDnnFusedAttentionAvx2", VitBackend::kOneDnn, true, CpuIsa::kAvx2},
                      Path{"OneDnnFusedAttentionBaseline", VitBackend::kOneDnn, true, CpuIsa::kBaseline},
                      Path{"OneDnnPrimitiveAttention", VitBackend::kOneDnn, false},
                      Path{"Blas", VitBackend::kBlas},
                      Path{"BlasAvx512", VitBackend::kBlas, true, CpuIsa::kAvx512},
                      Path{"BlasAvx2", VitBackend::kBlas, true, CpuIsa::kAvx2},
                      Path{"BlasBaseline", VitBackend::kBlas, true, CpuIsa::kBaseline}),
    [](const auto& info) { return std::string(info.param.name); });

// Weights may be views of a read-only file mapping: building a model must
// never write into the tensors it was given.
TEST(VitCreate, LeavesInputTensorsUntouched) {
  const auto c = TinyConfig();
  const model::WeightMap original = model::RandomWeights(c, 3);
  std::map<std::string, torch::Tensor> snapshot;
  for (const auto& [name, t] : original) snapshot[name] = t.clone();
  for (VitBackend backend : {VitBackend::kAten, VitBackend::kOneDnn, VitBackend::kBlas}) {
    if (backend == VitBackend::kOneDnn && !model::OneDnnCompiledIn()) continue;
    for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
      if (dtype == torch::kBFloat16 && !PathHasBf16(Path{"", backend})) continue;
      model::VitOptions o;
      o.backend = backend;
      o.dtype = dtype;
      auto m = model::VitModel::Create(c, original, o);  // a copy of the map: same storages
      ASSERT_TRUE(m.ok()) << m.status().ToString();
    }
  }
  for (const auto& [name, t] : original) EXPECT_TRUE(torch::equal(t, snapshot.at(name))) << name;
}

// kAuto follows the measured ranking: oneDNN where its AVX-512 GEMMs run,
// the BLAS path below that; bf16 always on oneDNN.
TEST(VitCreate, AutoPicksThePathForThisCpu) {
  const auto c = TinyConfig();
  model::VitOptions o;
  auto m = model::VitModel::Create(c, model::RandomWeights(c, 1), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::string isa = model::OneDnnIsa();
  const bool onednn_avx512 = isa.rfind("avx512", 0) == 0;
  EXPECT_EQ((*m)->backend_name(), onednn_avx512 ? "onednn" : "blas") << "oneDNN isa " << isa;
  EXPECT_NE((*m)->compute_description().find(std::string(CpuIsaName(HostCpuFeatures().Isa()))), std::string::npos)
      << (*m)->compute_description();
}

TEST(VitCreate, RefusesBf16WithoutNativeSupport) {
  if (HostCpuFeatures().NativeBf16()) GTEST_SKIP() << "this CPU computes bf16 natively; nothing to refuse";
  if (!model::OneDnnCompiledIn()) GTEST_SKIP() << "no oneDNN in this build";
  const auto c = TinyConfig();
  for (VitBackend backend : {VitBackend::kAuto, VitBackend::kOneDnn}) {
    model::VitOptions o;
    o.backend = backend;
    o.dtype = torch::kBFloat16;
    auto m = model::VitModel::Create(c, model::RandomWeights(c, 1), o);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(m.status().message().find("avx512_bf16"), std::string::npos) << m.status().message();
  }
  model::VitOptions blas;
  blas.backend = VitBackend::kBlas;
  blas.dtype = torch::kBFloat16;
  EXPECT_FALSE(model::VitModel::Create(c, model::RandomWeights(c, 1), blas).ok());
}

// With two threads the BLAS path runs a batch that divides by the thread
// count as one share per thread, and any other batch on the whole team:
// both must give every image the embedding it gets alone.
TEST(VitCreate, BlasSplitBatchesMatchSingleImages) {
  const auto c = TinyConfig();
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  model::VitOptions o;
  o.backend = VitBackend::kBlas;
  auto m = model::VitModel::Create(c, model::RandomWeights(c, 9), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (int64_t n : {2, 3, 4, 9}) {
    torch::Tensor px = RandomPixels(n, c.image_size, 30 + n);
    torch::Tensor batch = (*m)->Forward(px);
    ASSERT_EQ(batch.size(0), n);
    for (int64_t i = 0; i < n; ++i) {
      torch::Tensor alone = (*m)->Forward(px.slice(0, i, i + 1));
      EXPECT_LT((alone[0] - batch[i]).abs().max().item<double>(), 1e-5) << "batch " << n << " image " << i;
    }
  }
  at::set_num_threads(before);
}

TEST(VitCreate, RejectsFp16OnCpuAndBadWeights) {
  const auto c = TinyConfig();
  model::VitOptions o;
  o.dtype = torch::kHalf;
  auto m = model::VitModel::Create(c, model::RandomWeights(c, 1), o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("fp16"), std::string::npos);

  auto w = model::RandomWeights(c, 1);
  w.erase("transformer.resblocks.1.mlp.c_fc.bias");
  auto missing = model::VitModel::Create(c, std::move(w), model::VitOptions{});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("c_fc.bias"), std::string::npos);
}

}  // namespace
}  // namespace clipserve
