// End-to-end through the real benchmark_backends binary, against in-process
// fake servers on ephemeral ports: the JSON is written and validates,
// compare and report work, and a run whose server dies midway still writes
// its JSON with the failure recorded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/compare.h"
#include "bench/json_reporter.h"
#include "fake_servers.h"
#include "support/child_process.h"

namespace clipserve::bench {
namespace {

using nlohmann::json;
using testing::FakeOptions;
using testing::FakeServer;

const std::string kBin = std::string(CLIPSERVE_BINARY_DIR) + "/apps/benchmark_backends/benchmark_backends";

struct Ran {
  int code = -1;
  std::string out;
};

Ran RunApp(const std::string& args) {
  Ran r;
  FILE* p = popen((kBin + " " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string TempDir() {
  auto d = std::filesystem::temp_directory_path() / ("bench_app_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

const char* kSmall = " --iterations 4 --warmup 1 --batch-sizes 1,2 --concurrency 3 --concurrent-requests 12 --image-size 32 "
                     "--image-pool 4 --probe-images 2 --no-progress --timeout 5";

TEST(App, BothBackendsThenCompareValidateReport) {
  FakeServer rest({});
  FakeServer kserve({.kserve = true});
  const std::string dir = TempDir();
  const std::string out = dir + "/both.json";
  Ran r = RunApp(std::string("--backend both --pytorch-url ") + rest.url() + " --triton-url " + kserve.url() +
              " --triton-metrics-url " + kserve.metrics_url() + kSmall + " --price-per-hour 2.5 --output " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("TRITON RESULTS"), std::string::npos);
  EXPECT_NE(r.out.find("COMPARISON SUMMARY"), std::string::npos);
  auto doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["parity"]["status"], "ok");
  EXPECT_TRUE((*doc)["cost"]["triton"]["cost_per_1m_images_usd"].is_number());
  EXPECT_EQ((*doc)["config"]["output"], out);
  EXPECT_TRUE((*doc)["triton"]["server_metrics"].contains("queue_duration_us"));

  Ran v = RunApp("validate " + out);
  EXPECT_EQ(v.code, 0) << v.out;  // gpu_specs present (as unavailable) on a CPU box
  Ran c = RunApp("compare " + out + " " + std::string(CLIPSERVE_SOURCE_DIR) + "/tests/bench/fixtures/seed-result-triton-rtx3070.json");
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("!!! WARNING"), std::string::npos);  // iterations/concurrency differ from the fixture
  const std::string html = dir + "/report.html";
  Ran h = RunApp("report " + out + " --html " + html);
  ASSERT_EQ(h.code, 0) << h.out;
  std::ifstream in(html);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);

  // Parity against a separate run's file (the checklist runs backends separately).
  const std::string out2 = dir + "/rest_only.json";
  Ran r2 = RunApp(std::string("--backend pytorch --pytorch-url ") + rest.url() + kSmall + " --parity-reference " + out +
               " --output " + out2);
  ASSERT_EQ(r2.code, 0) << r2.out;
  auto doc2 = ReadJsonFile(out2);
  EXPECT_EQ((*doc2)["parity"]["status"], "ok");
  std::filesystem::remove_all(dir);
}

TEST(App, ServerDyingMidwayStillWritesJson) {
  auto server = std::make_unique<FakeServer>(FakeOptions{.delay_ms = 20});
  const std::string dir = TempDir();
  const std::string out = dir + "/dies.json";
  const std::string url = server->url();
  std::thread killer([&] {
    // Stop once the concurrent phase is under way (it needs ~ 200 x 20 ms / 3).
    while (server->embed_requests() < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    server->Stop();
  });
  Ran r = RunApp("--backend pytorch --pytorch-url " + url +
              " --iterations 4 --warmup 1 --batch-sizes 1 --concurrency 3 --concurrent-requests 200 --image-size 32"
              " --image-pool 4 --probe-images 1 --no-progress --timeout 5 --output " + out);
  killer.join();
  EXPECT_EQ(r.code, 2) << r.out;  // failures recorded
  auto doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok()) << r.out;
  const json& conc = (*doc)["pytorch"]["concurrent"];
  EXPECT_GT(conc["errors"].get<int>(), 0);
  EXPECT_EQ(conc["count"].get<int>() + conc["errors"].get<int>() + conc["not_sent"].get<int>(), 200);
  EXPECT_EQ(conc["total_requests"], 200);
  EXPECT_TRUE(conc["errors_by_kind"].contains("connection"));
  EXPECT_FALSE((*doc)["failures"].empty());
  EXPECT_NE((*doc)["pytorch"]["status"], "ok");
  std::filesystem::remove_all(dir);
}

TEST(App, InterruptStillWritesJson) {
  FakeServer server(FakeOptions{.delay_ms = 5});
  const std::string dir = TempDir();
  const std::string out = dir + "/interrupted.json";
  clipserve::testing::ChildProcess app(
      {kBin, "--backend", "pytorch", "--pytorch-url", server.url(), "--iterations", "2", "--batch-sizes", "1",
       "--concurrency", "2", "--concurrent-requests", "100000", "--image-size", "32", "--image-pool", "4",
       "--probe-images", "1", "--no-progress", "--output", out},
      {.pipe_stdout = false, .keep_stderr = false});
  while (server.embed_requests() < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  app.Signal(SIGINT);
  const int code = app.WaitExit();
  ASSERT_LT(code, 128) << "killed by signal " << code - 128;
  EXPECT_EQ(code, 2);
  auto doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok());
  const json& conc = (*doc)["pytorch"]["concurrent"];
  EXPECT_GT(conc["count"].get<int>(), 0);
  EXPECT_GT(conc["not_sent"].get<int>(), 0);
  EXPECT_NE((*doc)["failures"].dump().find("interrupted"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(App, BadFlagsGiveClearErrors) {
  Ran r = RunApp("--backend tensorflow");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--backend must be pytorch, triton or both"), std::string::npos) << r.out;
  Ran v = RunApp("validate " + std::string(CLIPSERVE_SOURCE_DIR) + "/tests/bench/fixtures/seed-result-triton-rtx3070.json");
  EXPECT_EQ(v.code, 1);
  EXPECT_NE(v.out.find("missing: gpu_specs"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace clipserve::bench
