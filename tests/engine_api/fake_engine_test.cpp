#include "engine/fake_engine.h"
#include "engine/null_engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace clipserve::engine {
namespace {

TEST(FakeEngineTest, RowsAreUnitNormAndIndependentOfBatching) {
  FakeEngine eng(/*image_size=*/4, /*embed_dim=*/6);
  const size_t per = 3 * 4 * 4;
  std::vector<float> pix(per * 2);
  for (size_t i = 0; i < pix.size(); ++i) pix[i] = static_cast<float>((i * 7) % 11) / 10.f;
  std::vector<float> both(12), second(6);
  ASSERT_TRUE(eng.Embed(pix, 2, both).ok());
  ASSERT_TRUE(eng.Embed(std::span<const float>(pix).subspan(per), 1, second).ok());
  double n = 0;
  for (int k = 0; k < 6; ++k) n += both[k] * both[k];
  EXPECT_NEAR(n, 1.0, 1e-5);
  for (int k = 0; k < 6; ++k) EXPECT_FLOAT_EQ(both[6 + k], second[k]);
  EXPECT_EQ(eng.batch_sizes(), (std::vector<int>{2, 1}));
}

TEST(FakeEngineTest, RejectsMismatchedBuffersAndInjectsErrors) {
  FakeEngine eng(2, 3);
  std::vector<float> pix(3 * 2 * 2), out(3);
  EXPECT_EQ(eng.Embed(pix, 2, out).code(), StatusCode::kInvalidArgument);
  eng.set_hook([](int) { return InternalError("boom"); });
  EXPECT_EQ(eng.Embed(pix, 1, out).message(), "boom");
}

TEST(EngineNamesTest, ParseAndPrint) {
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_EQ(PrecisionName(Precision::kFp16), "fp16");
  EXPECT_FALSE(ParsePrecision("int8").ok());
  EXPECT_EQ(*ParseDeviceKind("cuda"), DeviceKind::kCuda);
  EXPECT_FALSE(ParseDeviceKind("tpu").ok());
}

// The CPU is injected: every row of the resolution table is tested on any
// machine.
TEST(ResolvePrecisionTest, AutoAndExplicitPerCpu) {
  CpuFeatures zen3;
  zen3.avx2 = zen3.fma = true;
  CpuFeatures zen4 = zen3;
  zen4.avx512f = zen4.avx512bw = zen4.avx512vl = zen4.avx512dq = zen4.avx512_bf16 = true;
  CpuFeatures spr_amx_only = zen3;
  spr_amx_only.amx_tile = spr_amx_only.amx_bf16 = true;
  using engine::DeviceKind;
  using engine::Precision;
  using engine::ResolvePrecision;
  EXPECT_EQ(*ResolvePrecision(Precision::kAuto, DeviceKind::kCpu, zen3), Precision::kFp32);
  EXPECT_EQ(*ResolvePrecision(Precision::kAuto, DeviceKind::kCpu, zen4), Precision::kBf16);
  EXPECT_EQ(*ResolvePrecision(Precision::kAuto, DeviceKind::kCpu, spr_amx_only), Precision::kBf16);
  EXPECT_EQ(*ResolvePrecision(Precision::kAuto, DeviceKind::kCuda, zen3), Precision::kFp16);
  EXPECT_EQ(*ResolvePrecision(Precision::kFp32, DeviceKind::kCpu, zen4), Precision::kFp32);
  EXPECT_EQ(*ResolvePrecision(Precision::kBf16, DeviceKind::kCpu, zen4), Precision::kBf16);
  EXPECT_EQ(*ResolvePrecision(Precision::kBf16, DeviceKind::kCuda, zen3), Precision::kBf16);
  EXPECT_EQ(*ResolvePrecision(Precision::kFp16, DeviceKind::kCuda, zen3), Precision::kFp16);

  auto refused = ResolvePrecision(Precision::kBf16, DeviceKind::kCpu, zen3);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("avx512_bf16"), std::string::npos);
  EXPECT_NE(refused.status().message().find("avx2+fma"), std::string::npos);
  EXPECT_NE(refused.status().message().find("--precision fp32"), std::string::npos);
  // A capped Zen 4 is refused like a Zen 3.
  EXPECT_FALSE(ResolvePrecision(Precision::kBf16, DeviceKind::kCpu, CapCpuFeatures(zen4, CpuIsa::kAvx2)).ok());

  auto fp16 = ResolvePrecision(Precision::kFp16, DeviceKind::kCpu, zen4);
  ASSERT_FALSE(fp16.ok());
  EXPECT_EQ(fp16.status().code(), StatusCode::kInvalidArgument);
}

TEST(ResolvePrecisionTest, AutoParsesAndPrints) {
  EXPECT_EQ(*engine::ParsePrecision("auto"), engine::Precision::kAuto);
  EXPECT_EQ(engine::PrecisionName(engine::Precision::kAuto), "auto");
}

TEST(NullEngineTest, FixedUnitVectorAndTheRealEnginesChecks) {
  EngineInfo info;
  info.image_size = 4;
  info.embed_dim = 16;
  NullEngine e(info);
  EXPECT_EQ(e.info().weight_bytes, 0u);
  EXPECT_NE(e.info().compute.find("null"), std::string::npos);
  std::vector<float> px(2 * 3 * 4 * 4, 0.5f), out(2 * 16, -1.0f);
  ASSERT_TRUE(e.Embed(px, 2, out).ok());
  for (float v : out) EXPECT_FLOAT_EQ(v, 0.25f);  // 1/sqrt(16): unit norm
  EXPECT_FALSE(e.Embed(px, 3, out).ok());
  EXPECT_FALSE(e.Embed(px, 0, out).ok());
  std::vector<float> short_out(16);
  EXPECT_FALSE(e.Embed(px, 2, short_out).ok());
}

}  // namespace
}  // namespace clipserve::engine
