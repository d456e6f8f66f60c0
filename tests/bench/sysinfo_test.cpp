#include "bench/sysinfo.h"

#include <gtest/gtest.h>

namespace clipserve::bench {
namespace {

TEST(Sysinfo, ParsesNvidiaSmiCsv) {
  auto specs = ParseGpuSpecsCsv("NVIDIA GeForce RTX 3070, 8192, 535.104.05\nNVIDIA H200, 143771, 550.54.15\n");
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "NVIDIA GeForce RTX 3070");
  EXPECT_EQ(specs[0].vram_total_mib, 8192);
  EXPECT_EQ(specs[1].driver_version, "550.54.15");
  auto state = ParseGpuStateCsv("NVIDIA H200, 37, 1024, 143771, 41, [N/A]\n");
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].utilization_pct, 37);
  EXPECT_EQ(state[0].memory_used_mib, 1024);
  EXPECT_EQ(*state[0].temperature_c, 41);
  EXPECT_FALSE(state[0].power_w.has_value());
  EXPECT_TRUE(ParseGpuSpecsCsv("").empty());
}

TEST(Sysinfo, HostAndAbsentGpuAreRecordedNotErrors) {
  HostInfo h = QueryHost();
  EXPECT_GT(h.logical_cores, 0);
  EXPECT_FALSE(h.os.empty());
  GpuSpecs s = QueryGpuSpecs();
  if (!s.available) {
    EXPECT_FALSE(s.reason.empty());
  } else {
    EXPECT_FALSE(s.gpus.front().name.empty());
  }
  GpuSampler sampler(50);
  sampler.Start();
  GpuUtilSummary u = sampler.Stop();
  if (!u.available) {
    EXPECT_FALSE(u.reason.empty());
  }
}

TEST(Sysinfo, RunCommandReportsFailure) {
  auto ok = RunCommand("echo hello");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "hello\n");
  EXPECT_FALSE(RunCommand("exit 3").ok());
  EXPECT_TRUE(OnPath("sh"));
  EXPECT_FALSE(OnPath("definitely-not-a-command-xyz"));
}

}  // namespace
}  // namespace clipserve::bench
