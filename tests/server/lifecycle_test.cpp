// Readiness, batching, back-pressure, metrics, drain and the HTTP layer's
// last-resort handling, in process over real loopback HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <sstream>

#include "support/gate.h"
#include "server/http_server.h"
#include "server_fixture.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using EngineGate = clipserve::testing::Gate;

using nlohmann::json;
using testing::MakeJpeg;
using testing::ServerFixture;
using testing::WaitUntil;
constexpr int S = testing::kFakeImageSize;

std::string TensorRequest(float value) {
  return json{{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, S, S}},
                           {"data", std::vector<float>(3 * S * S, value)}}}}}.dump();
}


TEST(LifecycleTest, LivenessAtOnceReadinessAndInferenceOnlyAfterLoad) {
  ServerFixture f({}, /*load=*/false);
  auto c = f.Kserve();
  auto res = c->Get("/v2/health/live");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  for (const char* path : {"/v2/health/ready", "/v2/models/openclip_vit_b32/ready"}) {
    res = c->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << path;
  }
  res = c->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.5f), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_TRUE(json::parse(res->body).contains("error"));

  f.Load();
  res = c->Get("/v2/health/ready");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.5f), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(LifecycleTest, WarmUpRunsEveryReadinessBatchSizeBeforeReady) {
  ServerFixture f([](ServerConfig& c) { c.warmup_batch_sizes = {1, 4, 8}; });
  EXPECT_EQ(f.engine()->batch_sizes(), (std::vector<int>{1, 4, 8}));
}

// Ready means warm: with the defaults, every batch shape the batcher can
// form ran before readiness, and none is counted as an inference.
TEST(LifecycleTest, ByDefaultEveryBatchShapeIsWarmBeforeReady) {
  ServerFixture f([](ServerConfig& c) {
    c.warmup_batch_sizes.clear();
    c.max_batch_size = 12;
  });
  EXPECT_EQ(f.engine()->batch_sizes(), (std::vector<int>{1, 2, 4, 8, 12}));
  auto c = f.Kserve();
  auto ready = c->Get("/v2/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto stats = c->Get("/v2/models/openclip_vit_b32/stats");
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->body.find("\"inference_count\":0"), std::string::npos) << stats->body;
}

TEST(LifecycleTest, ConcurrentSingleRequestsAreBatchedTogether) {
  ServerFixture f;
  EngineGate gate;
  gate.Install(f.engine());
  const int kRequests = 9;
  std::vector<std::future<int>> results;
  // The first request occupies the engine; the other eight queue behind it.
  for (int i = 0; i < kRequests; ++i) {
    results.push_back(std::async(std::launch::async, [&f, i] {
      auto c = f.Kserve();
      auto res = c->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.1f * i), "application/json");
      return res ? res->status : -1;
    }));
    if (i == 0) {
      ASSERT_TRUE(WaitUntil([&] { return gate.entered.load() == 1; }));
    }
  }
  ASSERT_TRUE(WaitUntil([&] { return f.server().service().tensor_stats()->Snapshot().pending_request_count == kRequests; }));
  gate.Release();
  for (auto& r : results) EXPECT_EQ(r.get(), 200);

  auto c = f.Kserve();
  auto stats = json::parse(c->Get("/v2/models/openclip_vit_b32/stats")->body)["model_stats"][0];
  EXPECT_EQ(stats["inference_stats"]["success"]["count"], kRequests);
  EXPECT_EQ(stats["inference_count"], kRequests);
  EXPECT_EQ(stats["execution_count"], 2);  // 1 alone, then 8 together
  // Warm-up (1), the first request (1), then the eight merged.
  EXPECT_EQ(f.engine()->batch_sizes(), (std::vector<int>{1, 1, 8}));
}

TEST(LifecycleTest, FullQueueRejectsAtOnce503OnKserve429OnRest) {
  ServerFixture f([](ServerConfig& c) { c.max_queue_size = 1; });
  EngineGate gate;
  gate.Install(f.engine());
  auto busy = std::async(std::launch::async, [&f] {
    return f.Kserve()->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.2f), "application/json")->status;
  });
  ASSERT_TRUE(WaitUntil([&] { return gate.entered.load() == 1; }));
  auto queued = std::async(std::launch::async, [&f] {
    return f.Kserve()->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.3f), "application/json")->status;
  });
  ASSERT_TRUE(WaitUntil([&] { return f.server().service().tensor_stats()->Snapshot().pending_request_count == 2; }));

  auto res = f.Kserve()->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.4f), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(json::parse(res->body)["error"].get<std::string>().find("queue"), std::string::npos) << res->body;

  // REST shares the queue: full for it too, and REST says 429.
  json req = {{"images", {testing::Base64(MakeJpeg(8, 8, 3))}}};
  res = f.Rest()->Post("/embed/base64", req.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429) << res->body;
  EXPECT_NE(json::parse(res->body)["detail"].get<std::string>().find("queue"), std::string::npos) << res->body;

  gate.Release();
  EXPECT_EQ(busy.get(), 200);
  EXPECT_EQ(queued.get(), 200);
}

TEST(LifecycleTest, MetricsUseTritonNamesAndCountRestToo) {
  ServerFixture f;
  ASSERT_EQ(f.Kserve()->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.5f), "application/json")->status, 200);
  json req = {{"images", {testing::Base64(MakeJpeg(8, 8, 3))}}};
  ASSERT_EQ(f.Rest()->Post("/embed/base64", req.dump(), "application/json")->status, 200);
  auto res = f.Metrics()->Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string& text = res->body;
  EXPECT_NE(text.find("nv_inference_request_success{model=\"openclip_vit_b32\",version=\"1\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("nv_inference_queue_duration_us{model=\"openclip_vit_b32\",version=\"1\"}"), std::string::npos);
  EXPECT_NE(text.find("clipserve_http_requests_total{api=\"rest\",route=\"/embed/base64\",code=\"200\"} 1"),
            std::string::npos)
      << text;
}

TEST(LifecycleTest, ShutdownLetsInFlightRequestsFinishThenStopsAccepting) {
  ServerFixture f;
  EngineGate gate;
  gate.Install(f.engine());
  auto in_flight = std::async(std::launch::async, [&f] {
    auto r = f.Kserve()->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.6f), "application/json");
    return r ? r->status : -1;
  });
  ASSERT_TRUE(WaitUntil([&] { return gate.entered.load() == 1; }));
  const int port = f.server().http_port();
  auto shutdown = std::async(std::launch::async, [&f] { return f.server().Shutdown(std::chrono::seconds(10)); });
  // New connections are refused once the listener is closed.
  ASSERT_TRUE(WaitUntil([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(0, 200000);
    return !c.Get("/v2/health/live");
  }));
  // Probes report not-ready while draining; the model itself stays usable
  // for the requests in flight.
  EXPECT_FALSE(f.server().service().serving());
  EXPECT_TRUE(f.server().service().ready());
  gate.Release();
  EXPECT_EQ(in_flight.get(), 200);
  EXPECT_TRUE(shutdown.get().ok());
}

TEST(LifecycleTest, AccessLogWritesOneJsonLinePerRequest) {
  ServerFixture f([](ServerConfig& c) { c.access_log = true; });
  ::testing::internal::CaptureStderr();
  // A line is written after its response; a second request on the same
  // keep-alive connection (same worker) proves the first line is out.
  auto kserve = f.Kserve();
  auto rest = f.Rest();
  kserve->set_keep_alive(true);
  rest->set_keep_alive(true);
  ASSERT_EQ(kserve->Post("/v2/models/openclip_vit_b32/infer", TensorRequest(0.5f), "application/json")->status, 200);
  ASSERT_EQ(kserve->Get("/v2/health/live")->status, 200);
  ASSERT_EQ(rest->Get("/nope")->status, 404);
  ASSERT_EQ(rest->Get("/healthz")->status, 200);
  const std::string log = ::testing::internal::GetCapturedStderr();
  std::vector<json> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("duration_us") && j["path"] != "/v2/health/live" && j["path"] != "/healthz") {
      lines.push_back(j);
    }
  }
  ASSERT_EQ(lines.size(), 2u) << log;
  EXPECT_EQ(lines[0]["api"], "kserve");
  EXPECT_EQ(lines[0]["method"], "POST");
  EXPECT_EQ(lines[0]["path"], "/v2/models/openclip_vit_b32/infer");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["batch_size"], 1);
  EXPECT_GT(lines[0]["bytes"].get<int>(), 0);
  EXPECT_GE(lines[0]["duration_us"].get<long long>(), 0);
  EXPECT_GE(lines[0]["handle_us"].get<long long>(), 0);
  EXPECT_LE(lines[0]["handle_us"].get<long long>(), lines[0]["duration_us"].get<long long>());
  EXPECT_EQ(lines[1]["api"], "rest");
  EXPECT_EQ(lines[1]["status"], 404);
  EXPECT_EQ(lines[1]["batch_size"], 0);
}

TEST(HttpServerTest, EscapedExceptionBecomesJson500AndServerContinues) {
  HttpServerOptions o;
  o.port = 0;
  o.worker_threads = 2;
  o.access_log = false;
  std::vector<Route> routes = {
      {"GET", "/boom", [](const HttpRequest&, HttpResponse&) { throw std::runtime_error("kaboom"); }},
      {"GET", "/ok", [](const HttpRequest&, HttpResponse& res) { res.body = "{}"; }},
  };
  HttpServer server(o, routes);
  auto port = server.Bind();
  ASSERT_TRUE(port.ok());
  server.Start();
  httplib::Client c("127.0.0.1", *port);
  auto res = c.Get("/boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  // The client learns an id, never the exception text (the log has it).
  const std::string message = json::parse(res->body)["error"];
  EXPECT_EQ(message.rfind("internal error (id ", 0), 0u) << message;
  EXPECT_EQ(message.find("kaboom"), std::string::npos) << message;
  res = c.Get("/ok");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  server.Stop();
}

}  // namespace
}  // namespace clipserve::server
