#include "engine/fake_engine.h"

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

}  // namespace
}  // namespace clipserve::engine
