// Golden tests: our JSON carries every key of the original script's output
// (tests/bench/fixtures/seed-result-*.json), never NaN; compare, validate
// and report behave on the fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <regex>
#include <sstream>

#include "bench/analysis.h"
#include "bench/compare.h"
#include "bench/console_reporter.h"
#include "bench/html_report.h"
#include "bench/json_reporter.h"

namespace clipserve::bench {
namespace {

using nlohmann::json;

const std::string kFixtures = std::string(CLIPSERVE_SOURCE_DIR) + "/tests/bench/fixtures/";

json Fixture(const std::string& name) {
  auto j = ReadJsonFile(kFixtures + name);
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  return j.ok() ? *j : json::object();
}

void KeyPaths(const json& j, const std::string& prefix, std::set<std::string>& out) {
  if (!j.is_object()) return;
  for (const auto& [k, v] : j.items()) {
    const std::string p = prefix.empty() ? k : prefix + "." + k;
    out.insert(p);
    KeyPaths(v, p, out);
  }
}

PhaseMeasurement Phase(const std::string& name, int images, std::vector<double> lat) {
  PhaseMeasurement m;
  m.name = name;
  m.images_per_request = images;
  m.latencies_ms = std::move(lat);
  m.attempted = static_cast<std::int64_t>(m.latencies_ms.size());
  m.wall_time_s = 0.5;
  m.client_cpu = {0.01, 0.002};
  return m;
}

BackendRun FakeBackend(const std::string& name) {
  BackendRun b;
  b.backend = name;
  b.url = "http://127.0.0.1:1";
  b.cold_start.first_request_ms = 12.5;
  b.phases.push_back(Phase("single", 1, {1, 2, 3, 4}));
  for (int n : {4, 8, 16, 32}) b.phases.push_back(Phase("batch_" + std::to_string(n), n, {10.0 * n, 11.0 * n}));
  auto c = Phase("concurrent", 1, {5, 6, 7, 8, 9});
  c.concurrency = 16;
  c.errors.Add(FailureKind::kHttpStatus, 503, "busy");
  c.attempted = 6;
  c.gpu_util = GpuUtilSummary{};
  c.gpu_util->reason = "nvidia-smi not found on PATH";
  ServerDelta d;
  d.requests = 5;
  d.executions = 2;
  d.avg_batch_size = 2.5;
  d.queue_us_per_request = 100;
  d.compute_infer_us_per_request = 400;
  c.server_delta = d;
  c.server_delta_source = "stats";
  b.phases.push_back(c);
  if (name == "triton") {
    TritonModelCounters t;
    t.request_success = 459;
    t.queue_duration_us = 1;
    t.compute_input_duration_us = 2;
    t.compute_infer_duration_us = 3;
    t.compute_output_duration_us = 4;
    b.server_metrics = t;
  }
  b.probes.ids = {"p1", "p2"};
  b.probes.embeddings = {{1, 0, 0}, {0, 1, 0}};
  b.client_cpu_total = {0.1, 0.02};
  b.requests_total = 100;
  return b;
}

RunResult FakeRun(const std::string& backend) {
  RunResult r;
  r.config.backend = backend;
  r.config.batch_sizes = "4,8,16,32";
  r.config.output = "out.json";
  r.timestamp = "2026-01-01T00:00:00.000000";
  r.host = QueryHost();
  r.gpu_specs.reason = "nvidia-smi not found on PATH";
  if (backend != "pytorch") r.backends.push_back(FakeBackend("triton"));
  if (backend != "triton") r.backends.push_back(FakeBackend("pytorch"));
  return r;
}

TEST(GoldenJson, EveryOriginalKeyPresent) {
  for (const char* f : {"seed-result-pytorch-rtx3070.json", "seed-result-triton-rtx3070.json"}) {
    const json ref = Fixture(f);
    const json ours = BuildResultJson(FakeRun(ref["config"]["backend"].get<std::string>()));
    std::set<std::string> want, have;
    KeyPaths(ref, "", want);
    KeyPaths(ours, "", have);
    ASSERT_GT(want.size(), 50u);
    for (const auto& k : want) EXPECT_TRUE(have.count(k)) << f << ": missing key " << k;
    // Same JSON types for the original's values (numbers stay numbers).
    for (const auto& k : want) {
      std::string pointer = k;
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      pointer.insert(pointer.begin(), '/');
      const json::json_pointer ptr(pointer);
      if (!ours.contains(ptr)) continue;
      const json& a = ref.at(ptr);
      const json& b = ours.at(ptr);
      if (a.is_number()) {
        EXPECT_TRUE(b.is_number()) << k;
      }
      if (a.is_string()) {
        EXPECT_TRUE(b.is_string()) << k;
      }
      if (a.is_object()) {
        EXPECT_TRUE(b.is_object()) << k;
      }
    }
  }
}

TEST(GoldenJson, ConcurrentCountsAreSuccessesErrorsSeparate) {
  const json ours = BuildResultJson(FakeRun("triton"));
  const json& c = ours["triton"]["concurrent"];
  EXPECT_EQ(c["count"], 5);
  EXPECT_EQ(c["successful"], 5);
  EXPECT_EQ(c["total_requests"], 6);
  EXPECT_EQ(c["errors"], 1);
  EXPECT_EQ(c["errors_by_kind"]["http_503"], 1);
  EXPECT_DOUBLE_EQ(c["throughput_rps"].get<double>(), 10.0);
  EXPECT_EQ(c["histogram"]["total_count"], 5);
  EXPECT_EQ(ours["context"]["json_schema_version"], kJsonSchemaVersion);
  EXPECT_EQ(ours["triton"]["concurrent"]["server"]["avg_batch_size"], 2.5);
  EXPECT_DOUBLE_EQ(ours["triton"]["batch_4"]["images_per_sec"].get<double>(), 4 * 1000.0 / 42.0);
}

TEST(GoldenJson, NoNaNEverEmitted) {
  PhaseMeasurement empty = Phase("single", 1, {});
  empty.attempted = 3;
  empty.errors.Add(FailureKind::kConnection, 0, "refused");
  json j = PhaseJson(empty);
  EXPECT_TRUE(j["mean_ms"].is_null());
  EXPECT_TRUE(j["p99_ms"].is_null());
  EXPECT_EQ(j["count"], 0);
  EXPECT_TRUE(Num(std::nan("")).is_null());
  EXPECT_TRUE(Num(INFINITY).is_null());
  const std::string text = j.dump();
  EXPECT_EQ(text.find("NaN"), std::string::npos);
  EXPECT_EQ(text.find("nan"), std::string::npos);
}

TEST(Validate, OriginalFilesLackOnlyGpuSpecs) {
  for (const char* f : {"seed-result-pytorch-rtx3070.json", "seed-result-triton-rtx3070.json"}) {
    auto r = ValidateResult(Fixture(f));
    EXPECT_EQ(r.missing, std::vector<std::string>({"gpu_specs"})) << f;
  }
}

TEST(Validate, OursPassesAndBrokenFilesListWhatIsMissing) {
  json ours = BuildResultJson(FakeRun("both"));
  auto ok = ValidateResult(ours);
  EXPECT_TRUE(ok.ok()) << (ok.missing.empty() ? "" : ok.missing[0]);
  EXPECT_FALSE(ok.warnings.empty());  // GPU unavailable + 503s are worth a warning
  ours["triton"].erase("concurrent");
  ours["pytorch"].erase("batch_16");
  ours["triton"].erase("server_metrics");
  ours["pytorch"]["single"]["count"] = 0;
  auto bad = ValidateResult(ours);
  EXPECT_FALSE(bad.ok());
  auto has = [&](const std::string& s) { return std::find(bad.missing.begin(), bad.missing.end(), s) != bad.missing.end(); };
  EXPECT_TRUE(has("triton.concurrent"));
  EXPECT_TRUE(has("pytorch.batch_16"));
  EXPECT_TRUE(has("triton.server_metrics"));
  EXPECT_TRUE(has("pytorch.single: no successful request"));
}

TEST(Compare, OriginalFixturesSideBySide) {
  const json t = Fixture("seed-result-triton-rtx3070.json");
  const json p = Fixture("seed-result-pytorch-rtx3070.json");
  auto views = CollectBackends({{"triton.json", &t}, {"pytorch.json", &p}});
  ASSERT_EQ(views.size(), 2u);
  CompareTable table = BuildCompareTable(views);
  EXPECT_TRUE(table.warnings.empty());  // same settings, both GPUs unknown
  std::ostringstream out;
  PrintCompareTable(table, out);
  const std::string s = out.str();
  EXPECT_NE(s.find("concurrent.throughput_rps"), std::string::npos);
  EXPECT_NE(s.find("+444.9%"), std::string::npos) << s;  // 47.46 vs 8.71 req/s
  EXPECT_NE(s.find("batch_32.images_per_sec"), std::string::npos);
}

TEST(Compare, WarnsWhenSettingsOrGpusDiffer) {
  json t = Fixture("seed-result-triton-rtx3070.json");
  json p = Fixture("seed-result-pytorch-rtx3070.json");
  p["config"]["concurrency"] = 8;
  p["config"]["iterations"] = 20;
  t["gpu_specs"] = {{"name", "NVIDIA GeForce RTX 3070"}};
  p["gpu_specs"] = {{"name", "NVIDIA H200"}};
  auto table = BuildCompareTable(CollectBackends({{"a", &t}, {"b", &p}}));
  std::string all;
  for (const auto& w : table.warnings) all += w + "\n";
  EXPECT_NE(all.find("GPU models differ"), std::string::npos);
  EXPECT_NE(all.find("--concurrency differ"), std::string::npos);
  EXPECT_NE(all.find("--iterations differ"), std::string::npos);
  EXPECT_EQ(all.find("--batch-sizes"), std::string::npos);
  std::ostringstream out;
  PrintCompareTable(table, out);
  EXPECT_NE(out.str().find("!!! WARNING"), std::string::npos);
}

// Runs on different CPU ISAs or precisions are not the same setting, whether
// they sit in two files or in one.
TEST(Compare, WarnsWhenCpuIsaOrPrecisionDiffer) {
  json a = BuildResultJson(FakeRun("triton"));
  json b = BuildResultJson(FakeRun("pytorch"));
  a["context"]["host"]["cpu_isa"] = "avx512+bf16+vnni";
  b["context"]["host"]["cpu_isa"] = "avx2+fma";
  a["triton"]["server_compute"] = {{"precision", "bf16"}, {"cpu_isa", "avx512+bf16+vnni"}};
  b["pytorch"]["server_compute"] = {{"precision", "fp32"}, {"cpu_isa", "avx2+fma"}};
  auto table = BuildCompareTable(CollectBackends({{"a", &a}, {"b", &b}}));
  std::string all;
  for (const auto& w : table.warnings) all += w + "\n";
  EXPECT_NE(all.find("Host CPU ISAs differ"), std::string::npos) << all;
  EXPECT_NE(all.find("Server precisions differ"), std::string::npos) << all;
  EXPECT_NE(all.find("Server CPU ISAs differ"), std::string::npos) << all;

  json both = BuildResultJson(FakeRun("both"));
  both["triton"]["server_compute"] = {{"precision", "bf16"}, {"cpu_isa", "avx512+bf16"}};
  both["pytorch"]["server_compute"] = {{"precision", "fp32"}, {"cpu_isa", "avx512+bf16"}};
  auto one_file = BuildCompareTable(CollectBackends({{"both", &both}}));
  ASSERT_EQ(one_file.warnings.size(), 1u);
  EXPECT_NE(one_file.warnings[0].find("Server precisions differ"), std::string::npos);

  both["pytorch"]["server_compute"]["precision"] = "bf16";
  EXPECT_TRUE(BuildCompareTable(CollectBackends({{"both", &both}})).warnings.empty());
}

TEST(Validate, RequiresTheCpuIsaAndReportsUnknownServerCompute) {
  json ours = BuildResultJson(FakeRun("both"));
  EXPECT_FALSE(ours["context"]["host"]["cpu_isa"].get<std::string>().empty());
  ASSERT_TRUE(ours["triton"].contains("server_compute"));
  ours["context"]["host"].erase("cpu_isa");
  ours["pytorch"].erase("server_compute");
  auto r = ValidateResult(ours);
  auto has = [&](const std::string& s) { return std::find(r.missing.begin(), r.missing.end(), s) != r.missing.end(); };
  EXPECT_TRUE(has("context.host.cpu_isa"));
  EXPECT_TRUE(has("pytorch.server_compute"));
  bool warned = false;
  for (const auto& w : r.warnings) warned |= w.find("triton.server_compute.precision") != std::string::npos;
  EXPECT_TRUE(warned) << "a server that does not report its precision is worth a warning";
}

TEST(Report, SelfContainedHtmlWithCharts) {
  const json t = Fixture("seed-result-triton-rtx3070.json");
  const json ours = BuildResultJson(FakeRun("both"));
  const std::string html = RenderHtmlReport({{"triton.json", &t}, {"<ours>.json", &ours}});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_GE(std::count(html.begin(), html.end(), '<') , 100);
  std::size_t svgs = 0, pos = 0;
  while ((pos = html.find("<svg", pos)) != std::string::npos) ++svgs, ++pos;
  EXPECT_GE(svgs, 5u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_NE(html.find("&lt;ours&gt;.json"), std::string::npos);  // labels escaped
  EXPECT_NE(html.find("Server time breakdown"), std::string::npos);
}

TEST(Analysis, ParityAndCost) {
  json run = BuildResultJson(FakeRun("both"));
  json parity = ComputeParity(run, nullptr, "");
  EXPECT_EQ(parity["status"], "ok");
  EXPECT_DOUBLE_EQ(parity["comparisons"][0]["min_cosine"].get<double>(), 1.0);
  run["pytorch"]["parity_probes"]["embeddings"][1] = {0.1, 1, 0};
  parity = ComputeParity(run, nullptr, "");
  EXPECT_EQ(parity["status"], "MISMATCH");
  EXPECT_LT(parity["comparisons"][0]["min_cosine"].get<double>(), 0.999);
  json ref = BuildResultJson(FakeRun("triton"));
  json single = BuildResultJson(FakeRun("pytorch"));
  parity = ComputeParity(single, &ref, "ref.json");
  EXPECT_EQ(parity["status"], "ok");
  EXPECT_EQ(parity["comparisons"][0]["b"], "triton (ref.json)");
  EXPECT_EQ(ComputeParity(single, nullptr, "")["status"], "not_compared");

  json cost = ComputeCost(run, 3.6);
  // 10 img/s -> 36000 img/hour -> $3.6/36000*1e6 = $100 per 1M images.
  EXPECT_NEAR(cost["triton"]["cost_per_1m_images_usd"].get<double>(), 100.0, 1e-9);
  EXPECT_NEAR(Cosine({1, 0}, {0, 1}), 0.0, 1e-12);
}

TEST(Analysis, TradeoffsQuoteTheNumbers) {
  const json t = Fixture("seed-result-triton-rtx3070.json");
  const json p = Fixture("seed-result-pytorch-rtx3070.json");
  auto notes = DeriveTradeoffs(CollectBackends({{"t", &t}, {"p", &p}}));
  std::string all;
  for (const auto& n : notes) all += n + "\n";
  EXPECT_NE(all.find("Concurrent throughput (req/s): pytorch (p) is x5.45 better"), std::string::npos) << all;
  EXPECT_NE(all.find("batching scales"), std::string::npos);
}

TEST(Console, PrintsSectionsAndSummary) {
  json run = BuildResultJson(FakeRun("both"));
  run["tradeoffs"] = DeriveTradeoffs(CollectBackends({{"run", &run}}));
  std::ostringstream out;
  PrintRunReport(run, out);
  const std::string s = out.str();
  EXPECT_NE(s.find("TRITON RESULTS"), std::string::npos);
  EXPECT_NE(s.find("PYTORCH RESULTS"), std::string::npos);
  EXPECT_NE(s.find("COMPARISON SUMMARY"), std::string::npos);
  EXPECT_NE(s.find("batch_32"), std::string::npos);
  EXPECT_NE(s.find("Trade-offs"), std::string::npos);
}

}  // namespace
}  // namespace clipserve::bench
