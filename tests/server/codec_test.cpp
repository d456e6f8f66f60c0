// Unit tests of the pure wire-format pieces: base64, data URIs, the KServe
// request parser and response encoder.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

#include "common/base64.h"
#include "server/api_common.h"
#include "server/clip_server.h"
#include "server/data_uri.h"
#include "server/kserve_codec.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using testing::Base64;
using testing::FloatBytes;
using testing::LengthPrefixed;

TEST(Base64Test, RoundTripsEveryLengthModuloThree) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\x00\xff\x10", 3)}) {
    auto decoded = DecodeBase64(Base64(s));
    ASSERT_TRUE(decoded.ok()) << s;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), s);
  }
}

TEST(Base64Test, AcceptsMissingPaddingAndLineBreaks) {
  auto decoded = DecodeBase64("YWJj\nZA");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::string(decoded->begin(), decoded->end()), "abcd");
}

TEST(Base64Test, RejectsBadCharactersAndTruncation) {
  auto bad = DecodeBase64("YW*j");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("offset 2"), std::string::npos);
  EXPECT_FALSE(DecodeBase64("YWJjZ").ok());      // 5 sextets: not base64
  EXPECT_FALSE(DecodeBase64("YQ==YQ==").ok());   // data after padding
}

TEST(DataUriTest, StripsBase64DataUrisOnly) {
  EXPECT_EQ(*StripDataUri("data:image/png;base64,AAAA"), "AAAA");
  EXPECT_EQ(*StripDataUri("AAAA"), "AAAA");
  EXPECT_FALSE(StripDataUri("data:image/png,raw").ok());
  EXPECT_FALSE(StripDataUri("data:image/png;base64").ok());
  EXPECT_EQ(*StripDataUri("data:IMAGE/JPEG;base64,AAAA"), "AAAA");
  EXPECT_EQ(*StripDataUri("data:;base64,AAAA"), "AAAA");
  EXPECT_EQ(*StripDataUri("data:image/webp;charset=x;base64,AAAA"), "AAAA");
  for (const char* not_image : {"data:text/html;base64,AAAA", "data:application/pdf;base64,AAAA",
                                "data:imagex/png;base64,AAAA"}) {
    auto r = StripDataUri(not_image);
    ASSERT_FALSE(r.ok()) << not_image;
    EXPECT_NE(r.status().message().find("not an image"), std::string::npos) << r.status().message();
  }
}

TEST(KserveCodecTest, ParsesJsonTensorNestedOrFlat) {
  auto flat = kserve::ParseInferRequest(
      R"({"id":"r1","inputs":[{"name":"image","datatype":"FP32","shape":[1,2],"data":[0.5,1]}],
          "outputs":[{"name":"embedding","parameters":{"binary_data":true}}]})",
      std::nullopt);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(flat->id.value_or(""), "r1");
  ASSERT_EQ(flat->inputs.size(), 1u);
  EXPECT_EQ(flat->inputs[0].fp32, (std::vector<float>{0.5f, 1.0f}));
  EXPECT_FALSE(flat->inputs[0].binary);
  ASSERT_EQ(flat->outputs.size(), 1u);
  EXPECT_EQ(flat->outputs[0].binary, std::optional<bool>(true));

  auto nested = kserve::ParseInferRequest(
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2,2],"data":[[1,2],[3,4.5]]}]})", std::nullopt);
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->inputs[0].fp32, (std::vector<float>{1, 2, 3, 4.5f}));
  EXPECT_TRUE(nested->outputs.empty());
}

TEST(KserveCodecTest, ParsesBinaryInputsInOrder) {
  const std::string header =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}],)"
      R"("parameters":{"binary_data_output":true}})";
  const std::string a = FloatBytes({1.5f, -2.0f});
  const std::string b = LengthPrefixed({"xyz", ""}) + "";
  ASSERT_EQ(b.size(), 11u);
  const std::string body = header + a + b;
  auto req = kserve::ParseInferRequest(body, header.size());
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_TRUE(req->binary_data_output);
  ASSERT_EQ(req->inputs.size(), 2u);
  EXPECT_TRUE(req->inputs[0].binary);
  EXPECT_EQ(req->inputs[0].raw, a);
  auto elements = kserve::SplitBinaryBytes(req->inputs[1].raw, "b");
  ASSERT_TRUE(elements.ok());
  EXPECT_EQ(*elements, (std::vector<std::string_view>{"xyz", ""}));
}

TEST(KserveCodecTest, RejectsBadRequestsWithClearMessages) {
  struct Case {
    std::string body;
    std::optional<std::uint64_t> header;
    std::string expect;
  };
  const std::string bin_hdr = R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  const std::vector<Case> cases = {
      {"", std::nullopt, "failed to parse the request JSON"},
      {"{not json", std::nullopt, "failed to parse the request JSON"},
      {"[1]", std::nullopt, "expected a JSON object"},
      {R"({"x":1})", std::nullopt, "missing 'inputs'"},
      {R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})", std::nullopt, "'name'"},
      {R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1]}]})", std::nullopt, "neither 'data' nor binary_data_size"},
      {R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":["s"]}]})", std::nullopt, "expected number"},
      {bin_hdr + "1234", bin_hdr.size(), "unexpected end of binary data"},
      {bin_hdr + "123456789", bin_hdr.size(), "unexpected additional input data"},
      {bin_hdr, std::nullopt, "no Inference-Header-Content-Length"},
  };
  for (const auto& c : cases) {
    auto r = kserve::ParseInferRequest(c.body, c.header);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
}

TEST(KserveCodecTest, HeaderLengthMustBeANumberWithinTheBody) {
  EXPECT_EQ(*kserve::ParseHeaderLength("12", 20), 12u);
  EXPECT_FALSE(kserve::ParseHeaderLength("abc", 20).ok());
  EXPECT_FALSE(kserve::ParseHeaderLength("-1", 20).ok());
  EXPECT_FALSE(kserve::ParseHeaderLength("21", 20).ok());
  EXPECT_FALSE(kserve::ParseHeaderLength("", 20).ok());
}

TEST(KserveCodecTest, SplitBinaryBytesRejectsTruncatedElements) {
  std::string raw = LengthPrefixed({"abcd"});
  EXPECT_FALSE(kserve::SplitBinaryBytes(raw.substr(0, 6), "x").ok());
  EXPECT_FALSE(kserve::SplitBinaryBytes(raw.substr(0, 2), "x").ok());
  EXPECT_TRUE(kserve::SplitBinaryBytes("", "x")->empty());
}

TEST(KserveCodecTest, EncodesJsonAndBinaryOutputs) {
  const std::vector<float> data = {0.25f, -1.5f, 3.0f, 0.1f};
  kserve::OutputTensor t{"embedding", "FP32", {2, 2}, data, false};
  auto json_resp = kserve::EncodeInferResponse("m", "1", std::string("id7"), std::span(&t, 1));
  EXPECT_FALSE(json_resp.json_header_bytes);
  auto j = nlohmann::json::parse(json_resp.body);
  EXPECT_EQ(j["id"], "id7");
  EXPECT_EQ(j["model_name"], "m");
  EXPECT_EQ(j["model_version"], "1");
  EXPECT_EQ(j["outputs"][0]["shape"], nlohmann::json::array({2, 2}));
  std::vector<float> back = j["outputs"][0]["data"].get<std::vector<float>>();
  EXPECT_EQ(back, data);  // shortest round-trip form is exact

  t.binary = true;
  auto bin = kserve::EncodeInferResponse("m", "1", std::nullopt, std::span(&t, 1));
  ASSERT_TRUE(bin.json_header_bytes);
  auto header = nlohmann::json::parse(bin.body.substr(0, *bin.json_header_bytes));
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data_size"], 16);
  EXPECT_FALSE(header["outputs"][0].contains("data"));
  EXPECT_EQ(bin.body.substr(*bin.json_header_bytes), FloatBytes(data));
}

TEST(KserveCodecTest, NonFiniteFloatsBecomeNull) {
  std::string s;
  const float vals[] = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  kserve::AppendJsonFloats(s, vals);
  EXPECT_EQ(s, "[1,null]");
}

}  // namespace
}  // namespace clipserve::server

// ServerConfig is clip-server's one config struct; Validate/ToServiceOptions
// are what main() calls after parsing flags.
namespace clipserve::server {
namespace {

TEST(ServerConfigTest, DefaultsValidateAndBatchOnlyKserve) {
  ServerConfig c;
  ASSERT_TRUE(c.Validate().ok());
  auto o = c.ToServiceOptions();
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->rest_batching.dynamic_batching);
  EXPECT_TRUE(o->kserve_batching.dynamic_batching);
  EXPECT_EQ(o->kserve_batching.max_batch_size, 32);
  // Ready means warm: every batch shape before readiness, none after.
  EXPECT_EQ(o->warmup_batch_sizes, (std::vector<int>{1, 2, 4, 8, 16, 32}));
  EXPECT_TRUE(o->background_warmup_batch_sizes.empty());
}

TEST(ServerConfigTest, WarmupSizesAndTheOptInBackgroundWarmup) {
  ServerConfig c;
  c.max_batch_size = 24;
  c.preferred_batch_sizes = {12};
  auto all = c.ToServiceOptions();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->warmup_batch_sizes, (std::vector<int>{1, 2, 4, 8, 12, 16, 24}));  // + preferred, + the cap
  c.background_warmup = true;
  auto bg = c.ToServiceOptions();
  ASSERT_TRUE(bg.ok());
  EXPECT_EQ(bg->warmup_batch_sizes, (std::vector<int>{1}));
  EXPECT_EQ(bg->background_warmup_batch_sizes, (std::vector<int>{2, 4, 8, 12, 16, 24}));
  c.warmup_batch_sizes = {1, 8};
  auto some = c.ToServiceOptions();
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->warmup_batch_sizes, (std::vector<int>{1, 8}));
  EXPECT_EQ(some->background_warmup_batch_sizes, (std::vector<int>{2, 4, 12, 16, 24}));
  c.background_warmup = false;
  auto only = c.ToServiceOptions();
  ASSERT_TRUE(only.ok());
  EXPECT_EQ(only->warmup_batch_sizes, (std::vector<int>{1, 8}));  // exactly the sizes asked for
  EXPECT_TRUE(only->background_warmup_batch_sizes.empty());
}

TEST(ServerConfigTest, TritonConfigFileDrivesKserveBatching) {
  ServerConfig c;
  c.model_config_path = std::string(CLIPSERVE_SOURCE_DIR) + "/tests/batching/fixtures/seed-config.pbtxt";
  auto o = c.ToServiceOptions();
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->kserve_batching.preferred_batch_sizes, (std::vector<int>{4, 8, 16, 32}));
  EXPECT_EQ(o->kserve_batching.max_queue_delay.count(), 10000);
  EXPECT_EQ(o->kserve_batching.max_batch_size, 32);
  EXPECT_EQ(o->instance_count, 1);
  c.model_config_path = "/nonexistent/config.pbtxt";
  EXPECT_FALSE(c.Validate().ok());
}

TEST(ServerConfigTest, RejectsBadValuesNamingTheFlag) {
  auto bad = [](auto mutate, std::string_view flag) {
    ServerConfig c;
    mutate(c);
    Status st = c.Validate();
    EXPECT_FALSE(st.ok()) << flag;
    EXPECT_NE(st.message().find(flag), std::string::npos) << st.message();
  };
  bad([](ServerConfig& c) { c.rest_api = c.kserve_api = false; }, "--api");
  bad([](ServerConfig& c) { c.http_port = 70000; }, "--http-port");
  bad([](ServerConfig& c) { c.grpc_port = 70000; }, "--grpc-port");
  bad([](ServerConfig& c) { c.grpc_port = -2; }, "--grpc-port");  // -1 is valid: off
  {
    ServerConfig off;
    off.grpc_port = -1;
    EXPECT_TRUE(off.Validate().ok());
  }
  bad([](ServerConfig& c) { c.max_batch_size = 0; }, "--max-batch-size");
  bad([](ServerConfig& c) { c.warmup_batch_sizes = {64}; }, "--warmup-batch-sizes");
  bad([](ServerConfig& c) { c.http_threads = -1; }, "--threads-http");  // 0 is valid: automatic
  bad([](ServerConfig& c) { c.io_threads = 0; }, "--io-threads");
  bad([](ServerConfig& c) { c.header_timeout_s = 0; }, "--header-timeout-s");
  bad([](ServerConfig& c) { c.keep_alive_timeout_s = 0; }, "--keep-alive-timeout-s");
  bad([](ServerConfig& c) { c.max_connections = 0; }, "--max-connections");
  bad([](ServerConfig& c) { c.preferred_batch_sizes = {64}; }, "preferred_batch_size");
}

// Echoed client bytes always make valid UTF-8 JSON: valid sequences kept,
// anything else (stray continuation bytes, overlongs, surrogates, truncated
// sequences, bytes above U+10FFFF) replaced by U+FFFD.
TEST(JsonQuoteTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  for (std::string bad : {std::string("/nope\xff"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                          std::string("\xe2\x82"), std::string("\xf4\x90\x80\x80"), std::string("\x80x")}) {
    const std::string q = JsonQuote(bad);
    EXPECT_NE(q.find("\xef\xbf\xbd"), std::string::npos) << q;  // U+FFFD
    const auto parsed = nlohmann::json::parse(q, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << q;
    EXPECT_NO_THROW((void)parsed.dump());  // strict dump: valid UTF-8
  }
}

}  // namespace
}  // namespace clipserve::server
