// End-to-end: the real clip-server binary (real LibTorch forward, tiny
// random-weight ViT) on ephemeral loopback ports.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <limits>
#include <regex>

#include "common/cpu_features.h"
#include "image/image.h"
#include "raw_http.h"
#include "server_process.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using nlohmann::json;
using testing::AsString;
using testing::Base64;
using testing::FloatBytes;
using testing::LengthPrefixed;
using testing::MakeJpeg;
using testing::ServerProcess;

constexpr int kTinySize = 32;  // test-tiny: image 32, embed 32
constexpr int kTinyDim = 32;

// fp32 explicitly: embeddings are compared with an fp32 engine in process
// (auto picks bf16 on a CPU with native bf16; AutoPrecision... tests auto).
std::vector<std::string> TinyArgs(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--model", "test-tiny", "--weights", "random:1", "--threads", "1",
                                   "--threads-http", "32", "--background-warmup", "off", "--precision", "fp32"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::unique_ptr<ServerProcess> StartReady(std::vector<std::string> args) {
  auto p = std::make_unique<ServerProcess>(std::move(args));
  p->WaitListening();
  p->WaitForStatus(p->http_port, "/v2/health/live", 200);
  p->WaitForStatus(p->http_port, "/v2/health/ready", 200);
  return p;
}

std::vector<float> Floats(std::string_view bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

std::vector<float> UnitPixels(const std::string& encoded, int size) {
  image::PreprocessOptions po;
  po.image_size = size;
  auto img = image::DecodeAndPrepare(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(encoded.data()), encoded.size()), po);
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  std::vector<float> px(3ull * size * size);
  if (img.ok()) image::ToUnitChw(*img, px);
  return px;
}

void ExpectClose(const std::vector<float>& a, const std::vector<float>& b, float tol = 1e-5f) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << i;
}

double MetricValue(const std::string& text, const std::string& series) {
  const auto pos = text.find(series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + series.size() + 1));
}

TEST(ServerE2ETest, EveryEndpointAndEncodingAgreesAcrossRestAndBothV2Models) {
  auto p = StartReady(TinyArgs());
  httplib::Client rest("127.0.0.1", p->rest_port), v2("127.0.0.1", p->http_port), met("127.0.0.1", p->metrics_port);

  for (const char* path : {"/health", "/healthz"}) EXPECT_EQ(rest.Get(path)->status, 200) << path;
  auto info = json::parse(rest.Get("/model-info")->body);
  EXPECT_EQ(info["embedding_dim"], kTinyDim);
  EXPECT_EQ(info["pretrained"], "random:1");
  auto gpu = rest.Get("/gpu-info");
  ASSERT_EQ(gpu->status, 200);
  EXPECT_TRUE(json::parse(gpu->body).contains("cuda_available"));
  EXPECT_EQ(json::parse(v2.Get("/v2")->body)["name"], "triton");
  auto meta = json::parse(v2.Get("/v2/models/openclip_vit_b32")->body);
  EXPECT_EQ(meta["inputs"][0]["shape"], json::array({-1, 3, kTinySize, kTinySize}));
  EXPECT_EQ(meta["outputs"][0]["shape"], json::array({-1, kTinyDim}));
  EXPECT_EQ(v2.Get("/v2/models/openclip_vit_b32_image/config")->status, 200);
  EXPECT_EQ(v2.Get("/v2/models/openclip_vit_b32/versions/1/ready")->status, 200);

  const std::string jpeg = MakeJpeg(64, 48, 21);
  const std::string png = AsString(testing::kPng5x3);

  // REST base64 (plain + data URI) and multipart.
  auto r1 = rest.Post("/embed/base64", json{{"images", {Base64(jpeg), "data:image/png;base64," + Base64(png)}}}.dump(),
                      "application/json");
  ASSERT_EQ(r1->status, 200) << r1->body;
  auto j1 = json::parse(r1->body);
  ASSERT_EQ(j1["count"], 2);
  std::vector<float> rest_jpeg = j1["embeddings"][0].get<std::vector<float>>();
  std::vector<float> rest_png = j1["embeddings"][1].get<std::vector<float>>();
  double norm = 0;
  for (float v : rest_jpeg) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  httplib::MultipartFormDataItems items = {{"files", jpeg, "a.jpg", "image/jpeg"}};
  auto r2 = rest.Post("/embed/batch", items);
  ASSERT_EQ(r2->status, 200) << r2->body;
  ExpectClose(json::parse(r2->body)["embeddings"][0].get<std::vector<float>>(), rest_jpeg);

  // v2 image model, binary BYTES in, binary out.
  const std::string tail = LengthPrefixed({jpeg, png});
  json h = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {2}},
                         {"parameters", {{"binary_data_size", tail.size()}}}}}},
            {"outputs", {{{"name", "embedding"}, {"parameters", {{"binary_data", true}}}}}}};
  const std::string hs = h.dump();
  auto r3 = v2.Post("/v2/models/openclip_vit_b32_image/infer", {{"Inference-Header-Content-Length", std::to_string(hs.size())}},
                    hs + tail, "application/octet-stream");
  ASSERT_EQ(r3->status, 200) << r3->body;
  const size_t n3 = std::stoul(r3->get_header_value("Inference-Header-Content-Length"));
  auto image_model = Floats(std::string_view(r3->body).substr(n3));
  ASSERT_EQ(image_model.size(), 2u * kTinyDim);
  ExpectClose(std::vector<float>(image_model.begin(), image_model.begin() + kTinyDim), rest_jpeg);
  ExpectClose(std::vector<float>(image_model.begin() + kTinyDim, image_model.end()), rest_png);

  // v2 tensor model: un-normalized [0,1] pixels, JSON and binary.
  const auto pixels = UnitPixels(jpeg, kTinySize);
  json tj = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, kTinySize, kTinySize}}, {"data", pixels}}}}};
  auto r4 = v2.Post("/v2/models/openclip_vit_b32/infer", tj.dump(), "application/json");
  ASSERT_EQ(r4->status, 200) << r4->body;
  ExpectClose(json::parse(r4->body)["outputs"][0]["data"].get<std::vector<float>>(), rest_jpeg);
  json tb = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, kTinySize, kTinySize}},
                          {"parameters", {{"binary_data_size", pixels.size() * 4}}}}}},
             {"parameters", {{"binary_data_output", true}}}};
  const std::string tbs = tb.dump();
  auto r5 = v2.Post("/v2/models/openclip_vit_b32/infer", {{"Inference-Header-Content-Length", std::to_string(tbs.size())}},
                    tbs + FloatBytes(pixels), "application/octet-stream");
  ASSERT_EQ(r5->status, 200) << r5->body;
  const size_t n5 = std::stoul(r5->get_header_value("Inference-Header-Content-Length"));
  ExpectClose(Floats(std::string_view(r5->body).substr(n5)), rest_jpeg);
  EXPECT_NE(r5->get_header_value("Server-Timing").find("compute;dur="), std::string::npos);

  auto stats = json::parse(v2.Get("/v2/models/stats")->body);
  EXPECT_EQ(stats["model_stats"].size(), 2u);
  auto metrics = met.Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_GE(MetricValue(metrics->body, "nv_inference_request_success{model=\"openclip_vit_b32_image\",version=\"1\"}"), 1);

  // The access log: one JSON line per request on stderr.
  const std::string log = p->Stderr();
  EXPECT_TRUE(std::regex_search(log, std::regex(R"(\{"ts_ms":\d+,"api":"kserve","method":"POST","path":"/v2/models/openclip_vit_b32_image/infer","status":200,"bytes":\d+,"duration_us":\d+,"handle_us":\d+,"batch_size":2\})")))
      << log.substr(0, 2000);
}

// A binary FP32 batch over 16 KiB is read into a buffer of its own and, with
// its tensor data aligned there, used in place. Whatever the JSON header's
// length (so wherever the tensor starts in the body), the answer is the
// JSON-input answer, row by row; a NaN deep in it is still a 400 naming it.
TEST(ServerE2ETest, LargeBinaryTensorBatchesGiveTheSameEmbeddingsWhereverTheTensorStarts) {
  auto p = StartReady(TinyArgs());
  httplib::Client v2("127.0.0.1", p->http_port);
  constexpr int kImages = 4;  // 4 x 12 KiB of floats
  std::vector<float> pixels;
  for (int i = 0; i < kImages; ++i) {
    const auto one = UnitPixels(MakeJpeg(40 + i, 30, i), kTinySize);
    pixels.insert(pixels.end(), one.begin(), one.end());
  }
  json tj = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {kImages, 3, kTinySize, kTinySize}}, {"data", pixels}}}}};
  auto rj = v2.Post("/v2/models/openclip_vit_b32/infer", tj.dump(), "application/json");
  ASSERT_EQ(rj->status, 200) << rj->body;
  const auto want = json::parse(rj->body)["outputs"][0]["data"].get<std::vector<float>>();
  ASSERT_EQ(want.size(), static_cast<std::size_t>(kImages * kTinyDim));

  auto binary_request = [&](int pad, const std::vector<float>& px) {
    json tb = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {kImages, 3, kTinySize, kTinySize}},
                            {"parameters", {{"binary_data_size", px.size() * 4}}}}}},
               {"parameters", {{"binary_data_output", true}}}};
    const std::string header = tb.dump() + std::string(static_cast<std::size_t>(pad), ' ');
    return v2.Post("/v2/models/openclip_vit_b32/infer", {{"Inference-Header-Content-Length", std::to_string(header.size())}},
                   header + FloatBytes(px), "application/octet-stream");
  };
  for (int pad = 0; pad < 5; ++pad) {
    auto r = binary_request(pad, pixels);
    ASSERT_EQ(r->status, 200) << r->body;
    const size_t n = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
    ExpectClose(Floats(std::string_view(r->body).substr(n)), want);
  }
  auto bad = pixels;
  bad[3 * kTinySize * kTinySize * 3 + 17] = std::numeric_limits<float>::infinity();
  auto r = binary_request(1, bad);
  ASSERT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("image 3"), std::string::npos) << r->body;
  auto again = binary_request(2, pixels);
  ASSERT_EQ(again->status, 200) << again->body;
}

// --api-key: inference and model management need the key (either header
// form), health, metadata and /metrics stay open; with --protect-metrics
// /metrics needs it too. A refusal is a 401 in the API's error format.
TEST(ServerE2ETest, ApiKeyGuardsInferenceAndModelManagementOnly) {
  const std::string key = "s3cret-key-for-tests";
  const std::string key_file = ::testing::TempDir() + "/clipserve_api_key_" + std::to_string(::getpid());
  std::ofstream(key_file) << key << "\n";
  for (bool protect : {false, true}) {
    std::vector<std::string> extra = {"--api-key-file", key_file};
    if (protect) extra.push_back("--protect-metrics");
    auto p = StartReady(TinyArgs(extra));
    httplib::Client rest("127.0.0.1", p->rest_port), v2("127.0.0.1", p->http_port), met("127.0.0.1", p->metrics_port);
    const std::string jpeg = MakeJpeg(20, 16, 5);
    const std::string embed = json{{"images", {Base64(jpeg)}}}.dump();
    json tj = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, kTinySize, kTinySize}},
                            {"data", std::vector<float>(3 * kTinySize * kTinySize, 0.5f)}}}}};
    const std::string infer = tj.dump();
    const httplib::Headers none, wrong = {{"Authorization", "Bearer " + key + "x"}},
                                 bearer = {{"Authorization", "Bearer " + key}}, header = {{"X-API-Key", key}},
                                 short_key = {{"X-API-Key", key.substr(0, 4)}};
    for (const auto* h : {&none, &wrong, &short_key}) {
      auto r = v2.Post("/v2/models/openclip_vit_b32/infer", *h, infer, "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401);
      EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
      EXPECT_TRUE(json::parse(r->body).contains("error")) << r->body;
      auto e = rest.Post("/embed/base64", *h, embed, "application/json");
      ASSERT_TRUE(e);
      EXPECT_EQ(e->status, 401);
      EXPECT_TRUE(json::parse(e->body).contains("detail")) << e->body;
      EXPECT_EQ(v2.Post("/v2/repository/index", *h, "{}", "application/json")->status, 401);
    }
    for (const auto* h : {&bearer, &header}) {
      EXPECT_EQ(v2.Post("/v2/models/openclip_vit_b32/infer", *h, infer, "application/json")->status, 200);
      EXPECT_EQ(rest.Post("/embed/base64", *h, embed, "application/json")->status, 200);
      EXPECT_EQ(v2.Post("/v2/repository/index", *h, "{}", "application/json")->status, 200);
    }
    // Open without the key.
    EXPECT_EQ(v2.Get("/v2/health/ready")->status, 200);
    EXPECT_EQ(v2.Get("/v2/models/openclip_vit_b32")->status, 200);
    EXPECT_EQ(rest.Get("/health")->status, 200);
    EXPECT_EQ(rest.Get("/model-info")->status, 200);
    EXPECT_EQ(met.Get("/metrics")->status, protect ? 401 : 200);
    EXPECT_EQ(met.Get("/metrics", bearer)->status, 200);
    // The key is in no answer and no log line.
    EXPECT_EQ(p->Stderr().find(key), std::string::npos);
  }
  std::remove(key_file.c_str());
}

TEST(ServerE2ETest, BadInputOfEveryKindIsAnErrorAndTheServerKeepsServing) {
  auto p = StartReady(TinyArgs({"--max-images-per-request", "4", "--max-body-bytes", "100000"}));
  httplib::Client rest("127.0.0.1", p->rest_port), v2("127.0.0.1", p->http_port);
  const std::string good = Base64(MakeJpeg(20, 20, 3));
  EXPECT_EQ(rest.Post("/embed/base64", json{{"images", {good, "@@"}}}.dump(), "application/json")->status, 400);
  EXPECT_EQ(rest.Post("/embed/base64", json{{"images", {Base64("garbage")}}}.dump(), "application/json")->status, 400);
  EXPECT_EQ(rest.Post("/embed/base64", "{", "application/json")->status, 422);
  EXPECT_EQ(rest.Post("/embed/base64", R"({"x":1})", "application/json")->status, 422);
  EXPECT_EQ(rest.Post("/embed/base64", json{{"images", {good, good, good, good, good}}}.dump(), "application/json")->status, 413);
  EXPECT_EQ(rest.Post("/embed/base64", std::string(200000, ' '), "application/json")->status, 413);
  EXPECT_EQ(v2.Post("/v2/models/nope/infer", "{}", "application/json")->status, 400);
  EXPECT_EQ(v2.Post("/v2/models/openclip_vit_b32/infer", "[", "application/json")->status, 400);
  EXPECT_EQ(v2.Post("/v2/models/openclip_vit_b32/infer", {{"Inference-Header-Content-Length", "7777"}}, "{}",
                    "application/octet-stream")->status, 400);
  json wrong_shape = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, 2, 2}}, {"data", std::vector<float>(12)}}}}};
  auto bad = v2.Post("/v2/models/openclip_vit_b32/infer", wrong_shape.dump(), "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(json::parse(bad->body)["error"].get<std::string>().find("unexpected shape"), std::string::npos);
  json wrong_type = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {1.0}}}}}};
  EXPECT_EQ(v2.Post("/v2/models/openclip_vit_b32_image/infer", wrong_type.dump(), "application/json")->status, 400);

  EXPECT_TRUE(p->Alive());
  EXPECT_EQ(rest.Post("/embed/base64", json{{"images", {good}}}.dump(), "application/json")->status, 200);
  EXPECT_EQ(v2.Get("/v2/health/ready")->status, 200);
}

TEST(ServerE2ETest, ConcurrentSingleRequestsAreMergedIntoFewerExecutions) {
  // A generous queue delay makes the merge certain without timing races.
  auto p = StartReady(TinyArgs({"--max-queue-delay-us", "300000"}));
  const std::string jpeg = MakeJpeg(40, 40, 5);
  const std::string tail = LengthPrefixed({jpeg});
  json h = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {1}},
                         {"parameters", {{"binary_data_size", tail.size()}}}}}}};
  const std::string hs = h.dump();
  const int kRequests = 16;
  std::vector<std::future<int>> results;
  for (int i = 0; i < kRequests; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      httplib::Client c("127.0.0.1", p->http_port);
      auto r = c.Post("/v2/models/openclip_vit_b32_image/infer", {{"Inference-Header-Content-Length", std::to_string(hs.size())}},
                      hs + tail, "application/octet-stream");
      return r ? r->status : -1;
    }));
  }
  for (auto& r : results) EXPECT_EQ(r.get(), 200);
  httplib::Client v2("127.0.0.1", p->http_port);
  auto s = json::parse(v2.Get("/v2/models/openclip_vit_b32_image/stats")->body)["model_stats"][0];
  EXPECT_EQ(s["inference_stats"]["success"]["count"], kRequests);
  EXPECT_EQ(s["inference_count"], kRequests);
  EXPECT_LT(s["execution_count"].get<int>(), kRequests);
}

TEST(ServerE2ETest, ReadinessFollowsTheModelLoad) {
  // A full-size random ViT-B/32 takes far longer to build than one
  // loopback round trip, so the first probes land before readiness.
  auto p = std::make_unique<ServerProcess>(std::vector<std::string>{
      "--model", "ViT-B-32", "--weights", "random:1", "--threads", "2", "--warmup-batch-sizes", "1"});
  p->WaitListening();
  httplib::Client v2("127.0.0.1", p->http_port), rest("127.0.0.1", p->rest_port);
  EXPECT_EQ(v2.Get("/v2/health/live")->status, 200);
  EXPECT_EQ(rest.Get("/healthz")->status, 200);
  EXPECT_EQ(v2.Get("/v2/health/ready")->status, 503);
  EXPECT_EQ(rest.Get("/health")->status, 503);
  EXPECT_EQ(rest.Post("/embed/base64", json{{"images", {Base64(MakeJpeg(8, 8, 1))}}}.dump(), "application/json")->status, 503);
  p->WaitForLine("clip-server: ready in");
  EXPECT_EQ(v2.Get("/v2/health/ready")->status, 200);
  EXPECT_EQ(rest.Get("/health")->status, 200);
  auto r = rest.Post("/embed/base64", json{{"images", {Base64(MakeJpeg(64, 64, 1))}}}.dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["embeddings"][0].size(), 512u);
}

TEST(ServerE2ETest, SigtermDrainsRequestsInFlightAndExitsZero) {
  // A 5 s batching delay keeps the requests queued when SIGTERM arrives;
  // the drain must run them (without the delay) and answer all of them.
  auto p = StartReady(TinyArgs({"--max-queue-delay-us", "5000000", "--drain-timeout-s", "20"}));
  const std::string tail = LengthPrefixed({MakeJpeg(30, 30, 9)});
  json h = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {1}},
                         {"parameters", {{"binary_data_size", tail.size()}}}}}}};
  const std::string hs = h.dump();
  const int kRequests = 4;
  std::vector<std::future<int>> results;
  for (int i = 0; i < kRequests; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      httplib::Client c("127.0.0.1", p->http_port);
      c.set_read_timeout(30, 0);
      auto r = c.Post("/v2/models/openclip_vit_b32_image/infer", {{"Inference-Header-Content-Length", std::to_string(hs.size())}},
                      hs + tail, "application/octet-stream");
      return r ? r->status : -1;
    }));
  }
  httplib::Client met("127.0.0.1", p->metrics_port);
  const std::string pending = "nv_inference_pending_request_count{model=\"openclip_vit_b32_image\",version=\"1\"}";
  bool all_pending = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (!all_pending && std::chrono::steady_clock::now() < deadline) {
    auto m = met.Get("/metrics");
    all_pending = m && MetricValue(m->body, pending) == kRequests;
    if (!all_pending) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(all_pending) << "requests were not queued in time";
  const auto t0 = std::chrono::steady_clock::now();
  p->Signal(SIGTERM);
  for (auto& r : results) EXPECT_EQ(r.get(), 200);
  auto code = p->WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "clip-server did not exit after SIGTERM";
  EXPECT_EQ(*code, 0) << p->Stderr();
  // Drained without waiting out the 5 s batching delay.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << p->Stderr();
  EXPECT_NE(p->Stderr().find("draining"), std::string::npos);
}

// A drain that cannot finish in --drain-timeout-s (256 images through a
// full-size ViT-B/32 on one thread: seconds of forwards even on a fast CPU)
// ends the process with exit code 3, not 0, so an orchestrator can tell it
// from a clean drain.
TEST(ServerE2ETest, DrainThatTimesOutExitsThree) {
  auto p = StartReady({"--model", "ViT-B-32", "--weights", "random:1", "--threads", "1", "--warmup-batch-sizes", "1",
                       "--drain-timeout-s", "1"});
  std::vector<std::string> images(256, MakeJpeg(30, 30, 4));
  const std::string tail = LengthPrefixed(images);
  json h = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {256}},
                         {"parameters", {{"binary_data_size", tail.size()}}}}}}};
  const std::string hs = h.dump();
  auto answer = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", p->http_port);
    c.set_read_timeout(60, 0);
    auto r = c.Post("/v2/models/openclip_vit_b32_image/infer", {{"Inference-Header-Content-Length", std::to_string(hs.size())}},
                    hs + tail, "application/octet-stream");
    return r ? r->status : -1;
  });
  httplib::Client met("127.0.0.1", p->metrics_port);
  const std::string pending = "nv_inference_pending_request_count{model=\"openclip_vit_b32_image\",version=\"1\"}";
  bool queued = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!queued && std::chrono::steady_clock::now() < deadline) {
    auto m = met.Get("/metrics");
    queued = m && MetricValue(m->body, pending) >= 1;
    if (!queued) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(queued) << "the request did not reach the batcher";
  const auto t0 = std::chrono::steady_clock::now();
  p->Signal(SIGTERM);
  auto code = p->WaitExit(std::chrono::seconds(15));
  ASSERT_TRUE(code.has_value()) << "clip-server did not exit after SIGTERM";
  EXPECT_EQ(*code, 3) << p->Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10)) << p->Stderr();
  EXPECT_NE(p->Stderr().find("code 3"), std::string::npos) << p->Stderr();
  EXPECT_NE(answer.get(), 200);  // the process left before the answer
}

// A request whose header arrived but whose body never completes holds the
// drain until --drain-timeout-s; the connection is then closed unanswered,
// and the exit code says so.
TEST(ServerE2ETest, DrainTimeoutWithAHalfSentBodyExitsThree) {
  auto p = StartReady(TinyArgs({"--drain-timeout-s", "1"}));
  clipserve::server::testing::RawConnection c(p->http_port);
  ASSERT_TRUE(c.Send("POST /v2/models/openclip_vit_b32/infer HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"inputs\": ["));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the header has arrived
  p->Signal(SIGTERM);
  auto code = p->WaitExit(std::chrono::seconds(15));
  ASSERT_TRUE(code.has_value()) << "clip-server did not exit after SIGTERM";
  EXPECT_EQ(*code, 3) << p->Stderr();
  EXPECT_NE(p->Stderr().find("closed by the drain timeout with a request unanswered"), std::string::npos) << p->Stderr();
}

// The default precision is resolved at start-up and reported, with the CPU
// and the compute path, in /model-info and in the v2 model config.
TEST(ServerE2ETest, AutoPrecisionIsResolvedAndReported) {
  auto p = StartReady({"--model", "test-tiny", "--weights", "random:1", "--threads", "1", "--background-warmup", "off"});
  httplib::Client rest("127.0.0.1", p->rest_port), v2("127.0.0.1", p->http_port);
  auto info = rest.Get("/model-info");
  ASSERT_TRUE(info && info->status == 200);
  const json j = json::parse(info->body);
  EXPECT_EQ(j["requested_precision"], "auto");
  EXPECT_EQ(j["precision"], HostCpuFeatures().NativeBf16() ? "bf16" : "fp32");
  EXPECT_EQ(j["cpu_isa"], HostCpuFeatures().Describe());
  EXPECT_FALSE(j["compute"].get<std::string>().empty());
  auto cfg = v2.Get("/v2/models/openclip_vit_b32/config");
  ASSERT_TRUE(cfg && cfg->status == 200);
  const json params = json::parse(cfg->body)["parameters"];
  EXPECT_EQ(params["precision"]["string_value"], j["precision"]);
  EXPECT_EQ(params["cpu_isa"]["string_value"], j["cpu_isa"]);
  EXPECT_NE(p->Stderr().find("clip-server: engine: cpu " + HostCpuFeatures().Describe()), std::string::npos)
      << p->Stderr();
}

// bf16 on a CPU without native bf16 (simulated with the ISA cap) is refused
// at start-up: exit 2 before any listener opens, naming the missing feature
// and the alternative.
TEST(ServerE2ETest, Bf16WithoutNativeSupportExitsTwoAtStartup) {
  ::setenv("CLIPSERVE_MAX_CPU_ISA", "avx2", 1);
  ServerProcess p({"--model", "test-tiny", "--precision", "bf16"});
  ::unsetenv("CLIPSERVE_MAX_CPU_ISA");
  auto code = p.WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "clip-server kept running with --precision bf16 on a capped CPU";
  EXPECT_EQ(*code, 2) << p.Stderr();
  const std::string err = p.Stderr();
  EXPECT_NE(err.find("avx512_bf16"), std::string::npos) << err;
  EXPECT_NE(err.find("--precision fp32"), std::string::npos) << err;
  EXPECT_EQ(err.find("listening"), std::string::npos) << err;

  ::setenv("CLIPSERVE_MAX_CPU_ISA", "avx3", 1);
  ServerProcess bad_cap({"--model", "test-tiny"});
  ::unsetenv("CLIPSERVE_MAX_CPU_ISA");
  auto bad = bad_cap.WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(*bad, 2);
  EXPECT_NE(bad_cap.Stderr().find("CLIPSERVE_MAX_CPU_ISA"), std::string::npos) << bad_cap.Stderr();
}

// A path that is not valid UTF-8 once percent-decoded used to make the
// error body's JSON encoder throw and end the process (all three
// listeners). Now every port answers a valid UTF-8 JSON 404 and keeps serving.
TEST(ServerE2ETest, InvalidUtf8PathIsAJson404AndTheServerKeepsServing) {
  auto p = StartReady(TinyArgs());
  for (int port : {p->rest_port, p->http_port, p->metrics_port}) {
    httplib::Client c("127.0.0.1", port);
    for (const char* path : {"/nope%FF", "/v2/models/a%FFb", "/v2/models/a%C0%AF/infer", "/%ED%A0%80"}) {
      auto r = c.Get(path);
      ASSERT_TRUE(r) << "no answer on port " << port << " for " << path << "\n" << p->Stderr();
      EXPECT_GE(r->status, 400) << path;
      EXPECT_LT(r->status, 500) << path;
      const json body = json::parse(r->body, nullptr, false);
      ASSERT_FALSE(body.is_discarded()) << r->body;
      EXPECT_NO_THROW((void)body.dump()) << r->body;
    }
  }
  ASSERT_TRUE(p->Alive()) << p->Stderr();
  httplib::Client v2("127.0.0.1", p->http_port);
  EXPECT_EQ(v2.Get("/v2/health/ready")->status, 200);
}

// --engine null: the full ViT-B-32 server path (shapes, decode, batching,
// responses) with no model: every image gets the same unit vector, and no
// weights are built, so it is ready at once.
TEST(ServerE2ETest, NullEngineServesTheFixedUnitVector) {
  auto p = StartReady({"--engine", "null", "--model", "ViT-B-32", "--background-warmup", "off"});
  httplib::Client v2("127.0.0.1", p->http_port), rest("127.0.0.1", p->rest_port);
  const std::vector<float> px(3 * 224 * 224, 0.5f);
  const json header = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, 224, 224}},
                                    {"parameters", {{"binary_data_size", px.size() * 4}}}}}}};
  const std::string hs = header.dump();
  auto r = v2.Post("/v2/models/openclip_vit_b32/infer", {{"Inference-Header-Content-Length", std::to_string(hs.size())}},
                   hs + FloatBytes(px), "application/octet-stream");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  const json out = json::parse(r->body)["outputs"][0];
  ASSERT_EQ(out["data"].size(), 512u);
  for (const auto& v : out["data"]) EXPECT_NEAR(v.get<double>(), 1.0 / std::sqrt(512.0), 1e-7);
  auto e = rest.Post("/embed/base64", json{{"images", {Base64(MakeJpeg(300, 200, 4))}}}.dump(), "application/json");
  ASSERT_TRUE(e && e->status == 200) << (e ? e->body : "no answer");
  EXPECT_NEAR(json::parse(e->body)["embeddings"][0][7].get<double>(), 1.0 / std::sqrt(512.0), 1e-7);
  auto bad = rest.Post("/embed/base64", json{{"images", {Base64("not an image")}}}.dump(), "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);  // decoding still runs for real
  auto info = rest.Get("/model-info");
  ASSERT_TRUE(info && info->status == 200);
  EXPECT_NE(json::parse(info->body)["compute"].get<std::string>().find("null"), std::string::npos);
}

}  // namespace
}  // namespace clipserve::server
