#include "bench/protocol.h"
#include "test_images.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace clipserve::bench {
namespace {

using nlohmann::json;

using testing::Img;

TEST(KserveProtocol, BinaryTensorRequestLayout) {
  auto p = MakeKserveProtocol(TritonInput::kTensor, "m");
  InputImage a = Img({1, 2, 3}, 2, 0.25f), b = Img({4}, 2, 0.75f);
  const InputImage* imgs[] = {&a, &b};
  auto req = p->Build(imgs);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->path, "/v2/models/m/infer");
  ASSERT_EQ(req->headers.size(), 1u);
  EXPECT_EQ(req->headers[0].first, "Inference-Header-Content-Length");
  const std::size_t hlen = std::stoul(req->headers[0].second);
  json h = json::parse(req->body.substr(0, hlen));
  EXPECT_EQ(h["inputs"][0]["name"], "image");
  EXPECT_EQ(h["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(h["inputs"][0]["shape"], json({2, 3, 2, 2}));
  EXPECT_EQ(h["inputs"][0]["parameters"]["binary_data_size"], 2 * 12 * 4);
  EXPECT_EQ(h["outputs"][0]["name"], "embedding");
  EXPECT_EQ(h["outputs"][0]["parameters"]["binary_data"], true);
  ASSERT_EQ(req->body.size(), hlen + 2 * 12 * 4);
  float first = 0, last = 0;
  std::memcpy(&first, req->body.data() + hlen, 4);
  std::memcpy(&last, req->body.data() + req->body.size() - 4, 4);
  EXPECT_EQ(first, 0.25f);
  EXPECT_EQ(last, 0.75f);
}

TEST(KserveProtocol, ImageBytesElementsAreLengthPrefixed) {
  auto p = MakeKserveProtocol(TritonInput::kImageBytes, "m");
  p->SetImageBytesRank(2);
  InputImage a = Img({9, 8, 7}), b = Img({6});
  const InputImage* imgs[] = {&a, &b};
  auto req = p->Build(imgs);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->path, "/v2/models/m_image/infer");
  const std::size_t hlen = std::stoul(req->headers[0].second);
  json h = json::parse(req->body.substr(0, hlen));
  EXPECT_EQ(h["inputs"][0]["name"], "image_bytes");
  EXPECT_EQ(h["inputs"][0]["datatype"], "BYTES");
  EXPECT_EQ(h["inputs"][0]["shape"], json({2, 1}));
  const std::string bin = req->body.substr(hlen);
  const std::string expected("\x03\x00\x00\x00\x09\x08\x07\x01\x00\x00\x00\x06", 12);
  EXPECT_EQ(bin, expected);
  EXPECT_EQ(h["inputs"][0]["parameters"]["binary_data_size"], 12);
  auto rank1 = MakeKserveProtocol(TritonInput::kImageBytes, "m")->Build(imgs);
  EXPECT_EQ(json::parse(rank1->body.substr(0, std::stoul(rank1->headers[0].second)))["inputs"][0]["shape"], json({2}));
}

TEST(KserveProtocol, JsonTensorRequest) {
  auto p = MakeKserveProtocol(TritonInput::kTensorJson, "m");
  InputImage a = Img({1}, 2, 0.5f);
  const InputImage* imgs[] = {&a};
  auto req = p->Build(imgs);
  ASSERT_TRUE(req.ok());
  EXPECT_TRUE(req->headers.empty());
  json j = json::parse(req->body);
  EXPECT_EQ(j["inputs"][0]["data"].size(), 12u);
  EXPECT_EQ(j["inputs"][0]["data"][0], 0.5);
}

TEST(KserveProtocol, ParsesBinaryAndJsonResponses) {
  auto p = MakeKserveProtocol(TritonInput::kTensor, "m");
  const float vals[4] = {1, 2, 3, 4};
  json h = {{"model_name", "m"},
            {"outputs", {{{"name", "embedding"}, {"datatype", "FP32"}, {"shape", {2, 2}}, {"parameters", {{"binary_data_size", 16}}}}}}};
  HttpResponse r;
  r.body = h.dump();
  r.inference_header_length = r.body.size();
  r.body.append(reinterpret_cast<const char*>(vals), 16);
  auto e = p->Parse(r, 2);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->dim, 2);
  EXPECT_EQ(e->values, std::vector<float>({1, 2, 3, 4}));
  EXPECT_FALSE(p->Parse(r, 3).ok());  // wrong row count is a bad response

  HttpResponse j;
  j.body = json({{"outputs", {{{"name", "embedding"}, {"datatype", "FP32"}, {"shape", {1, 3}}, {"data", {0.5, 0.25, 0.125}}}}}}).dump();
  auto e2 = p->Parse(j, 1);
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(e2->values[2], 0.125f);

  HttpResponse bad;
  bad.body = "{\"outputs\":[{\"name\":\"embedding\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}}]}";
  bad.inference_header_length = bad.body.size();
  bad.body += "abc";  // truncated binary
  EXPECT_FALSE(p->Parse(bad, 1).ok());
}

TEST(RestProtocol, Base64AndMultipart) {
  InputImage a = Img({'a', 'b', 'c'});
  const InputImage* imgs[] = {&a, &a};
  auto b64 = MakeRestProtocol(PytorchInput::kBase64)->Build(imgs);
  ASSERT_TRUE(b64.ok());
  EXPECT_EQ(b64->path, "/embed/base64");
  EXPECT_EQ(json::parse(b64->body)["images"], json({"YWJj", "YWJj"}));
  auto mp = MakeRestProtocol(PytorchInput::kMultipart)->Build(imgs);
  ASSERT_TRUE(mp.ok());
  EXPECT_EQ(mp->path, "/embed/batch");
  EXPECT_NE(mp->content_type.find("multipart/form-data; boundary="), std::string::npos);
  std::size_t count = 0, pos = 0;
  while ((pos = mp->body.find("name=\"files\"", pos)) != std::string::npos) ++count, ++pos;
  EXPECT_EQ(count, 2u);
}

TEST(RestProtocol, ParsesEmbeddings) {
  auto p = MakeRestProtocol(PytorchInput::kBase64);
  HttpResponse r;
  r.body = R"({"embeddings":[[0.6,0.8],[1,0]],"model_info":{},"count":2})";
  auto e = p->Parse(r, 2);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->dim, 2);
  EXPECT_FALSE(p->Parse(r, 1).ok());
  r.body = "not json";
  EXPECT_FALSE(p->Parse(r, 1).ok());
  r.body = R"({"embeddings":[[1,2],[3]]})";
  EXPECT_FALSE(p->Parse(r, 2).ok());
}

TEST(TritonStats, ParsesStatisticsExtension) {
  const std::string body = R"({"model_stats":[{"name":"m","version":"1","last_inference":1,"inference_count":64,
    "execution_count":8,"inference_stats":{"success":{"count":64,"ns":64000000},"fail":{"count":1,"ns":5},
    "queue":{"count":64,"ns":3200000},"compute_input":{"count":8,"ns":800000},"compute_infer":{"count":8,"ns":40000000},
    "compute_output":{"count":8,"ns":80000}},"batch_stats":[]},
    {"name":"other","version":"1","inference_count":5,"execution_count":5,"inference_stats":{}}]})";
  auto c = ParseTritonStats(body, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->request_success, 64);
  EXPECT_EQ(*c->request_failure, 1);
  EXPECT_EQ(*c->exec_count, 8);
  EXPECT_EQ(*c->inference_count, 64);
  EXPECT_DOUBLE_EQ(*c->queue_duration_us, 3200);
  EXPECT_DOUBLE_EQ(*c->compute_infer_duration_us, 40000);
  EXPECT_FALSE(ParseTritonStats(body, "absent").ok());
  EXPECT_FALSE(ParseTritonStats("[]", "m").ok());
}

}  // namespace
}  // namespace clipserve::bench
