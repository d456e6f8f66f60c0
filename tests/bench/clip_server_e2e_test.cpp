// End-to-end: the real benchmark_backends binary against the real
// clip-server binary (tiny random-weight model, ephemeral loopback ports),
// both personalities, one at a time like the checklist.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "bench/json_reporter.h"
#include "bench/protocol.h"
#include "bench/transport.h"
#include "support/child_process.h"

namespace clipserve::bench {
namespace {

using nlohmann::json;

const std::string kServer = std::string(CLIPSERVE_BINARY_DIR) + "/apps/clip-server/clip-server";
const std::string kBench = std::string(CLIPSERVE_BINARY_DIR) + "/apps/benchmark_backends/benchmark_backends";
const std::string kTiny = " --model test-tiny --weights random:1 --access-log off";

// clip-server on ephemeral ports; reads its "listening" and "ready" lines.
class ClipServer {
 public:
  explicit ClipServer(const std::string& api, std::vector<std::string> extra = {})
      : child_(Args(api, std::move(extra)), {.pipe_stdout = true, .keep_stderr = false}) {
    try {
      child_.WaitForLine("clip-server: ready in", std::chrono::seconds(120));
      ready = true;
    } catch (const std::exception&) {
      // ready stays false: the test asserts on it.
    }
    std::string text;
    for (const auto& line : child_.lines()) text += line + "\n";
    std::smatch m;
    if (std::regex_search(text, m, std::regex(R"(rest=([0-9.]+:\d+))"))) rest = "http://" + m[1].str();
    if (std::regex_search(text, m, std::regex(R"(http=([0-9.]+:\d+))"))) http = "http://" + m[1].str();
    if (std::regex_search(text, m, std::regex(R"(metrics=([0-9.]+:\d+))"))) metrics = "http://" + m[1].str() + "/metrics";
    if (std::regex_search(text, m, std::regex(R"(grpc=([0-9.]+:\d+))"))) grpc = m[1].str();
  }
  ~ClipServer() { Kill(SIGTERM); }
  void Kill(int sig) {
    child_.Signal(sig);  // a no-op once reaped
    child_.WaitExit();
  }
  bool ready = false;
  std::string rest, http, metrics, grpc;

 private:
  static std::vector<std::string> Args(const std::string& api, std::vector<std::string> extra) {
    std::vector<std::string> args = {kServer, "--api", api, "--rest-port", "0", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
                                     "--model", "test-tiny", "--weights", "random:1", "--access-log", "off"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  clipserve::testing::ChildProcess child_;
};

struct Ran {
  int code = -1;
  std::string out;
};

Ran Bench(const std::string& args) {
  Ran r;
  FILE* p = popen((kBench + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class ClipServerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("bench_e2e_" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

const char* kSmall = " --iterations 6 --warmup 2 --batch-sizes 1,4,8 --concurrency 4 --concurrent-requests 40"
                     " --image-size 32 --image-pool 8 --probe-images 3 --no-progress --timeout 30";

TEST_F(ClipServerE2E, BothPersonalitiesValidateCompareReportAndAgree) {
  const std::string triton_json = dir_ + "/triton.json", pytorch_json = dir_ + "/pytorch.json";
  {
    ClipServer kserve("kserve");
    ASSERT_TRUE(kserve.ready);
    Ran r = Bench("--backend triton --triton-url " + kserve.http + " --triton-metrics-url " + kserve.metrics + kSmall +
                  " --request-rate 100 --duration 0.5 --output " + triton_json);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  {
    ClipServer rest("rest");
    ASSERT_TRUE(rest.ready);
    Ran r = Bench("--backend pytorch --pytorch-url " + rest.rest + kSmall + " --parity-reference " + triton_json +
                  " --output " + pytorch_json);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  auto t = ReadJsonFile(triton_json);
  auto p = ReadJsonFile(pytorch_json);
  ASSERT_TRUE(t.ok() && p.ok());
  const json& tc = (*t)["triton"]["concurrent"];
  EXPECT_EQ(tc["count"], 40);
  EXPECT_EQ(tc["errors"], 0);
  EXPECT_EQ(tc["server"]["requests"], 40);  // per-phase delta, not the cumulative counter
  EXPECT_GE(tc["server"]["avg_batch_size"].get<double>(), 1.0);
  EXPECT_EQ((*t)["triton"]["batch_8"]["server"]["avg_batch_size"], 8);
  EXPECT_TRUE((*t)["triton"]["server_metrics"]["inference_request_success"].is_number());
  EXPECT_EQ((*t)["triton"]["server_info"]["/v2"]["name"].is_string(), true);
  EXPECT_EQ((*t)["triton"]["open_loop"]["scheduled"].get<int>(),
            (*t)["triton"]["open_loop"]["count"].get<int>() + (*t)["triton"]["open_loop"]["errors"].get<int>());
  // The runner's tensor path preprocesses exactly like the server's REST path.
  EXPECT_EQ((*p)["parity"]["status"], "ok") << (*p)["parity"].dump();
  EXPECT_GT((*p)["parity"]["comparisons"][0]["min_cosine"].get<double>(), 0.9999);

  Ran v = Bench("validate " + triton_json + " " + pytorch_json);
  EXPECT_EQ(v.code, 0) << v.out;
  Ran c = Bench("compare " + triton_json + " " + pytorch_json);
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("concurrent.throughput_rps"), std::string::npos);
  EXPECT_EQ(c.out.find("!!! WARNING"), std::string::npos) << c.out;  // no fairness warning: same settings, same machine (the runner-CPU note may warn on a loaded machine)
  const std::string html = dir_ + "/report.html";
  Ran h = Bench("report " + triton_json + " " + pytorch_json + " --html " + html);
  ASSERT_EQ(h.code, 0) << h.out;
  std::ifstream in(html);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_EQ(text.find("<script"), std::string::npos);
}

TEST_F(ClipServerE2E, ImageBytesAndJsonTensorModes) {
  ClipServer kserve("kserve");
  ASSERT_TRUE(kserve.ready);
  for (const char* mode : {"image-bytes", "tensor-json"}) {
    const std::string out = dir_ + "/" + mode + ".json";
    Ran r = Bench(std::string("--backend triton --triton-input ") + mode + " --triton-url " + kserve.http +
                  " --triton-metrics-url " + kserve.metrics + kSmall + " --output " + out);
    EXPECT_EQ(r.code, 0) << mode << "\n" << r.out;
  }
}

// The same server over KServe v2 HTTP and gRPC (issue 11): the gRPC run has
// every phase, the server's per-phase statistics and the same embeddings;
// compare says the two are not the same setting.
TEST_F(ClipServerE2E, GrpcRunMatchesHttpRunAndCompareSaysTheyDiffer) {
  ClipServer kserve("kserve", {"--api-key", "k3y"});
  ASSERT_TRUE(kserve.ready);
  ASSERT_FALSE(kserve.grpc.empty());
  const std::string http_json = dir_ + "/http.json", grpc_json = dir_ + "/grpc.json";
  const std::string common = "--backend triton --api-key k3y --triton-metrics-url " + kserve.metrics + kSmall;
  Ran h = Bench(common + " --triton-url " + kserve.http + " --output " + http_json);
  ASSERT_EQ(h.code, 0) << h.out;
  Ran g = Bench(common + " --triton-protocol grpc --triton-grpc-url " + kserve.grpc + " --request-rate 100 --duration 0.5" +
                " --parity-reference " + http_json + " --output " + grpc_json);
  ASSERT_EQ(g.code, 0) << g.out;
  auto doc = ReadJsonFile(grpc_json);
  ASSERT_TRUE(doc.ok());
  const json& t = (*doc)["triton"];
  EXPECT_EQ(t["transport"], "grpc");
  EXPECT_EQ(t["protocol"], "kserve-v2-grpc/raw-tensor");
  EXPECT_EQ((*doc)["config"]["triton_protocol"], "grpc");
  EXPECT_EQ(t["single"]["count"], 6);
  EXPECT_EQ(t["batch_8"]["server"]["avg_batch_size"], 8);
  EXPECT_EQ(t["concurrent"]["count"], 40);
  EXPECT_EQ(t["concurrent"]["server"]["requests"], 40);
  EXPECT_EQ(t["open_loop"]["errors"], 0);
  EXPECT_GT(t["open_loop"]["count"].get<int>(), 0);
  EXPECT_TRUE(t["server_info"]["/inference.GRPCInferenceService/ServerMetadata"]["name"].is_string());
  EXPECT_EQ(t["server_compute"]["precision"], "fp32");
  EXPECT_EQ((*doc)["parity"]["status"], "ok") << (*doc)["parity"].dump();
  EXPECT_GT((*doc)["parity"]["comparisons"][0]["min_cosine"].get<double>(), 0.99999);
  Ran c = Bench("compare " + http_json + " " + grpc_json);
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("Transports differ"), std::string::npos) << c.out;

  // Without the key, every gRPC inference is UNAUTHENTICATED, counted by its code.
  const std::string denied = dir_ + "/denied.json";
  Bench("--backend triton --triton-protocol grpc --triton-grpc-url " + kserve.grpc + " --triton-metrics-url ''" + kSmall +
        " --output " + denied);
  auto d = ReadJsonFile(denied);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["triton"]["concurrent"]["errors_by_kind"]["grpc_UNAUTHENTICATED"], 40) << (*d)["triton"]["concurrent"].dump();
}

// The gRPC transport's lifetimes: many short-lived blocking channels (the
// runner makes one per control call) and asynchronous clients destroyed
// right after their last completion. A call or channel released on one of
// gRPC's own threads once aborted the runner one run in ten.
TEST_F(ClipServerE2E, GrpcChannelsSurviveManyShortLives) {
  ClipServer kserve("kserve");
  ASSERT_TRUE(kserve.ready);
  auto target = ParseTarget(Transport::kGrpc, kserve.grpc);
  ASSERT_TRUE(target.ok());
  auto protocol = MakeKserveGrpcProtocol(TritonInput::kTensor, "openclip_vit_b32");
  const PreparedRequest live = protocol->HealthRequest(Protocol::Health::kLive);
  const auto stats = protocol->StatsRequest();
  ASSERT_TRUE(stats.has_value());
  for (int i = 0; i < 300; ++i) {
    auto r = MakeChannel(*target, std::chrono::milliseconds(5000))->Send(i % 2 ? live : *stats);
    ASSERT_EQ(r.failure, FailureKind::kNone) << i << ": " << r.detail;
  }
  for (int round = 0; round < 20; ++round) {
    auto client = MakeAsyncChannels(*target, 1, std::chrono::milliseconds(5000));
    ASSERT_EQ(client->Open(4, live), 4);
    const std::size_t h = client->Prepare(live);
    DoneLatch latch;
    std::atomic<int> left{16}, ok{0};
    for (int k = 0; k < 16; ++k) {
      client->Send(k % 4, h, [&](SendResult&& r) {
        if (r.failure == FailureKind::kNone) ok.fetch_add(1);
        if (left.fetch_sub(1) == 1) latch.Signal();
      });
    }
    latch.Wait();
    EXPECT_EQ(ok.load(), 16);
  }  // each client destroyed right after its last completion
}

// --protocols http,grpc: four runs (two protocols x tensor / image bytes)
// against one server, a results file each and the side-by-side summary.
TEST_F(ClipServerE2E, ProtocolComparisonRunsEveryProtocolAndInput) {
  ClipServer kserve("kserve");
  ASSERT_TRUE(kserve.ready);
  const std::string out = dir_ + "/protocols.json";
  Ran r = Bench("--protocols http,grpc --triton-url " + kserve.http + " --triton-grpc-url " + kserve.grpc +
                " --triton-metrics-url " + kserve.metrics + kSmall + " --output " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Protocol comparison"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tensor, grpc / http"), std::string::npos) << r.out;
  auto doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok());
  const json& rows = (*doc)["protocol_comparison"];
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["failures"], 0) << row.dump();
    EXPECT_GT(row["single_p50_ms"].get<double>(), 0) << row.dump();
    EXPECT_GT(row["batch_mean_ms"].get<double>(), 0) << row.dump();
    EXPECT_GT(row["concurrent_rps"].get<double>(), 0) << row.dump();
    auto each = ReadJsonFile(row["results_file"].get<std::string>());
    ASSERT_TRUE(each.ok()) << row.dump();
    EXPECT_EQ((*each)["triton"]["transport"], row["protocol"]);
    EXPECT_EQ((*each)["config"]["triton_input"], row["input"]);
  }
  EXPECT_EQ(rows[1]["protocol"], "grpc");
  EXPECT_EQ(rows[2]["input"], "image-bytes");
  EXPECT_EQ(rows[3]["wire"], "kserve-v2-grpc/image-bytes");
}

// Against clip-server --api-key --protect-metrics: with --api-key the run is
// clean and scrapes the metrics; without it every inference is a 401, counted
// as such.
TEST_F(ClipServerE2E, ApiKeyIsSentToInferenceAndMetrics) {
  ClipServer kserve("kserve", {"--api-key", "k3y", "--protect-metrics"});
  ASSERT_TRUE(kserve.ready);
  const std::string with = dir_ + "/with.json", without = dir_ + "/without.json";
  const std::string common = "--backend triton --triton-url " + kserve.http + " --triton-metrics-url " + kserve.metrics + kSmall;
  Ran r = Bench(common + " --api-key k3y --output " + with);
  ASSERT_EQ(r.code, 0) << r.out;
  auto t = ReadJsonFile(with);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)["triton"]["concurrent"]["errors"], 0);
  EXPECT_TRUE((*t)["triton"]["server_metrics"]["inference_request_success"].is_number()) << (*t)["triton"]["server_metrics"].dump();
  EXPECT_EQ(t->dump().find("k3y"), std::string::npos);  // the key is not in the results
  Bench(common + " --output " + without);
  auto u = ReadJsonFile(without);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)["triton"]["concurrent"]["count"], 0) << (*u)["triton"]["concurrent"].dump();
  EXPECT_EQ((*u)["triton"]["concurrent"]["errors"], 40) << (*u)["triton"]["concurrent"].dump();
}

TEST_F(ClipServerE2E, ServerKilledMidwayStillWritesJson) {
  ClipServer rest("rest");
  ASSERT_TRUE(rest.ready);
  const std::string out = dir_ + "/killed.json";
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    rest.Kill(SIGKILL);
  });
  Ran r = Bench("--backend pytorch --pytorch-url " + rest.rest +
                " --iterations 20 --batch-sizes 1,4 --concurrency 2 --concurrent-requests 1000000 --image-size 32"
                " --image-pool 4 --probe-images 1 --no-progress --timeout 5 --output " + out);
  killer.join();
  EXPECT_EQ(r.code, 2) << r.out;
  auto doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok()) << r.out;
  EXPECT_FALSE((*doc)["failures"].empty());
  EXPECT_NE((*doc)["pytorch"]["status"], "ok");
  std::int64_t connection_errors = 0;
  for (const auto& [k, phase] : (*doc)["pytorch"].items()) {
    if (phase.is_object() && phase.contains("errors_by_kind")) connection_errors += phase["errors_by_kind"].value("connection", 0);
  }
  EXPECT_GT(connection_errors, 0);
}

int FreePort() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

TEST_F(ClipServerE2E, ServerCmdMeasuresRealColdStartAndStopsTheServer) {
  const int port = FreePort();
  const std::string out = dir_ + "/cold.json";
  const std::string cmd = kServer + " --api rest --rest-port " + std::to_string(port) + " --metrics-port -1" + kTiny;
  Ran r = Bench("--backend pytorch --pytorch-url http://127.0.0.1:" + std::to_string(port) +
                " --server-cmd '" + cmd + "' --iterations 3 --batch-sizes 2 --concurrency 2 --concurrent-requests 6"
                " --image-size 32 --image-pool 4 --probe-images 1 --no-progress --output " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  auto doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok());
  const json& cs = (*doc)["pytorch"]["cold_start"];
  EXPECT_EQ(cs["warm_server"], false);
  EXPECT_GT(cs["exec_to_live_ms"].get<double>(), 0);
  EXPECT_GE(cs["exec_to_ready_ms"].get<double>(), cs["exec_to_live_ms"].get<double>());
  EXPECT_GT(cs["first_request_ms"].get<double>(), 0);
  EXPECT_EQ((*doc)["pytorch"]["server_exit"], "stopped by the runner");
  // The server is gone: its port refuses connections.
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  close(s);
}

}  // namespace
}  // namespace clipserve::bench
