// REST personality over real HTTP on loopback, FakeEngine behind it.
#include <gtest/gtest.h>

#include <cstring>

#include "server_fixture.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using nlohmann::json;
using testing::AsString;
using testing::Base64;
using testing::MakeJpeg;
using testing::ServerFixture;

void ExpectEmbeddingEq(const json& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i].get<float>(), want[i]) << i;
}

json PostJson(httplib::Client& c, const std::string& path, const std::string& body, int expect_status) {
  auto res = c.Post(path, body, "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, expect_status) << res->body;
  return json::parse(res->body, nullptr, false);
}

TEST(RestApiTest, HealthModelInfoAndGpuInfo) {
  ServerFixture f;
  auto c = f.Rest();
  for (const char* path : {"/health", "/healthz"}) {
    auto res = c->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body), json({{"status", "ok"}}));
  }
  auto info = c->Get("/model-info");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->status, 200);
  auto j = json::parse(info->body);
  EXPECT_EQ(j["embedding_dim"], testing::kFakeEmbedDim);
  EXPECT_EQ(j["model_name"], "fake");
  EXPECT_EQ(j["pretrained"], "fake");
  EXPECT_EQ(j["device"], "cpu");

  auto gpu = c->Get("/gpu-info");
  ASSERT_TRUE(gpu);
  ASSERT_EQ(gpu->status, 200);
  auto g = json::parse(gpu->body);
  EXPECT_EQ(g["cuda_available"], false);
  EXPECT_EQ(g["torch_version"], "fake");
  EXPECT_TRUE(g["gpus"].is_array());
}

TEST(RestApiTest, EmbedBase64PlainAndDataUri) {
  ServerFixture f;
  auto c = f.Rest();
  const std::string jpeg = MakeJpeg(40, 30, 1);
  const std::string png = AsString(testing::kPng5x3);
  json req = {{"images", {Base64(jpeg), "data:image/png;base64," + Base64(png)}}};
  auto res = c->Post("/embed/base64", req.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = json::parse(res->body);
  EXPECT_EQ(j["count"], 2);
  ASSERT_EQ(j["embeddings"].size(), 2u);
  ExpectEmbeddingEq(j["embeddings"][0], ServerFixture::ExpectedEmbedding(jpeg));
  ExpectEmbeddingEq(j["embeddings"][1], ServerFixture::ExpectedEmbedding(png));
  EXPECT_EQ(j["model_info"]["embedding_dim"], testing::kFakeEmbedDim);
  const std::string timing = res->get_header_value("Server-Timing");
  EXPECT_NE(timing.find("queue;dur="), std::string::npos) << timing;
  EXPECT_NE(timing.find("preprocess;dur="), std::string::npos);
  EXPECT_NE(timing.find("compute;dur="), std::string::npos);
}

// An engine failure is a 500 whose body carries an id, not the engine's (or
// a library's) words; the next request is served.
TEST(RestApiTest, InternalErrorsShowAnIdNotTheirDetail) {
  ServerFixture f;
  auto c = f.Rest();
  f.engine()->set_hook([](int) { return InternalError("forward failed: [json.exception.type_error.316] /secret/path"); });
  const json req = {{"images", {Base64(MakeJpeg(20, 20, 3))}}};
  auto res = c->Post("/embed/base64", req.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  const std::string detail = json::parse(res->body)["detail"];
  EXPECT_EQ(detail.rfind("internal error (id ", 0), 0u) << detail;
  EXPECT_EQ(detail.find("secret"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("json.exception"), std::string::npos) << detail;
  f.engine()->set_hook(nullptr);
  res = c->Post("/embed/base64", req.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST(RestApiTest, EmbedBatchMultipartKeepsFileOrder) {
  ServerFixture f;
  auto c = f.Rest();
  const std::string a = MakeJpeg(30, 30, 2), b = MakeJpeg(20, 50, 3);
  httplib::MultipartFormDataItems items = {
      {"files", a, "a.jpg", "image/jpeg"},
      {"files", b, "b.jpg", "image/jpeg"},
  };
  auto res = c->Post("/embed/batch", items);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = json::parse(res->body);
  EXPECT_EQ(j["count"], 2);
  ExpectEmbeddingEq(j["embeddings"][0], ServerFixture::ExpectedEmbedding(a));
  ExpectEmbeddingEq(j["embeddings"][1], ServerFixture::ExpectedEmbedding(b));
}

// --max-decode-bytes reaches the image pipeline: an image over the budget
// is the client's 400, naming its index, and the next request is served.
TEST(RestApiTest, DecodeBudgetIsA400NamingTheImage) {
  ServerFixture f([](ServerConfig& c) { c.max_decode_bytes = 64 * 64 * 3; });
  auto c = f.Rest();
  const json over = {{"images", {Base64(MakeJpeg(16, 16, 1)), Base64(MakeJpeg(80, 80, 2))}}};
  auto res = c->Post("/embed/base64", over.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("index 1"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("decode budget"), std::string::npos) << res->body;
  const json fits = {{"images", {Base64(MakeJpeg(64, 64, 3))}}};
  res = c->Post("/embed/base64", fits.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST(RestApiTest, OctetStreamReturnsRawFloat32WithShapeHeader) {
  ServerFixture f;
  auto c = f.Rest();
  const std::string jpeg = MakeJpeg(33, 17, 4);
  json req = {{"images", {Base64(jpeg)}}};
  auto res = c->Post("/embed/base64", {{"Accept", "application/octet-stream"}}, req.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("X-Embedding-Shape"), "1," + std::to_string(testing::kFakeEmbedDim));
  ASSERT_EQ(res->body.size(), sizeof(float) * testing::kFakeEmbedDim);
  std::vector<float> got(testing::kFakeEmbedDim);
  std::memcpy(got.data(), res->body.data(), res->body.size());
  EXPECT_EQ(got, ServerFixture::ExpectedEmbedding(jpeg));
}

TEST(RestApiTest, EveryClassOfBadInputGetsItsErrorAndTheServerKeepsServing) {
  ServerFixture f([](ServerConfig& c) {
    c.max_images_per_request = 3;
    c.max_body_bytes = 64 * 1024;
    c.max_pixels = 100 * 100;
  });
  auto c = f.Rest();
  const std::string good = Base64(MakeJpeg(16, 16, 5));

  // 400: bad base64 and bad image bytes, each naming the index.
  auto j = PostJson(*c, "/embed/base64", json{{"images", {good, "%%%"}}}.dump(), 400);
  EXPECT_NE(j["detail"].get<std::string>().find("index 1"), std::string::npos) << j;
  j = PostJson(*c, "/embed/base64", json{{"images", {Base64("not an image at all")}}}.dump(), 400);
  EXPECT_NE(j["detail"].get<std::string>().find("index 0"), std::string::npos) << j;
  // Truncated JPEG.
  const std::string jpeg = MakeJpeg(64, 64, 6);
  j = PostJson(*c, "/embed/base64", json{{"images", {good, good, Base64(jpeg.substr(0, jpeg.size() / 3))}}}.dump(), 400);
  EXPECT_NE(j["detail"].get<std::string>().find("index 2"), std::string::npos) << j;
  // Over the pixel limit.
  j = PostJson(*c, "/embed/base64", json{{"images", {Base64(MakeJpeg(200, 120, 7))}}}.dump(), 400);
  EXPECT_NE(j["detail"].get<std::string>().find("index 0"), std::string::npos) << j;
  // Empty list.
  j = PostJson(*c, "/embed/base64", R"({"images":[]})", 400);
  EXPECT_TRUE(j["detail"].is_string());

  // 422: FastAPI's validation shape.
  j = PostJson(*c, "/embed/base64", "{not json", 422);
  ASSERT_TRUE(j["detail"].is_array()) << j;
  EXPECT_EQ(j["detail"][0]["type"], "value_error.jsondecode");
  j = PostJson(*c, "/embed/base64", R"({"imgs":[]})", 422);
  EXPECT_EQ(j["detail"][0]["loc"], json::array({"body", "images"}));
  EXPECT_EQ(j["detail"][0]["type"], "value_error.missing");
  j = PostJson(*c, "/embed/base64", R"({"images":"abc"})", 422);
  EXPECT_EQ(j["detail"][0]["type"], "type_error.list");
  j = PostJson(*c, "/embed/base64", R"({"images":[1]})", 422);
  EXPECT_EQ(j["detail"][0]["loc"], json::array({"body", "images", 0}));
  auto res = c->Post("/embed/batch", "x", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 422);

  // 413: too many images, and a body over the limit.
  j = PostJson(*c, "/embed/base64", json{{"images", {good, good, good, good}}}.dump(), 413);
  EXPECT_NE(j["detail"].get<std::string>().find("limit 3"), std::string::npos) << j;
  res = c->Post("/embed/base64", std::string(100 * 1024, 'x'), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_TRUE(json::parse(res->body, nullptr, false).contains("detail")) << res->body;

  // 404 with the REST error shape.
  res = c->Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(json::parse(res->body, nullptr, false).contains("detail"));

  // Still serving.
  j = PostJson(*c, "/embed/base64", json{{"images", {good}}}.dump(), 200);
  EXPECT_EQ(j["count"], 1);
}

TEST(RestApiTest, NotReadyIs503ButLivenessAnswers) {
  ServerFixture f({}, /*load=*/false);
  auto c = f.Rest();
  auto res = c->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c->Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  auto j = PostJson(*c, "/embed/base64", json{{"images", {Base64(MakeJpeg(8, 8, 1))}}}.dump(), 503);
  EXPECT_TRUE(j["detail"].is_string());
  res = c->Get("/model-info");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);

  f.Load();
  res = c->Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  PostJson(*c, "/embed/base64", json{{"images", {Base64(MakeJpeg(8, 8, 1))}}}.dump(), 200);
}

TEST(RestApiTest, RestRunsEachRequestAloneByDefault) {
  ServerFixture f;
  auto c = f.Rest();
  const std::string three = json{{"images", {Base64(MakeJpeg(9, 9, 1)), Base64(MakeJpeg(9, 9, 2)),
                                             Base64(MakeJpeg(9, 9, 3))}}}.dump();
  PostJson(*c, "/embed/base64", three, 200);
  // Warm-up ran batch 1; the request ran as one batch of its 3 images.
  EXPECT_EQ(f.engine()->batch_sizes(), (std::vector<int>{1, 3}));
}

}  // namespace
}  // namespace clipserve::server

namespace clipserve::server {
namespace {

TEST(RestApiTest, MangledBodiesNeverCrashTheServer) {
  ServerFixture f;
  auto c = f.Rest();
  const std::string body = json{{"images", {Base64(MakeJpeg(24, 24, 41)), Base64(MakeJpeg(10, 30, 42))}}}.dump();
  std::uint32_t rng = 777;
  auto next = [&rng] { return rng = rng * 1664525u + 1013904223u; };
  for (int i = 0; i < 150; ++i) {
    std::string b = body;
    if (i % 2 == 0) {
      b.resize(next() % b.size());
    } else {
      for (int k = 0; k < 3; ++k) b[next() % b.size()] = static_cast<char>(next() & 0xFF);
    }
    auto res = c->Post("/embed/base64", b, "application/json");
    ASSERT_TRUE(res) << "connection dropped on mangled body " << i;
    EXPECT_TRUE(res->status == 200 || res->status == 400 || res->status == 422) << i << ": " << res->status << " " << res->body;
    EXPECT_TRUE(json::parse(res->body, nullptr, false).is_object()) << res->body;
  }
  auto ok = c->Post("/embed/base64", body, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

}  // namespace
}  // namespace clipserve::server
