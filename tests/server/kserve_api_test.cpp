// KServe v2 personality over real HTTP on loopback, FakeEngine behind it.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "server_fixture.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using nlohmann::json;
using testing::Base64;
using testing::FloatBytes;
using testing::LengthPrefixed;
using testing::MakeJpeg;
using testing::ServerFixture;
constexpr int S = testing::kFakeImageSize;
constexpr int D = testing::kFakeEmbedDim;

// Sends a binary-extension request: JSON header + binary tail.
httplib::Result PostBinary(httplib::Client& c, const std::string& path, const std::string& header,
                           const std::string& tail) {
  httplib::Headers h = {{"Inference-Header-Content-Length", std::to_string(header.size())}};
  return c.Post(path, h, header + tail, "application/octet-stream");
}

// Splits a response into its JSON header and binary tail.
std::pair<json, std::string> SplitResponse(const httplib::Response& res) {
  if (!res.has_header("Inference-Header-Content-Length")) return {json::parse(res.body, nullptr, false), ""};
  const size_t n = std::stoul(res.get_header_value("Inference-Header-Content-Length"));
  return {json::parse(res.body.substr(0, n), nullptr, false), res.body.substr(n)};
}

std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

TEST(KserveApiTest, HealthMetadataConfigAndStats) {
  ServerFixture f;
  auto c = f.Kserve();
  for (const char* path : {"/v2/health/live", "/v2/health/ready", "/v2/models/openclip_vit_b32/ready",
                           "/v2/models/openclip_vit_b32/versions/1/ready", "/v2/models/openclip_vit_b32_image/ready"}) {
    auto res = c->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
  }
  auto server = json::parse(c->Get("/v2")->body);
  EXPECT_EQ(server["name"], "triton");
  EXPECT_NE(std::find(server["extensions"].begin(), server["extensions"].end(), "binary_tensor_data"),
            server["extensions"].end());

  auto meta = json::parse(c->Get("/v2/models/openclip_vit_b32")->body);
  EXPECT_EQ(meta["name"], "openclip_vit_b32");
  EXPECT_EQ(meta["versions"], json::array({"1"}));
  EXPECT_EQ(meta["inputs"][0]["name"], "image");
  EXPECT_EQ(meta["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(meta["inputs"][0]["shape"], json::array({-1, 3, S, S}));
  EXPECT_EQ(meta["outputs"][0]["name"], "embedding");
  EXPECT_EQ(meta["outputs"][0]["shape"], json::array({-1, D}));
  auto meta_v = json::parse(c->Get("/v2/models/openclip_vit_b32/versions/1")->body);
  EXPECT_EQ(meta_v, meta);

  auto image_meta = json::parse(c->Get("/v2/models/openclip_vit_b32_image")->body);
  EXPECT_EQ(image_meta["inputs"][0]["name"], "image_bytes");
  EXPECT_EQ(image_meta["inputs"][0]["datatype"], "BYTES");
  EXPECT_EQ(image_meta["inputs"][0]["shape"], json::array({-1}));

  auto config = json::parse(c->Get("/v2/models/openclip_vit_b32/config")->body);
  EXPECT_EQ(config["name"], "openclip_vit_b32");
  EXPECT_EQ(config["max_batch_size"], 32);
  EXPECT_EQ(config["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(config["input"][0]["dims"], json::array({3, S, S}));
  EXPECT_EQ(config["output"][0]["dims"], json::array({D}));
  EXPECT_TRUE(config.contains("dynamic_batching"));

  auto stats = json::parse(c->Get("/v2/models/openclip_vit_b32/stats")->body);
  ASSERT_EQ(stats["model_stats"].size(), 1u);
  EXPECT_EQ(stats["model_stats"][0]["name"], "openclip_vit_b32");
  EXPECT_EQ(stats["model_stats"][0]["version"], "1");
  EXPECT_TRUE(stats["model_stats"][0]["inference_stats"]["success"].contains("ns"));
  auto all = json::parse(c->Get("/v2/models/stats")->body);
  EXPECT_EQ(all["model_stats"].size(), 2u);
}

TEST(KserveApiTest, UnknownModelOrVersionIs400InTritonWords) {
  ServerFixture f;
  auto c = f.Kserve();
  for (std::string path : {"/v2/models/resnet", "/v2/models/resnet/config", "/v2/models/openclip_vit_b32/versions/2"}) {
    auto res = c->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << path;
    auto j = json::parse(res->body);
    EXPECT_NE(j["error"].get<std::string>().find("Request for unknown model"), std::string::npos) << j;
  }
  auto res = c->Post("/v2/models/resnet/infer", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

TEST(KserveApiTest, InferJsonTensorMatchesTheImagePipeline) {
  ServerFixture f;
  auto c = f.Kserve();
  const std::string jpeg = MakeJpeg(30, 20, 11);
  const auto pixels = ServerFixture::UnitPixels(jpeg);
  json req = {{"id", "abc"},
              {"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, S, S}}, {"data", pixels}}}},
              {"outputs", {{{"name", "embedding"}}}}};
  auto res = c->Post("/v2/models/openclip_vit_b32/infer", req.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_FALSE(res->has_header("Inference-Header-Content-Length"));
  auto j = json::parse(res->body);
  EXPECT_EQ(j["id"], "abc");
  EXPECT_EQ(j["model_name"], "openclip_vit_b32");
  EXPECT_EQ(j["model_version"], "1");
  EXPECT_EQ(j["outputs"][0]["shape"], json::array({1, D}));
  EXPECT_EQ(j["outputs"][0]["data"].get<std::vector<float>>(), ServerFixture::ExpectedEmbedding(jpeg));
  EXPECT_NE(res->get_header_value("Server-Timing").find("compute;dur="), std::string::npos);
}

TEST(KserveApiTest, InferBinaryBothDirectionsAndVersionedPath) {
  ServerFixture f;
  auto c = f.Kserve();
  const std::string a = MakeJpeg(12, 40, 12), b = MakeJpeg(40, 12, 13);
  auto pa = ServerFixture::UnitPixels(a), pb = ServerFixture::UnitPixels(b);
  std::vector<float> both = pa;
  both.insert(both.end(), pb.begin(), pb.end());
  json header = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {2, 3, S, S}},
                              {"parameters", {{"binary_data_size", both.size() * 4}}}}}},
                 {"outputs", {{{"name", "embedding"}, {"parameters", {{"binary_data", true}}}}}}};
  auto res = PostBinary(*c, "/v2/models/openclip_vit_b32/versions/1/infer", header.dump(), FloatBytes(both));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  auto [j, tail] = SplitResponse(*res);
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 2 * D * 4);
  auto got = Floats(tail);
  auto ea = ServerFixture::ExpectedEmbedding(a), eb = ServerFixture::ExpectedEmbedding(b);
  ea.insert(ea.end(), eb.begin(), eb.end());
  EXPECT_EQ(got, ea);

  // Request-level binary_data_output with no outputs listed (tritonclient's default).
  json header2 = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, S, S}},
                               {"parameters", {{"binary_data_size", pa.size() * 4}}}}}},
                  {"parameters", {{"binary_data_output", true}}}};
  res = PostBinary(*c, "/v2/models/openclip_vit_b32/infer", header2.dump(), FloatBytes(pa));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Floats(SplitResponse(*res).second), ServerFixture::ExpectedEmbedding(a));
}

// NaN or Inf in an FP32 tensor used to run through the model and come back
// as null embeddings with 200. Now: 400 naming the input and the first bad
// element (flat index and its image/channel/y/x), the failure counted, and
// the server keeps serving.
TEST(KserveApiTest, NonFiniteTensorIs400NamingInputAndElement) {
  ServerFixture f;
  auto c = f.Kserve();
  std::vector<float> px(2ull * 3 * S * S, 0.5f);
  const std::size_t bad = 3ull * S * S + 1ull * S * S + 2ull * S + 3;  // image 1, channel 1, y 2, x 3
  for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()}) {
    px[bad] = v;
    json header = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {2, 3, S, S}},
                                {"parameters", {{"binary_data_size", px.size() * 4}}}}}}};
    auto res = PostBinary(*c, "/v2/models/openclip_vit_b32/infer", header.dump(), FloatBytes(px));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    const std::string err = json::parse(res->body)["error"];
    EXPECT_NE(err.find("input 'image'"), std::string::npos) << err;
    EXPECT_NE(err.find("element " + std::to_string(bad)), std::string::npos) << err;
    EXPECT_NE(err.find("image 1, channel 1, y 2, x 3"), std::string::npos) << err;
  }
  px[bad] = 0.25f;
  json header = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {2, 3, S, S}},
                              {"parameters", {{"binary_data_size", px.size() * 4}}}}}}};
  auto ok = PostBinary(*c, "/v2/models/openclip_vit_b32/infer", header.dump(), FloatBytes(px));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto stats = c->Get("/v2/models/openclip_vit_b32/stats");
  ASSERT_TRUE(stats);
  EXPECT_EQ(json::parse(stats->body)["model_stats"][0]["inference_stats"]["fail"]["count"], 3);
}

TEST(KserveApiTest, ImageModelBinaryAndJsonBytesMatchRestAndTensorModel) {
  ServerFixture f;
  auto c = f.Kserve();
  auto rest = f.Rest();
  const std::string jpeg = MakeJpeg(50, 35, 14);
  const std::string png = testing::AsString(testing::kPng5x3);
  const std::string tail = LengthPrefixed({jpeg, png});
  json header = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {2}},
                              {"parameters", {{"binary_data_size", tail.size()}}}}}},
                 {"outputs", {{{"name", "embedding"}, {"parameters", {{"binary_data", true}}}}}}};
  auto res = PostBinary(*c, "/v2/models/openclip_vit_b32_image/infer", header.dump(), tail);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto got = Floats(SplitResponse(*res).second);
  ASSERT_EQ(got.size(), 2u * D);

  // JSON BYTES carrying base64, shape [N,1].
  json jreq = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {2, 1}},
                            {"data", {Base64(jpeg), Base64(png)}}}}}};
  res = c->Post("/v2/models/openclip_vit_b32_image/infer", jreq.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["outputs"][0]["data"].get<std::vector<float>>(), got);

  // Same image through REST and through the tensor model.
  auto rres = rest->Post("/embed/base64", json{{"images", {Base64(jpeg), Base64(png)}}}.dump(), "application/json");
  ASSERT_TRUE(rres);
  auto rj = json::parse(rres->body);
  std::vector<float> rest_flat;
  for (auto& row : rj["embeddings"]) for (auto& v : row) rest_flat.push_back(v.get<float>());
  EXPECT_EQ(rest_flat, got);

  auto pixels = ServerFixture::UnitPixels(jpeg);
  json treq = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, S, S}}, {"data", pixels}}}}};
  res = c->Post("/v2/models/openclip_vit_b32/infer", treq.dump(), "application/json");
  ASSERT_TRUE(res);
  auto tensor = json::parse(res->body)["outputs"][0]["data"].get<std::vector<float>>();
  EXPECT_EQ(tensor, std::vector<float>(got.begin(), got.begin() + D));
}

TEST(KserveApiTest, EveryClassOfBadRequestIs400AndTheServerKeepsServing) {
  ServerFixture f;
  auto c = f.Kserve();
  const std::string m = "/v2/models/openclip_vit_b32/infer";
  const std::string mi = "/v2/models/openclip_vit_b32_image/infer";
  const std::vector<float> one(3 * S * S, 0.5f);
  auto input = [&](const std::string& name, const std::string& dt, json shape, json data) {
    return json{{"inputs", {{{"name", name}, {"datatype", dt}, {"shape", shape}, {"data", data}}}}}.dump();
  };
  struct Case {
    std::string path, body, expect;
    httplib::Headers headers;
  };
  const std::string bin_hdr = json{{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, S, S}},
                                                {"parameters", {{"binary_data_size", 12}}}}}}}.dump();
  const std::string bytes_hdr = json{{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {1}},
                                                  {"parameters", {{"binary_data_size", 10}}}}}}}.dump();
  std::vector<Case> cases = {
      {m, "{oops", "failed to parse the request JSON", {}},
      {m, input("pixels", "FP32", {1, 3, S, S}, one), "unexpected inference input 'pixels'", {}},
      {m, input("image", "INT32", {1, 3, S, S}, std::vector<int>(3 * S * S, 0)), "data-type is 'INT32'", {}},
      {m, input("image", "FP32", {1, 3, S + 1, S}, one), "unexpected shape for input 'image'", {}},
      {m, input("image", "FP32", {2, 3, S, S}, one), "unexpected number of elements", {}},
      {m, json{{"inputs", json::array()}}.dump(), "expected 1 inputs but got 0", {}},
      {m, json{{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, S, S}}, {"data", one}}}},
               {"outputs", {{{"name", "logits"}}}}}.dump(),
       "unexpected inference output 'logits'", {}},
      {m, bin_hdr + std::string(12, '\0'), "unexpected total byte size 12", {{"Inference-Header-Content-Length", std::to_string(bin_hdr.size())}}},
      {m, bin_hdr + std::string(12, '\0'), "Inference-Header-Content-Length", {{"Inference-Header-Content-Length", "zzz"}}},
      {m, bin_hdr, "exceeds the request body size", {{"Inference-Header-Content-Length", "999999"}}},
      {mi, bytes_hdr + std::string("\xff\x00\x00\x00xxxxxx", 10), "claims 255 bytes", {{"Inference-Header-Content-Length", std::to_string(bytes_hdr.size())}}},
      {mi, input("image_bytes", "BYTES", {1}, {"not an image"}), "image 0", {}},
      {mi, input("image_bytes", "BYTES", {2}, {Base64(MakeJpeg(8, 8, 1))}), "expecting 2", {}},
  };
  for (const auto& cs : cases) {
    auto res = c->Post(cs.path, cs.headers, cs.body, "application/json");
    ASSERT_TRUE(res) << cs.expect;
    EXPECT_EQ(res->status, 400) << cs.expect << " -> " << res->body;
    auto j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << res->body;
    EXPECT_NE(j["error"].get<std::string>().find(cs.expect), std::string::npos) << j["error"];
  }
  // Still serving, and the failures were counted.
  auto res = c->Post(m, input("image", "FP32", {1, 3, S, S}, one), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  auto stats = json::parse(c->Get("/v2/models/openclip_vit_b32/stats")->body)["model_stats"][0];
  EXPECT_EQ(stats["inference_stats"]["success"]["count"], 1);
  EXPECT_GE(stats["inference_stats"]["fail"]["count"].get<int>(), 9);
}

}  // namespace
}  // namespace clipserve::server

namespace clipserve::server {
namespace {

// Mangled versions of valid requests (truncated, bytes flipped, header
// length off) must each get a 200 or a 4xx JSON error, never a crash or a
// dropped connection, and the server must keep serving.
TEST(KserveApiTest, MangledRequestsNeverCrashTheServer) {
  ServerFixture f;
  auto c = f.Kserve();
  const std::string jpeg = MakeJpeg(24, 24, 31);
  const std::string tail = LengthPrefixed({jpeg});
  const std::string header = json{{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {1}},
                                               {"parameters", {{"binary_data_size", tail.size()}}}}}}}.dump();
  const std::string body = header + tail;
  std::uint32_t rng = 12345;
  auto next = [&rng] { return rng = rng * 1664525u + 1013904223u; };
  for (int i = 0; i < 150; ++i) {
    std::string b = body;
    switch (i % 3) {
      case 0: b.resize(next() % b.size()); break;
      case 1:
        for (int k = 0; k < 4; ++k) b[next() % b.size()] = static_cast<char>(next() & 0xFF);
        break;
      case 2: break;
    }
    std::uint64_t hlen = header.size();
    if (i % 3 == 2) hlen = next() % (b.size() + 2);
    auto res = c->Post("/v2/models/openclip_vit_b32_image/infer", {{"Inference-Header-Content-Length", std::to_string(hlen)}},
                       b, "application/octet-stream");
    ASSERT_TRUE(res) << "connection dropped on mangled request " << i;
    EXPECT_TRUE(res->status == 200 || (res->status >= 400 && res->status < 500)) << i << ": " << res->status;
    if (res->status != 200) {
      EXPECT_TRUE(json::parse(res->body, nullptr, false).contains("error")) << res->body;
    }
  }
  auto ok = c->Post("/v2/models/openclip_vit_b32_image/infer", {{"Inference-Header-Content-Length", std::to_string(header.size())}},
                    body, "application/octet-stream");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

}  // namespace
}  // namespace clipserve::server
