// CPU feature levels, caps and their parsing. The CPU is injected: nothing
// here depends on the machine the test runs on, except the consistency
// checks on the host's own detection.
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/cpu_features.h"

namespace clipserve {
namespace {

CpuFeatures Zen3() {
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = true;
  return f;
}

CpuFeatures Zen4() {
  CpuFeatures f = Zen3();
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = true;
  f.avx512_bf16 = f.avx512_vnni = true;
  return f;
}

CpuFeatures SapphireRapids() {
  CpuFeatures f = Zen4();
  f.amx_tile = f.amx_bf16 = f.amx_int8 = true;
  return f;
}

TEST(CpuFeatures, IsaLevels) {
  EXPECT_EQ(CpuFeatures{}.Isa(), CpuIsa::kBaseline);
  CpuFeatures avx2_no_fma = Zen3();
  avx2_no_fma.fma = false;
  EXPECT_EQ(avx2_no_fma.Isa(), CpuIsa::kBaseline);
  EXPECT_EQ(Zen3().Isa(), CpuIsa::kAvx2);
  CpuFeatures skx = Zen4();
  skx.avx512_bf16 = false;
  EXPECT_EQ(skx.Isa(), CpuIsa::kAvx512);
  EXPECT_EQ(Zen4().Isa(), CpuIsa::kAvx512Bf16);
  EXPECT_EQ(SapphireRapids().Isa(), CpuIsa::kAmx);
  CpuFeatures partial = Zen3();
  partial.avx512f = true;  // F without BW/VL/DQ is not our AVX-512 level
  EXPECT_EQ(partial.Isa(), CpuIsa::kAvx2);
}

TEST(CpuFeatures, NativeBf16AndVnni) {
  EXPECT_FALSE(Zen3().NativeBf16());
  EXPECT_TRUE(Zen4().NativeBf16());
  CpuFeatures amx_only = Zen3();
  amx_only.amx_bf16 = true;
  EXPECT_TRUE(amx_only.NativeBf16());
  EXPECT_FALSE(Zen3().Vnni());
  CpuFeatures alder = Zen3();
  alder.avx_vnni = true;
  EXPECT_TRUE(alder.Vnni());
}

TEST(CpuFeatures, CapClearsEverythingAbove) {
  const CpuFeatures spr = SapphireRapids();
  for (CpuIsa cap : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Bf16, CpuIsa::kAmx}) {
    const CpuFeatures c = CapCpuFeatures(spr, cap);
    EXPECT_EQ(c.Isa(), cap) << CpuIsaName(cap);
    ASSERT_TRUE(c.cap.has_value());
    EXPECT_EQ(*c.cap, cap);
  }
  const CpuFeatures avx2 = CapCpuFeatures(SapphireRapids(), CpuIsa::kAvx2);
  EXPECT_FALSE(avx2.NativeBf16());
  EXPECT_FALSE(avx2.avx512f);
  EXPECT_FALSE(avx2.Vnni());
  EXPECT_TRUE(avx2.fma);
  const CpuFeatures base = CapCpuFeatures(Zen3(), CpuIsa::kBaseline);
  EXPECT_FALSE(base.avx2 || base.fma);
  // A cap above the CPU changes nothing but is remembered.
  const CpuFeatures zen3 = CapCpuFeatures(Zen3(), CpuIsa::kAmx);
  EXPECT_EQ(zen3.Isa(), CpuIsa::kAvx2);
}

TEST(CpuFeatures, ParseOursAndOneDnnNames) {
  EXPECT_EQ(*ParseCpuIsa("avx2"), CpuIsa::kAvx2);
  EXPECT_EQ(*ParseCpuIsa("AVX2"), CpuIsa::kAvx2);
  EXPECT_EQ(*ParseCpuIsa("baseline"), CpuIsa::kBaseline);
  EXPECT_EQ(*ParseCpuIsa("SSE41"), CpuIsa::kBaseline);
  EXPECT_EQ(*ParseCpuIsa("AVX512_CORE"), CpuIsa::kAvx512);
  EXPECT_EQ(*ParseCpuIsa("avx512_bf16"), CpuIsa::kAvx512Bf16);
  EXPECT_EQ(*ParseCpuIsa("AVX512_CORE_BF16"), CpuIsa::kAvx512Bf16);
  EXPECT_EQ(*ParseCpuIsa("AVX512_CORE_AMX"), CpuIsa::kAmx);
  const auto bad = ParseCpuIsa("avx3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("avx3"), std::string::npos);
  for (CpuIsa isa : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Bf16, CpuIsa::kAmx}) {
    EXPECT_EQ(*ParseCpuIsa(CpuIsaName(isa)), isa);
  }
}

TEST(CpuFeatures, Describe) {
  EXPECT_EQ(Zen3().Describe(), "avx2+fma");
  EXPECT_EQ(Zen4().Describe(), "avx512+bf16+vnni");
  EXPECT_EQ(CpuFeatures{}.Describe(), "baseline");
  EXPECT_EQ(CapCpuFeatures(Zen4(), CpuIsa::kAvx2).Describe(), "avx2+fma (capped at avx2)");
}

TEST(CpuFeatures, EnvCapTakesTheLowerOfOursAndOneDnns) {
  ::setenv("CLIPSERVE_MAX_CPU_ISA", "avx512", 1);
  ::setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
  auto cap = CpuIsaCapFromEnv();
  ASSERT_TRUE(cap.ok());
  ASSERT_TRUE(cap->has_value());
  EXPECT_EQ(**cap, CpuIsa::kAvx2);
  ::setenv("CLIPSERVE_MAX_CPU_ISA", "nonsense", 1);
  auto bad = CpuIsaCapFromEnv();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("CLIPSERVE_MAX_CPU_ISA"), std::string::npos);
  ::unsetenv("CLIPSERVE_MAX_CPU_ISA");
  ::unsetenv("ONEDNN_MAX_CPU_ISA");
  auto none = CpuIsaCapFromEnv();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(CpuFeatures, HostDetectionIsConsistent) {
  const CpuFeatures d = DetectCpuFeatures();
  // Every x86-64 CPU this project supports reports a brand string; levels
  // imply their parts.
  EXPECT_FALSE(d.model_name.empty());
  EXPECT_TRUE(!d.avx512f || d.avx2);
  EXPECT_TRUE(!d.avx512_bf16 || d.avx512f);
  EXPECT_EQ(d.avx2, bool(__builtin_cpu_supports("avx2")));
  EXPECT_EQ(d.fma, bool(__builtin_cpu_supports("fma")));
  EXPECT_EQ(d.avx512f, bool(__builtin_cpu_supports("avx512f")));
  EXPECT_LE(HostCpuFeatures().Isa(), d.Isa());
}

}  // namespace
}  // namespace clipserve
