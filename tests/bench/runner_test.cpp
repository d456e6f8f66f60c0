// The runner against in-process fake servers on loopback ephemeral ports:
// phases, protocols, server-side deltas, failure accounting, parity.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/analysis.h"
#include "bench/inputs.h"
#include "bench/json_reporter.h"
#include "bench/runner.h"
#include "bench/server_process.h"
#include "fake_servers.h"

namespace clipserve::bench {
namespace {

using nlohmann::json;
using testing::FakeOptions;
using testing::FakeServer;

BenchConfig SmallConfig() {
  BenchConfig c;
  c.iterations = 5;
  c.warmup = 1;
  c.batch_sizes = "1,4";
  c.concurrency = 4;
  c.concurrent_requests = 20;
  c.image_size = 32;
  c.image_pool = 8;
  c.probe_images = 2;
  c.timeout_s = 10;
  c.progress = false;
  c.triton_metrics_url = "";
  return c;
}

RunInputs Inputs(const BenchConfig& c) {
  auto in = MakeRunInputs(c, nullptr);
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  return std::move(*in);
}

const PhaseMeasurement* Find(const BackendRun& r, const std::string& name) {
  for (const auto& p : r.phases)
    if (p.name == name) return &p;
  return nullptr;
}

TEST(Inputs, DeterministicSyntheticImagesAndFixedProbes) {
  BenchConfig c = SmallConfig();
  RunInputs a = Inputs(c), b = Inputs(c);
  ASSERT_EQ(a.images.size(), 8u);
  EXPECT_EQ(a.images[3].encoded, b.images[3].encoded);
  EXPECT_NE(a.images[3].encoded, a.images[4].encoded);
  EXPECT_EQ(a.images[0].unit_chw.size(), 3u * 32 * 32);
  EXPECT_EQ(a.images[0].encoded[0], 0xFF);  // JPEG SOI
  c.seed = 99;
  RunInputs d = Inputs(c);
  EXPECT_NE(d.images[0].encoded, a.images[0].encoded);
  EXPECT_EQ(d.probes[0].name, a.probes[0].name);  // probes do not depend on --seed
}

TEST(Inputs, ImagesDirectory) {
  const auto dir = std::filesystem::temp_directory_path() / ("bench_images_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  for (int i = 0; i < 3; ++i) {
    auto img = MakeSyntheticImage(100 + static_cast<std::uint64_t>(i), 48, 90);
    ASSERT_TRUE(img.ok());
    std::ofstream(dir / ("img" + std::to_string(i) + ".jpg"), std::ios::binary)
        .write(reinterpret_cast<const char*>(img->encoded.data()), static_cast<std::streamsize>(img->encoded.size()));
  }
  std::ofstream(dir / "notes.txt") << "not an image";
  BenchConfig c = SmallConfig();
  c.images_dir = dir.string();
  std::string description;
  auto in = MakeRunInputs(c, &description);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->images.size(), 3u);
  EXPECT_EQ(in->images[0].name, "img0.jpg");
  EXPECT_EQ(in->images[0].unit_chw.size(), 3u * 32 * 32);  // resized + cropped to --image-size like the server
  EXPECT_EQ(in->probes.size(), 2u);
  EXPECT_NE(description.find("3 files"), std::string::npos);
  std::ofstream(dir / "bad.png") << "corrupt";
  auto bad = MakeRunInputs(c, nullptr);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.png"), std::string::npos) << bad.status().ToString();
  c.images_dir = (dir / "missing").string();
  EXPECT_FALSE(MakeRunInputs(c, nullptr).ok());
  std::filesystem::remove_all(dir);
}

TEST(Runner, RestBase64AllPhases) {
  FakeServer server({});
  BenchConfig c = SmallConfig();
  c.backend = "pytorch";
  c.pytorch_url = server.url();
  std::ostringstream log;
  BackendRun r = RunBackend(c, "pytorch", Inputs(c), log);
  EXPECT_TRUE(r.failures.empty()) << log.str();
  ASSERT_TRUE(r.cold_start.first_request_ms.has_value());
  EXPECT_TRUE(r.cold_start.warm_server);
  for (const char* name : {"single", "batch_1", "batch_4", "concurrent"}) {
    const PhaseMeasurement* p = Find(r, name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->errors.total, 0) << name;
  }
  EXPECT_EQ(Find(r, "single")->latencies_ms.size(), 5u);
  EXPECT_EQ(Find(r, "batch_4")->images_per_request, 4);
  EXPECT_EQ(Find(r, "concurrent")->latencies_ms.size(), 20u);
  EXPECT_EQ(Find(r, "concurrent")->concurrency, 4);
  EXPECT_EQ(r.probes.embeddings.size(), 2u);
  EXPECT_EQ(r.probes.embeddings[0].size(), static_cast<std::size_t>(FakeServer::kDim));
  EXPECT_EQ(r.server_info.count("/model-info"), 1u);
  // cold start 1 + probes 2 + (warm-up 1 + 5) * 3 phases + 20 concurrent.
  EXPECT_EQ(server.embed_requests(), 1 + 2 + 18 + 20);
}

TEST(Runner, KserveBinaryTensorWithStatsAndMetricsDeltas) {
  FakeServer server({.kserve = true});
  BenchConfig c = SmallConfig();
  c.backend = "triton";
  c.triton_url = server.url();
  c.triton_metrics_url = server.metrics_url();
  std::ostringstream log;
  BackendRun r = RunBackend(c, "triton", Inputs(c), log);
  EXPECT_TRUE(r.failures.empty()) << log.str();
  const PhaseMeasurement* b4 = Find(r, "batch_4");
  ASSERT_NE(b4, nullptr);
  ASSERT_TRUE(b4->server_delta.has_value());
  EXPECT_EQ(b4->server_delta_source, "stats");
  // Scraped after the warm-up: exactly the 5 timed requests of 4 images.
  EXPECT_EQ(*b4->server_delta->requests, 5);
  EXPECT_EQ(*b4->server_delta->executions, 5);
  EXPECT_EQ(*b4->server_delta->inferences, 20);
  EXPECT_EQ(*b4->server_delta->avg_batch_size, 4);
  EXPECT_NEAR(*b4->server_delta->compute_infer_us_per_request, 400, 1e-9);
  ASSERT_TRUE(r.server_metrics.has_value());
  EXPECT_EQ(*r.server_metrics->request_success, server.embed_requests());
  EXPECT_EQ(r.server_info.count("/v2"), 1u);
}

TEST(Runner, AllProtocolsGiveTheSameEmbeddings) {
  FakeServer rest({});
  FakeServer kserve({.kserve = true, .metrics = false});
  BenchConfig c = SmallConfig();
  c.batch_sizes = "2";
  c.concurrent_requests = 0;
  c.pytorch_url = rest.url();
  c.triton_url = kserve.url();
  RunInputs in = Inputs(c);
  std::ostringstream log;
  json doc = json::object();
  RunResult result;
  result.config = c;
  c.pytorch_input = "multipart";
  result.backends.push_back(RunBackend(c, "pytorch", in, log));
  for (const char* mode : {"tensor", "tensor-json", "image-bytes"}) {
    c.triton_input = mode;
    BackendRun t = RunBackend(c, "triton", in, log);
    EXPECT_TRUE(t.failures.empty()) << mode << "\n" << log.str();
    RunResult pair = result;
    pair.backends.push_back(std::move(t));
    json j = BuildResultJson(pair);
    json parity = ComputeParity(j, nullptr, "");
    EXPECT_EQ(parity["status"], "ok") << mode << parity.dump();
    EXPECT_GT(parity["comparisons"][0]["min_cosine"].get<double>(), 0.99999) << mode;
  }
}

TEST(Runner, FailedRequestsCountedByKind) {
  FakeServer server({.fail_every = 4});
  BenchConfig c = SmallConfig();
  c.batch_sizes = "1";
  c.warmup = 0;
  c.pytorch_url = server.url();
  std::ostringstream log;
  BackendRun r = RunBackend(c, "pytorch", Inputs(c), log);
  const PhaseMeasurement* conc = Find(r, "concurrent");
  ASSERT_NE(conc, nullptr);
  EXPECT_EQ(conc->attempted, 20);
  EXPECT_EQ(static_cast<std::int64_t>(conc->latencies_ms.size()) + conc->errors.total, 20);
  EXPECT_GT(conc->errors.by_key.count("http_503"), 0u);
  EXPECT_FALSE(r.failures.empty());
  json j = PhaseJson(*conc);
  EXPECT_EQ(j["count"], conc->latencies_ms.size());
  EXPECT_EQ(j["successful"], conc->latencies_ms.size());
  EXPECT_EQ(j["errors"], conc->errors.total);
}

TEST(Runner, DeadServerIsRecordedNotThrown) {
  int port = 0;
  {
    FakeServer gone({});
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }  // stopped: the port now refuses connections
  BenchConfig c = SmallConfig();
  c.pytorch_url = "http://127.0.0.1:" + std::to_string(port);
  std::ostringstream log;
  BackendRun r = RunBackend(c, "pytorch", Inputs(c), log);
  EXPECT_FALSE(r.cold_start.error.empty());
  const PhaseMeasurement* single = Find(r, "single");
  ASSERT_NE(single, nullptr);
  EXPECT_TRUE(single->latencies_ms.empty());
  EXPECT_EQ(single->errors.by_key.at("connection"), 5);
  EXPECT_NE(single->error.find("all 5 requests failed"), std::string::npos);
  RunResult result;
  result.config = c;
  result.backends.push_back(r);
  json j = BuildResultJson(result);
  EXPECT_EQ(j["pytorch"]["status"], "failed");
  EXPECT_TRUE(j["pytorch"]["single"]["p50_ms"].is_null());
  EXPECT_GE(j["failures"].size(), 3u);
}

TEST(Runner, OpenLoopPhase) {
  FakeServer server({});
  BenchConfig c = SmallConfig();
  c.batch_sizes = "1";
  c.concurrent_requests = 0;
  c.request_rate = 200;
  c.duration_s = 0.5;
  c.arrival = "constant";
  c.open_loop_workers = 8;
  c.pytorch_url = server.url();
  std::ostringstream log;
  BackendRun r = RunBackend(c, "pytorch", Inputs(c), log);
  const PhaseMeasurement* ol = Find(r, "open_loop");
  ASSERT_NE(ol, nullptr);
  ASSERT_TRUE(ol->open_loop.has_value());
  EXPECT_EQ(ol->open_loop->scheduled, 100);
  EXPECT_EQ(static_cast<std::int64_t>(ol->latencies_ms.size()) + ol->errors.total, 100);
  EXPECT_EQ(ol->open_loop->send_lag_ms.size(), 100u);
  EXPECT_GE(ol->wall_time_s, 0.49);
  json j = PhaseJson(*ol);
  EXPECT_EQ(j["latency_measured_from"], "scheduled send time");
  EXPECT_EQ(j["histogram"]["total_count"], ol->latencies_ms.size());
}

TEST(Runner, ServerCmdThatDiesIsRecorded) {
  BenchConfig c = SmallConfig();
  c.server_cmd = "exit 3";
  c.pytorch_url = "http://127.0.0.1:1";
  std::ostringstream log;
  BackendRun r = RunBackend(c, "pytorch", Inputs(c), log);
  EXPECT_FALSE(r.cold_start.warm_server);
  EXPECT_NE(r.cold_start.error.find("exited with status 3"), std::string::npos) << r.cold_start.error;
  EXPECT_TRUE(r.phases.empty());
}

TEST(ServerProcess, StartAliveStop) {
  auto p = ServerProcess::Start("sleep 30", "");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->Alive());
  const auto t0 = std::chrono::steady_clock::now();
  (*p)->Stop();
  EXPECT_FALSE((*p)->Alive());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace clipserve::bench
