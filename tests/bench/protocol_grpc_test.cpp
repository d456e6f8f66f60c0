// The KServe v2 gRPC protocol of the runner: the messages it builds, read
// back with our generated classes, and the answers it accepts or refuses;
// gRPC target parsing, --protocols parsing, error keys and the compare
// guard against calling HTTP and gRPC runs the same setting.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "bench/analysis.h"
#include "bench/compare.h"
#include "bench/config.h"
#include "bench/protocol.h"
#include "test_images.h"
#include "bench/transport.h"
#include "grpc_service.pb.h"

namespace clipserve::bench {
namespace {

using testing::Img;

HttpResponse Answer(const google::protobuf::Message& m) {
  HttpResponse r;
  r.body = m.SerializeAsString();
  return r;
}

TEST(KserveGrpcProtocol, RawTensorRequest) {
  auto p = MakeKserveGrpcProtocol(TritonInput::kTensor, "m");
  EXPECT_EQ(p->transport(), Transport::kGrpc);
  EXPECT_EQ(p->model(), "m");
  InputImage a = Img({1}, 2, 0.25f), b = Img({2}, 2, 0.75f);
  const InputImage* imgs[] = {&a, &b};
  auto req = p->Build(imgs);
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->path, "/inference.GRPCInferenceService/ModelInfer");
  EXPECT_EQ(req->images, 2);
  inference::ModelInferRequest m;
  ASSERT_TRUE(m.ParseFromString(req->body));
  EXPECT_EQ(m.model_name(), "m");
  ASSERT_EQ(m.inputs_size(), 1);
  EXPECT_EQ(m.inputs(0).name(), "image");
  EXPECT_EQ(m.inputs(0).datatype(), "FP32");
  ASSERT_EQ(m.inputs(0).shape_size(), 4);
  EXPECT_EQ(m.inputs(0).shape(0), 2);
  EXPECT_EQ(m.inputs(0).shape(3), 2);
  EXPECT_FALSE(m.inputs(0).has_contents());
  ASSERT_EQ(m.raw_input_contents_size(), 1);
  ASSERT_EQ(m.raw_input_contents(0).size(), 2u * 12 * 4);
  float first = 0, last = 0;
  std::memcpy(&first, m.raw_input_contents(0).data(), 4);
  std::memcpy(&last, m.raw_input_contents(0).data() + m.raw_input_contents(0).size() - 4, 4);
  EXPECT_EQ(first, 0.25f);
  EXPECT_EQ(last, 0.75f);
  ASSERT_EQ(m.outputs_size(), 1);
  EXPECT_EQ(m.outputs(0).name(), "embedding");
}

TEST(KserveGrpcProtocol, TypedTensorAndImageBytesRequests) {
  InputImage a = Img({9, 8, 7}, 2, 0.5f), b = Img({6}, 2, 0.5f);
  const InputImage* imgs[] = {&a, &b};
  auto typed = MakeKserveGrpcProtocol(TritonInput::kTensorJson, "m")->Build(imgs);
  ASSERT_TRUE(typed.ok());
  inference::ModelInferRequest t;
  ASSERT_TRUE(t.ParseFromString(typed->body));
  EXPECT_EQ(t.raw_input_contents_size(), 0);
  EXPECT_EQ(t.inputs(0).contents().fp32_contents_size(), 24);

  auto p = MakeKserveGrpcProtocol(TritonInput::kImageBytes, "m");
  EXPECT_EQ(p->model(), "m_image");
  p->SetImageBytesRank(2);
  auto req = p->Build(imgs);
  ASSERT_TRUE(req.ok());
  inference::ModelInferRequest m;
  ASSERT_TRUE(m.ParseFromString(req->body));
  EXPECT_EQ(m.model_name(), "m_image");
  EXPECT_EQ(m.inputs(0).name(), "image_bytes");
  EXPECT_EQ(m.inputs(0).datatype(), "BYTES");
  ASSERT_EQ(m.inputs(0).shape_size(), 2);
  EXPECT_EQ(m.inputs(0).shape(1), 1);
  EXPECT_EQ(m.raw_input_contents(0), std::string("\x03\x00\x00\x00\x09\x08\x07\x01\x00\x00\x00\x06", 12));
}

TEST(KserveGrpcProtocol, ParsesRawAndTypedAnswersAndRefusesWrongOnes) {
  auto p = MakeKserveGrpcProtocol(TritonInput::kTensor, "m");
  inference::ModelInferResponse raw;
  auto* other = raw.add_outputs();  // an output before ours: raw contents are in output order
  other->set_name("other");
  other->set_datatype("FP32");
  other->add_shape(1);
  raw.add_raw_output_contents(std::string(4, '\0'));
  auto* out = raw.add_outputs();
  out->set_name("embedding");
  out->set_datatype("FP32");
  out->add_shape(2);
  out->add_shape(2);
  const float v[] = {1, 2, 3, 4};
  raw.add_raw_output_contents(std::string(reinterpret_cast<const char*>(v), sizeof v));
  auto e = p->Parse(Answer(raw), 2);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->rows, 2);
  EXPECT_EQ(e->dim, 2);
  EXPECT_EQ(e->values, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_FALSE(p->Parse(Answer(raw), 3).ok());  // wrong row count

  inference::ModelInferResponse typed;
  auto* t = typed.add_outputs();
  t->set_name("embedding");
  t->set_datatype("FP32");
  t->add_shape(1);
  t->add_shape(3);
  for (float x : {0.5f, 0.25f, 0.125f}) t->mutable_contents()->add_fp32_contents(x);
  auto te = p->Parse(Answer(typed), 1);
  ASSERT_TRUE(te.ok());
  EXPECT_EQ(te->values, (std::vector<float>{0.5f, 0.25f, 0.125f}));

  raw.mutable_raw_output_contents(1)->pop_back();  // 15 bytes for 4 floats
  EXPECT_FALSE(p->Parse(Answer(raw), 2).ok());
  HttpResponse junk;
  junk.body = "\xff\xff\xff";
  EXPECT_FALSE(p->Parse(junk, 1).ok());
  EXPECT_FALSE(p->Parse(Answer(inference::ModelInferResponse()), 1).ok());  // no embedding output
}

TEST(KserveGrpcProtocol, HealthShapeAndStatistics) {
  auto p = MakeKserveGrpcProtocol(TritonInput::kTensor, "m");
  EXPECT_EQ(p->HealthRequest(Protocol::Health::kLive).path, "/inference.GRPCInferenceService/ServerLive");
  inference::ServerReadyResponse ready;
  EXPECT_FALSE(p->HealthYes(Protocol::Health::kReady, Answer(ready)));  // OK status but ready=false
  ready.set_ready(true);
  EXPECT_TRUE(p->HealthYes(Protocol::Health::kReady, Answer(ready)));

  inference::ModelMetadataResponse meta;
  auto* in = meta.add_inputs();
  for (std::int64_t d : {-1, 3, 224, 224}) in->add_shape(d);
  auto shape = p->ParseInputShape(Answer(meta));
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(*shape, (std::vector<std::int64_t>{-1, 3, 224, 224}));

  inference::ModelStatisticsResponse stats;
  for (const char* version : {"1", "2"}) {
    auto* s = stats.add_model_stats();
    s->set_name("m");
    s->set_version(version);
    s->set_inference_count(10);
    s->set_execution_count(4);
    s->mutable_inference_stats()->mutable_success()->set_count(5);
    s->mutable_inference_stats()->mutable_success()->set_ns(2000);
    s->mutable_inference_stats()->mutable_queue()->set_ns(1000);
  }
  stats.add_model_stats()->set_name("other");
  auto c = p->ParseStats(Answer(stats));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->request_success, 10);     // summed over versions
  EXPECT_EQ(*c->request_duration_us, 4);  // ns -> us
  EXPECT_EQ(*c->queue_duration_us, 2);
  EXPECT_EQ(*c->inference_count, 20);
  EXPECT_EQ(*c->exec_count, 8);
  inference::ModelStatisticsResponse none;
  EXPECT_FALSE(p->ParseStats(Answer(none)).ok());
}

TEST(KserveGrpcProtocol, MetadataAsTheHttpApisJson) {
  auto p = MakeKserveGrpcProtocol(TritonInput::kTensor, "m");
  const auto reqs = p->MetadataRequests();
  ASSERT_EQ(reqs.size(), 3u);
  inference::ModelConfigResponse cfg;
  cfg.mutable_config()->set_name("m");
  cfg.mutable_config()->set_max_batch_size(32);
  auto j = p->MetadataJson(reqs[2], Answer(cfg));
  ASSERT_TRUE(j.ok()) << j.status().message();
  const auto parsed = nlohmann::json::parse(*j);
  EXPECT_EQ(parsed["name"], "m");  // unwrapped from ModelConfigResponse.config
  EXPECT_EQ(parsed["max_batch_size"], 32);  // proto field names, as the HTTP API spells them
}

TEST(Transport, ParsesTargets) {
  auto g = ParseTarget(Transport::kGrpc, "localhost:8004");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->endpoint.host, "localhost");
  EXPECT_EQ(g->endpoint.port, 8004);
  EXPECT_TRUE(ParseTarget(Transport::kGrpc, "grpc://127.0.0.1:9/").ok());
  EXPECT_FALSE(ParseTarget(Transport::kGrpc, "http://localhost:8004").ok());
  EXPECT_FALSE(ParseTarget(Transport::kGrpc, "localhost").ok());
  EXPECT_FALSE(ParseTarget(Transport::kGrpc, "localhost:0").ok());
  auto h = ParseTarget(Transport::kHttp, "http://localhost:8003");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->endpoint.port, 8003);
  EXPECT_FALSE(ParseTarget(Transport::kHttp, "localhost:8003x").ok());
}

TEST(Transport, ProtocolsFlagAndErrorKeys) {
  auto both = ParseProtocols("http,grpc");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(*both, (std::vector<Transport>{Transport::kHttp, Transport::kGrpc}));
  EXPECT_FALSE(ParseProtocols("http,http").ok());
  EXPECT_FALSE(ParseProtocols("http,quic").ok());
  EXPECT_FALSE(ParseProtocols("").ok());
  EXPECT_EQ(FailureKey(FailureKind::kRpcStatus, 14), "grpc_UNAVAILABLE");
  EXPECT_EQ(FailureKey(FailureKind::kRpcStatus, 3), "grpc_INVALID_ARGUMENT");
  BenchConfig c;
  c.triton_protocol = "grpc";
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.triton_protocol = "udp";
  EXPECT_FALSE(ValidateConfig(c).ok());
  c.triton_protocol = "http";
  c.protocols = "http,grpc";
  c.backend = "pytorch";
  EXPECT_FALSE(ValidateConfig(c).ok());
}

TEST(CompareGuard, WarnsWhenTransportsDiffer) {
  nlohmann::json http_doc = {{"triton", {{"transport", "http"}, {"single", {{"p50_ms", 1.0}}}}}};
  nlohmann::json grpc_doc = {{"triton", {{"transport", "grpc"}, {"single", {{"p50_ms", 2.0}}}}}};
  nlohmann::json old_doc = {{"triton", {{"single", {{"p50_ms", 1.0}}}}}};  // before the field: HTTP
  auto has_transport_warning = [](const std::vector<std::string>& w) {
    for (const auto& s : w) {
      if (s.find("Transports differ") != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_transport_warning(FairnessWarnings(CollectBackends({{"a", &http_doc}, {"b", &grpc_doc}}))));
  EXPECT_FALSE(has_transport_warning(FairnessWarnings(CollectBackends({{"a", &http_doc}, {"b", &old_doc}}))));
}

}  // namespace
}  // namespace clipserve::bench
