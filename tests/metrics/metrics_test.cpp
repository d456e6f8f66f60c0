#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "metrics/histogram.h"
#include "metrics/model_stats.h"
#include "metrics/registry.h"

namespace clipserve::metrics {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Histogram, BucketsAreLessOrEqualAndCumulative) {
  Histogram h({1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 2.0, 5.0, 6.0}) h.Observe(v);
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{1, 2, 5}));
  EXPECT_EQ(s.cumulative_counts, (std::vector<std::uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 16.0);
}

TEST(Histogram, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(10, 5, 3), (std::vector<double>{10, 15, 20}));
  EXPECT_EQ(BatchSizeBuckets(32), (std::vector<double>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(BatchSizeBuckets(12), (std::vector<double>{1, 2, 4, 8, 12}));
  EXPECT_EQ(BatchSizeBuckets(1), (std::vector<double>{1}));
  std::vector<double> d = DefaultDurationBucketsUs();
  ASSERT_EQ(d.size(), 16u);
  EXPECT_EQ(d.front(), 100);
  EXPECT_EQ(d[3], 1000);
  EXPECT_EQ(d.back(), 1e7);
  EXPECT_TRUE(std::is_sorted(d.begin(), d.end()));
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("/v2/models/{m}/infer"), "/v2/models/{m}/infer");
  EXPECT_EQ(EscapeHelp("line1\nback\\slash \"quotes stay\""), "line1\\nback\\\\slash \"quotes stay\"");
}

TEST(Exposition, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(Exposition, ValidatesNames) {
  EXPECT_TRUE(IsValidMetricName("nv_inference_count"));
  EXPECT_TRUE(IsValidMetricName("a:b_c1"));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("path"));
  EXPECT_FALSE(IsValidLabelName("__name"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
}

// A registry filled with fixed values; process metrics off so the text is
// fully deterministic.
void Fill(Registry* r) {
  ModelStats* m = r->AddModel("openclip_vit_b32", "1", 4).value();
  m->RecordExecution(3, 30'000, 9'000'000, 40'000);
  m->RecordExecution(1, 5'000, 4'000'000, 6'000);
  for (std::uint64_t i = 0; i < 3; ++i) m->RecordSuccess({10'000'000, 800'000, 30'000, 9'000'000, 40'000, 1});
  m->RecordSuccess({5'500'000, 1'400'000, 5'000, 4'000'000, 6'000, 1});
  m->RecordFailure(FailureReason::kRejected, 0);
  m->RecordFailure(FailureReason::kBackend, 2'000'000);
  m->AddPending(2);
  ModelStats* odd = r->AddModel("we\"ird\\name", "2", 2).value();
  odd->RecordFailure(FailureReason::kOther, 0);
  CounterFamily* http = r->AddCounterFamily("clipserve_http_requests_total",
                                            "HTTP requests by API, route and status code",
                                            {"api", "path", "code"}).value();
  http->Increment({"rest", "/embed/base64", "200"}, 4);
  http->Increment({"kserve", "/v2/models/{m}/infer", "400"});
  http->Increment({"rest", "/embed/\"x\"\n", "404"});
  r->set_process_metrics(false);
}

TEST(Exposition, MatchesGoldenText) {
  Registry r;
  Fill(&r);
  const std::string text = r.RenderText();
  const std::string golden_path = std::string(CLIPSERVE_SOURCE_DIR) + "/tests/metrics/fixtures/exposition.golden.txt";
  if (std::getenv("CLIPSERVE_UPDATE_GOLDEN")) {
    std::ofstream(golden_path, std::ios::binary) << text;
  }
  EXPECT_EQ(text, ReadFile(golden_path)) << "regenerate with CLIPSERVE_UPDATE_GOLDEN=1 and review the diff";
}

TEST(Exposition, EveryLineParses) {
  Registry r;
  Fill(&r);
  r.set_process_metrics(true);
  const std::string text = r.RenderText();
  // Text format 0.0.4: comments, or `name{label="escaped",...} value`.
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")*\})? (-?[0-9.e+]+|\+Inf|-Inf|NaN)$)");
  std::istringstream lines(text);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
      ++samples;
    }
  }
  EXPECT_GT(samples, 50);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\nprocess_cpu_seconds_total "), std::string::npos);
  EXPECT_NE(text.find("\nprocess_resident_memory_bytes "), std::string::npos);
}

TEST(Exposition, ProcessStatsAreSane) {
  StatusOr<ProcessStats> p = ReadProcessStats();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GT(p->resident_bytes, 1u << 20);  // a gtest binary holds more than 1 MiB
  EXPECT_GE(p->cpu_seconds, 0.0);
}

TEST(ModelStats, SnapshotMirrorsTritonStatistics) {
  ModelStats m("m", "1", 8);
  m.RecordExecution(8, 100, 2000, 300);
  m.RecordExecution(8, 100, 2000, 300);
  m.RecordExecution(2, 50, 900, 70);
  m.RecordSuccess({5000, 1000, 100, 2000, 300, 18});
  m.RecordFailure(FailureReason::kCanceled, 700);
  m.AddPending(3);
  m.AddPending(-1);
  ModelStatsSnapshot s = m.Snapshot();
  EXPECT_EQ(s.name, "m");
  EXPECT_EQ(s.version, "1");
  EXPECT_EQ(s.inference_count, 18u);
  EXPECT_EQ(s.execution_count, 3u);
  EXPECT_EQ(s.success, (CountNs{1, 5000}));
  EXPECT_EQ(s.fail, (CountNs{1, 700}));
  EXPECT_EQ(s.queue, (CountNs{1, 1000}));
  EXPECT_EQ(s.compute_infer, (CountNs{1, 2000}));
  EXPECT_EQ(s.fail_by_reason[static_cast<int>(FailureReason::kCanceled)], 1u);
  EXPECT_EQ(s.pending_request_count, 2);
  EXPECT_GT(s.last_inference_ms, 1'600'000'000'000u);  // after 2020, in ms
  ASSERT_EQ(s.batch_stats.size(), 2u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 2);
  EXPECT_EQ(s.batch_stats[0].compute_infer, (CountNs{1, 900}));
  EXPECT_EQ(s.batch_stats[1].batch_size, 8);
  EXPECT_EQ(s.batch_stats[1].compute_input, (CountNs{2, 200}));
  EXPECT_EQ(s.batch_stats[1].compute_output, (CountNs{2, 600}));
  EXPECT_EQ(s.batch_size.count, 3u);
  EXPECT_EQ(s.compute_infer_duration_us.count, 3u);
  EXPECT_EQ(s.request_duration_us.count, 1u);
}

TEST(ModelStats, SnapshotsStayConsistentUnderConcurrentWriters) {
  ModelStats m("m", "1", 4);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::vector<ModelStatsSnapshot> seen;
  std::thread reader([&] {
    while (!done.load()) seen.push_back(m.Snapshot());
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.RecordExecution(1 + (i + t) % 4, 1000, 2000, 3000);
        m.RecordSuccess({4000, 500, 1000, 2000, 3000, static_cast<std::uint64_t>(1 + (i + t) % 4)});
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const ModelStatsSnapshot& s = seen[i];
    EXPECT_EQ(s.batch_size.cumulative_counts.back(), s.batch_size.count);
    EXPECT_EQ(s.request_duration_us.cumulative_counts.back(), s.request_duration_us.count);
    if (i > 0) {
      EXPECT_GE(s.execution_count, seen[i - 1].execution_count);
      EXPECT_GE(s.success.count, seen[i - 1].success.count);
    }
  }
  ModelStatsSnapshot s = m.Snapshot();
  const std::uint64_t n = kThreads * kPerThread;
  EXPECT_EQ(s.execution_count, n);
  EXPECT_EQ(s.success, (CountNs{n, 4000 * n}));
  EXPECT_EQ(s.inference_count, static_cast<std::uint64_t>(kThreads) * (kPerThread / 4) * (1 + 2 + 3 + 4));
  EXPECT_EQ(s.batch_size.count, n);
  EXPECT_DOUBLE_EQ(s.batch_size.sum, static_cast<double>(s.inference_count));
  std::uint64_t per_size_total = 0;
  for (const auto& b : s.batch_stats) per_size_total += b.compute_infer.count;
  EXPECT_EQ(per_size_total, n);
}

TEST(Registry, RejectsDuplicatesAndBadNames) {
  Registry r;
  ASSERT_TRUE(r.AddModel("m", "1", 4).ok());
  EXPECT_EQ(r.AddModel("m", "1", 4).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(r.AddModel("m", "2", 4).ok());
  EXPECT_NE(r.FindModel("m", "2"), nullptr);
  EXPECT_EQ(r.FindModel("m", "3"), nullptr);
  EXPECT_EQ(r.Models().size(), 2u);
  EXPECT_EQ(r.AddCounterFamily("bad-name", "h", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounterFamily("ok_total", "h", {"__x"}).status().code(), StatusCode::kInvalidArgument);
  CounterFamily* c = r.AddCounterFamily("ok_total", "h", {"a"}).value();
  EXPECT_EQ(r.AddCounterFamily("ok_total", "h", {"a"}).status().code(), StatusCode::kAlreadyExists);
  c->Increment({"x", "extra"});
  EXPECT_EQ(c->dropped(), 1u);
  c->Increment({"x"}, 5);
  EXPECT_EQ(c->Value({"x"}), 5u);
  EXPECT_EQ(c->Value({"y"}), 0u);
}

}  // namespace
}  // namespace clipserve::metrics
