// The validity checks of one phase (issue 12, item 4), on hand-made
// measurements, and the /proc parsers behind the host figures.
#include "bench/validity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "bench/analysis.h"
#include "bench/compare.h"
#include "bench/sysinfo.h"

namespace clipserve::bench {
namespace {

bool Has(const PhaseValidity& v, const std::string& part) {
  for (const auto& w : v.warnings) {
    if (w.find(part) != std::string::npos) return true;
  }
  return false;
}

PhaseMeasurement Concurrent(int n, double latency_ms, int concurrency, double wall_s) {
  PhaseMeasurement m;
  m.name = "concurrent";
  m.concurrency = concurrency;
  m.latencies_ms.assign(static_cast<std::size_t>(n), latency_ms);
  m.attempted = n;
  m.wall_time_s = wall_s;
  return m;
}

TEST(Validity, QuietHostAndAConsistentClosedLoopRaiseNothing) {
  // 8 in flight, 10 ms each: 800 req/s, so 800 requests take 1 s.
  PhaseMeasurement m = Concurrent(800, 10.0, 8, 1.0);
  m.host = HostWindow{.wall_s = 1.0, .host_busy_s = 1.0, .host_total_s = 2.0, .runner_cpu_s = 0.3, .server_cpu_s = 0.65};
  const PhaseValidity v = AssessPhase(m, 2, 1);
  EXPECT_TRUE(v.warnings.empty()) << v.warnings[0];
  EXPECT_NEAR(*v.other_cores, 0.05, 1e-9);
  EXPECT_NEAR(*v.littles_law_ratio, 1.0, 1e-9);
  EXPECT_NEAR(*v.p50_drift, 0.0, 1e-9);
}

TEST(Validity, BusyHostSaturatedRunnerAndBrokenLittlesLaw) {
  // Measured 400 req/s where 8 in flight at 10 ms give 800: half the time
  // was spent outside the requests.
  PhaseMeasurement m = Concurrent(800, 10.0, 8, 2.0);
  m.host = HostWindow{.wall_s = 2.0, .host_busy_s = 3.8, .host_total_s = 4.0, .runner_cpu_s = 1.9, .server_cpu_s = 0.9};
  const PhaseValidity v = AssessPhase(m, 2, 1);
  EXPECT_NEAR(*v.other_share, 0.25, 1e-9);  // (3.8 - 1.9 - 0.9) / 2 s / 2 cores
  EXPECT_TRUE(Has(v, "other processes used 0.50 of 2 cores (25%)"));
  EXPECT_TRUE(Has(v, "the runner used 0.95 cores"));
  EXPECT_TRUE(Has(v, "Little's law"));
  EXPECT_NEAR(*v.littles_law_ratio, 0.5, 1e-9);
}

TEST(Validity, ServerNotLaunchedByTheRunnerIsNotCalledBackgroundLoad) {
  PhaseMeasurement m = Concurrent(800, 10.0, 8, 1.0);
  m.host = HostWindow{.wall_s = 1.0, .host_busy_s = 1.9, .host_total_s = 2.0, .runner_cpu_s = 0.3};
  const PhaseValidity v = AssessPhase(m, 2, 1);
  EXPECT_TRUE(v.other_includes_server);
  EXPECT_NEAR(*v.other_cores, 1.6, 1e-9);
  EXPECT_FALSE(Has(v, "other processes"));
}

TEST(Validity, LateSendsDriftAndWorkTheRunnerDidNotSend) {
  PhaseMeasurement m;
  m.name = "open_loop";
  m.open_loop = OpenLoopInfo{};
  m.open_loop->scheduled = 1000;
  m.open_loop->late_sends = 25;
  m.open_loop->late_threshold_ms = 1.0;
  for (int i = 0; i < 90; ++i) m.latencies_ms.push_back(i < 30 ? 10.0 : (i < 60 ? 12.0 : 20.0));
  m.attempted = 90;
  m.server_delta = ServerDelta{};
  m.server_delta->requests = 100;
  m.server_delta->failures = 2;
  const PhaseValidity v = AssessPhase(m, 2, 1);
  EXPECT_NEAR(*v.late_share, 0.025, 1e-9);
  EXPECT_TRUE(Has(v, "2.5% of open-loop sends"));
  ASSERT_EQ(v.window_p50_ms.size(), 3u);
  EXPECT_NEAR(*v.p50_drift, (20.0 - 10.0) / 12.0, 1e-9);
  EXPECT_TRUE(Has(v, "median latency drifted 83%"));
  EXPECT_EQ(*v.unsent_server_requests, 12);
  EXPECT_TRUE(Has(v, "12 more requests than the runner sent"));
  EXPECT_FALSE(v.littles_law_ratio.has_value());  // open loop: not a closed-loop identity
}

TEST(Validity, FewSamplesOrNoHostFiguresAreNotJudged) {
  PhaseMeasurement m = Concurrent(20, 5.0, 4, 0.025);
  const PhaseValidity v = AssessPhase(m, 2, 1);
  EXPECT_FALSE(v.other_cores.has_value());
  EXPECT_TRUE(v.window_p50_ms.empty());
  EXPECT_TRUE(v.warnings.empty());
}

TEST(Validity, CompareSaysWhenBackgroundLoadDiffered) {
  using nlohmann::json;
  auto doc = [](double share, bool includes_server) {
    return json{{"triton", {{"concurrent", {{"validity", {{"other_share", share},
                                                          {"other_includes_server", includes_server}}}}}}}};
  };
  const json quiet = doc(0.02, false), busy = doc(0.45, false), unknown = doc(0.9, true);
  auto warned = [](const json& a, const json& b) {
    for (const auto& w : FairnessWarnings(CollectBackends({{"a", &a}, {"b", &b}}))) {
      if (w.find("Background load differs") != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(warned(quiet, busy));
  EXPECT_FALSE(warned(quiet, quiet));
  EXPECT_FALSE(warned(quiet, unknown));  // the server's own CPU was inside that figure
}

TEST(ProcParsers, StatAndPidStat) {
  auto h = ParseProcStat("cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 1 2 3 4 5 6 7 8\n", 100.0);
  ASSERT_TRUE(h.has_value());
  EXPECT_DOUBLE_EQ(h->busy_s, (100 + 5 + 50 + 3 + 2 + 10) / 100.0);
  EXPECT_DOUBLE_EQ(h->total_s, h->busy_s + (800 + 20) / 100.0);
  EXPECT_FALSE(ParseProcStat("intr 1 2 3", 100.0).has_value());
  // comm with spaces and a ')' of its own
  auto p = ParseProcPidStat("4242 (clip server) x) S 77 1 1 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 9", 100.0);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ppid, 77);
  EXPECT_DOUBLE_EQ(p->cpu_s, 3.0);
  EXPECT_FALSE(ParseProcPidStat("4242 (short) S 1", 100.0).has_value());
  // This process is alive: its tree's CPU is readable and not negative.
  auto self = ReadProcessTreeCpuSeconds(static_cast<int>(getpid()));
  ASSERT_TRUE(self.has_value());
  EXPECT_GE(*self, 0.0);
  EXPECT_TRUE(ReadHostCpu().has_value());
}

}  // namespace
}  // namespace clipserve::bench
