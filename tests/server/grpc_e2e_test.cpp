// End-to-end: KServe v2 over gRPC on the real clip-server binary (tiny
// random-weight ViT, ephemeral loopback ports), through a client built with
// Debian's grpc++ from our own .proto files: every RPC, both input forms of
// both models, the bad inputs of the HTTP suite (each a clear status, and
// the server keeps serving), parity with HTTP KServe, the statistics and
// metrics, and the drain at SIGTERM.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <future>
#include <limits>
#include <map>
#include <regex>

#include "grpc_service.grpc.pb.h"
#include "server_process.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using nlohmann::json;
using testing::FloatBytes;
using testing::LengthPrefixed;
using testing::MakeJpeg;
using testing::ServerProcess;
using Stub = inference::GRPCInferenceService::Stub;

constexpr int kTinySize = 32;  // test-tiny: image 32, embed 32
constexpr int kTinyDim = 32;
constexpr int kPixels = 3 * kTinySize * kTinySize;
const std::string kTensorModel = "openclip_vit_b32";
const std::string kImageModel = "openclip_vit_b32_image";

std::vector<std::string> TinyArgs(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--model", "test-tiny", "--weights", "random:1", "--threads", "1",
                                   "--background-warmup", "off", "--precision", "fp32", "--access-log", "off"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::unique_ptr<ServerProcess> StartReady(std::vector<std::string> more = {}) {
  auto p = std::make_unique<ServerProcess>(TinyArgs(std::move(more)));
  p->WaitListening();
  if (p->grpc_port <= 0) throw std::runtime_error("no grpc= in the listening line:\n" + p->Stderr());
  p->WaitForStatus(p->http_port, "/v2/health/ready", 200);
  return p;
}

std::unique_ptr<Stub> Connect(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
  return inference::GRPCInferenceService::NewStub(channel);
}

// A context with a deadline, so a hung server fails the test instead of hanging it.
std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + timeout);
  return c;
}

std::vector<float> Pixels(int images, float seed) {
  std::vector<float> px(static_cast<size_t>(images) * kPixels);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>(std::fmod(seed + 0.37 * i, 1.0));
  return px;
}

inference::ModelInferRequest TensorRequest(const std::vector<float>& px, bool raw) {
  inference::ModelInferRequest req;
  req.set_model_name(kTensorModel);
  req.set_id("req-7");
  auto* in = req.add_inputs();
  in->set_name("image");
  in->set_datatype("FP32");
  for (std::int64_t d : {static_cast<std::int64_t>(px.size() / kPixels), std::int64_t{3}, std::int64_t{kTinySize},
                         std::int64_t{kTinySize}}) {
    in->add_shape(d);
  }
  if (raw) {
    req.add_raw_input_contents(FloatBytes(px));
  } else {
    for (float v : px) in->mutable_contents()->add_fp32_contents(v);
  }
  req.add_outputs()->set_name("embedding");
  return req;
}

inference::ModelInferRequest ImageRequest(const std::vector<std::string>& images, bool raw) {
  inference::ModelInferRequest req;
  req.set_model_name(kImageModel);
  auto* in = req.add_inputs();
  in->set_name("image_bytes");
  in->set_datatype("BYTES");
  in->add_shape(static_cast<std::int64_t>(images.size()));
  if (raw) {
    req.add_raw_input_contents(LengthPrefixed(images));
  } else {
    for (const auto& s : images) in->mutable_contents()->add_bytes_contents(s);
  }
  return req;
}

struct InferResult {
  grpc::Status status;
  inference::ModelInferResponse response;
};

InferResult Infer(Stub& stub, const inference::ModelInferRequest& req) {
  InferResult r;
  auto ctx = Ctx();
  r.status = stub.ModelInfer(ctx.get(), req, &r.response);
  return r;
}

// The embedding rows of an OK response, checked for shape and unit norm.
std::vector<float> Embeddings(const InferResult& r, int images) {
  EXPECT_TRUE(r.status.ok()) << r.status.error_code() << " " << r.status.error_message();
  if (!r.status.ok()) return {};
  EXPECT_EQ(r.response.outputs_size(), 1);
  EXPECT_EQ(r.response.raw_output_contents_size(), 1);
  if (r.response.outputs_size() != 1 || r.response.raw_output_contents_size() != 1) return {};
  const auto& out = r.response.outputs(0);
  EXPECT_EQ(out.name(), "embedding");
  EXPECT_EQ(out.datatype(), "FP32");
  EXPECT_EQ(std::vector<std::int64_t>(out.shape().begin(), out.shape().end()),
            (std::vector<std::int64_t>{images, kTinyDim}));
  const std::string& bytes = r.response.raw_output_contents(0);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(images) * kTinyDim * sizeof(float));
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  for (int i = 0; i < images && static_cast<size_t>(i + 1) * kTinyDim <= v.size(); ++i) {
    double norm = 0;
    for (int k = 0; k < kTinyDim; ++k) norm += double(v[i * kTinyDim + k]) * v[i * kTinyDim + k];
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4) << "row " << i;
  }
  return v;
}

void ExpectClose(const std::vector<float>& a, const std::vector<float>& b, float tol = 1e-5f) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << i;
}

double MetricValue(const std::string& text, const std::string& series) {
  const auto pos = text.find(series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + series.size() + 1));
}

inference::ModelStatistics Stats(Stub& stub, const std::string& model) {
  inference::ModelStatisticsRequest req;
  req.set_name(model);
  inference::ModelStatisticsResponse res;
  auto ctx = Ctx();
  auto st = stub.ModelStatistics(ctx.get(), req, &res);
  EXPECT_TRUE(st.ok()) << st.error_message();
  if (!st.ok() || res.model_stats_size() != 1) return {};
  return res.model_stats(0);
}

TEST(ServerGrpcE2ETest, HealthMetadataConfigStatisticsAndIndex) {
  auto p = StartReady({"--max-batch-size", "8", "--preferred-batch-size", "4,8", "--max-queue-delay-us", "100",
                       "--instance-count", "1"});
  auto stub = Connect(p->grpc_port);
  {
    inference::ServerLiveResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ServerLive(ctx.get(), {}, &res).ok());
    EXPECT_TRUE(res.live());
  }
  {
    inference::ServerReadyResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ServerReady(ctx.get(), {}, &res).ok());
    EXPECT_TRUE(res.ready());
  }
  for (const auto& model : {kTensorModel, kImageModel}) {
    inference::ModelReadyRequest req;
    req.set_name(model);
    inference::ModelReadyResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelReady(ctx.get(), req, &res).ok()) << model;
    EXPECT_TRUE(res.ready()) << model;
  }
  {
    inference::ModelReadyRequest req;
    req.set_name("nope");
    inference::ModelReadyResponse res;
    auto ctx = Ctx();
    auto st = stub->ModelReady(ctx.get(), req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(st.error_message(), "Request for unknown model: 'nope' is not found");
  }
  {
    inference::ServerMetadataResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ServerMetadata(ctx.get(), {}, &res).ok());
    EXPECT_EQ(res.name(), "triton");
    EXPECT_FALSE(res.version().empty());
    std::vector<std::string> ext(res.extensions().begin(), res.extensions().end());
    EXPECT_NE(std::find(ext.begin(), ext.end(), "statistics"), ext.end());
    EXPECT_NE(std::find(ext.begin(), ext.end(), "model_configuration"), ext.end());
  }
  {
    inference::ModelMetadataRequest req;
    req.set_name(kTensorModel);
    inference::ModelMetadataResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelMetadata(ctx.get(), req, &res).ok());
    EXPECT_EQ(res.name(), kTensorModel);
    ASSERT_EQ(res.versions_size(), 1);
    EXPECT_EQ(res.versions(0), "1");
    ASSERT_EQ(res.inputs_size(), 1);
    EXPECT_EQ(res.inputs(0).name(), "image");
    EXPECT_EQ(res.inputs(0).datatype(), "FP32");
    EXPECT_EQ(std::vector<std::int64_t>(res.inputs(0).shape().begin(), res.inputs(0).shape().end()),
              (std::vector<std::int64_t>{-1, 3, kTinySize, kTinySize}));
    ASSERT_EQ(res.outputs_size(), 1);
    EXPECT_EQ(res.outputs(0).name(), "embedding");
    EXPECT_EQ(std::vector<std::int64_t>(res.outputs(0).shape().begin(), res.outputs(0).shape().end()),
              (std::vector<std::int64_t>{-1, kTinyDim}));
  }
  {
    inference::ModelMetadataRequest req;
    req.set_name(kImageModel);
    inference::ModelMetadataResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelMetadata(ctx.get(), req, &res).ok());
    ASSERT_EQ(res.inputs_size(), 1);
    EXPECT_EQ(res.inputs(0).name(), "image_bytes");
    EXPECT_EQ(res.inputs(0).datatype(), "BYTES");
    EXPECT_EQ(std::vector<std::int64_t>(res.inputs(0).shape().begin(), res.inputs(0).shape().end()),
              (std::vector<std::int64_t>{-1}));
  }
  {
    inference::ModelConfigRequest req;
    req.set_name(kTensorModel);
    inference::ModelConfigResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelConfig(ctx.get(), req, &res).ok());
    const auto& c = res.config();
    EXPECT_EQ(c.name(), kTensorModel);
    EXPECT_EQ(c.max_batch_size(), 8);
    ASSERT_EQ(c.input_size(), 1);
    EXPECT_EQ(c.input(0).data_type(), inference::TYPE_FP32);
    EXPECT_EQ(std::vector<std::int64_t>(c.input(0).dims().begin(), c.input(0).dims().end()),
              (std::vector<std::int64_t>{3, kTinySize, kTinySize}));
    ASSERT_EQ(c.output_size(), 1);
    EXPECT_EQ(c.output(0).dims(0), kTinyDim);
    ASSERT_TRUE(c.has_dynamic_batching());
    EXPECT_EQ(std::vector<int>(c.dynamic_batching().preferred_batch_size().begin(),
                               c.dynamic_batching().preferred_batch_size().end()),
              (std::vector<int>{4, 8}));
    EXPECT_EQ(c.dynamic_batching().max_queue_delay_microseconds(), 100u);
    ASSERT_EQ(c.instance_group_size(), 1);
    EXPECT_EQ(c.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
    EXPECT_EQ(c.instance_group(0).count(), 1);
    EXPECT_EQ(c.parameters().at("precision").string_value(), "fp32");
  }
  {
    inference::ModelConfigRequest req;
    req.set_name(kImageModel);
    inference::ModelConfigResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelConfig(ctx.get(), req, &res).ok());
    EXPECT_EQ(res.config().input(0).data_type(), inference::TYPE_STRING);
  }
  {
    // The same config as the HTTP route gives.
    httplib::Client http("127.0.0.1", p->http_port);
    auto cfg = http.Get("/v2/models/" + kTensorModel + "/config");
    ASSERT_TRUE(cfg && cfg->status == 200);
    const json j = json::parse(cfg->body);
    inference::ModelConfigRequest req;
    req.set_name(kTensorModel);
    inference::ModelConfigResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelConfig(ctx.get(), req, &res).ok());
    EXPECT_EQ(j["max_batch_size"].get<int>(), res.config().max_batch_size());
    EXPECT_EQ(j["parameters"]["compute"]["string_value"].get<std::string>(),
              res.config().parameters().at("compute").string_value());
    EXPECT_EQ(j["dynamic_batching"]["default_queue_policy"]["max_queue_size"].get<std::uint32_t>(),
              res.config().dynamic_batching().default_queue_policy().max_queue_size());
  }
  {
    inference::ModelStatisticsResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ModelStatistics(ctx.get(), {}, &res).ok());
    ASSERT_EQ(res.model_stats_size(), 2);
    EXPECT_EQ(res.model_stats(0).name(), kTensorModel);
    EXPECT_EQ(res.model_stats(1).name(), kImageModel);
  }
  {
    inference::RepositoryIndexResponse res;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->RepositoryIndex(ctx.get(), {}, &res).ok());
    ASSERT_EQ(res.models_size(), 2);
    EXPECT_EQ(res.models(0).state(), "READY");
  }
}

// ModelStreamInfer: every request gets one answer, a failed one an
// error_message (the stream goes on), and the stream ends OK after the
// client half-closes.
TEST(ServerGrpcE2ETest, StreamInferAnswersEveryRequestAndGoesOnAfterAnError) {
  auto p = StartReady();
  auto stub = Connect(p->grpc_port);
  const auto px = Pixels(1, 0.42f);
  const auto unary = Embeddings(Infer(*stub, TensorRequest(px, true)), 1);

  auto ctx = Ctx();
  auto stream = stub->ModelStreamInfer(ctx.get());
  auto good = TensorRequest(px, true);
  good.set_id("a");
  auto bad = TensorRequest(px, true);
  bad.set_id("b");
  bad.mutable_inputs(0)->set_datatype("INT8");
  auto image = ImageRequest({MakeJpeg(33, 21, 4)}, false);
  image.set_id("c");
  ASSERT_TRUE(stream->Write(good));
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(image));
  ASSERT_TRUE(stream->WritesDone());
  std::map<std::string, inference::ModelStreamInferResponse> answers;
  inference::ModelStreamInferResponse res;
  while (stream->Read(&res)) answers[res.infer_response().id()] = res;
  auto st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers["a"].error_message(), "");
  InferResult a{grpc::Status::OK, answers["a"].infer_response()};
  ExpectClose(Embeddings(a, 1), unary, 1e-5f);  // it may share a batch with "c"
  EXPECT_EQ(answers["b"].error_message(),
            "inference input 'image' data-type is 'INT8', but model 'openclip_vit_b32' expects 'FP32'");
  EXPECT_EQ(answers["c"].error_message(), "");
  InferResult c{grpc::Status::OK, answers["c"].infer_response()};
  Embeddings(c, 1);
  // Counted like unary requests.
  EXPECT_EQ(Stats(*stub, kTensorModel).inference_stats().success().count(), 2u);
  EXPECT_EQ(Stats(*stub, kTensorModel).inference_stats().fail().count(), 1u);
  EXPECT_EQ(Stats(*stub, kImageModel).inference_stats().success().count(), 1u);
}

// FP32 as raw_input_contents and as typed fp32_contents: the same
// embeddings; the statistics and metrics count them like HTTP requests.
TEST(ServerGrpcE2ETest, TensorModelRawAndTypedContentsAgree) {
  auto p = StartReady();
  auto stub = Connect(p->grpc_port);
  const auto px = Pixels(2, 0.1f);
  const auto before = Stats(*stub, kTensorModel);

  auto raw = Infer(*stub, TensorRequest(px, /*raw=*/true));
  const auto a = Embeddings(raw, 2);
  EXPECT_EQ(raw.response.model_name(), kTensorModel);
  EXPECT_EQ(raw.response.model_version(), "1");
  EXPECT_EQ(raw.response.id(), "req-7");
  const auto b = Embeddings(Infer(*stub, TensorRequest(px, /*raw=*/false)), 2);
  ExpectClose(a, b, 0.0f);
  // The two images differ, so the rows do.
  ASSERT_EQ(a.size(), 2u * kTinyDim);
  EXPECT_NE(std::vector<float>(a.begin(), a.begin() + kTinyDim), std::vector<float>(a.begin() + kTinyDim, a.end()));

  const auto after = Stats(*stub, kTensorModel);
  EXPECT_EQ(after.inference_stats().success().count(), before.inference_stats().success().count() + 2);
  EXPECT_EQ(after.inference_count(), before.inference_count() + 4);
  EXPECT_GT(after.inference_stats().compute_infer().ns(), before.inference_stats().compute_infer().ns());

  httplib::Client met("127.0.0.1", p->metrics_port);
  auto m = met.Get("/metrics");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_EQ(MetricValue(m->body, "nv_inference_request_success{model=\"" + kTensorModel + "\",version=\"1\"}"),
            static_cast<double>(after.inference_stats().success().count()));
  EXPECT_EQ(MetricValue(m->body, "clipserve_grpc_requests_total{method=\"ModelInfer\",code=\"OK\"}"), 2);
}

// Image bytes, raw (length-prefixed) and typed (bytes_contents, raw or
// base64): one embedding per image, the same for every form.
TEST(ServerGrpcE2ETest, ImageModelRawAndTypedBytesAgree) {
  auto p = StartReady();
  auto stub = Connect(p->grpc_port);
  const std::vector<std::string> images = {MakeJpeg(40, 30, 3), MakeJpeg(64, 64, 5)};
  ASSERT_FALSE(images[0].empty());
  const auto raw = Embeddings(Infer(*stub, ImageRequest(images, true)), 2);
  const auto typed = Embeddings(Infer(*stub, ImageRequest(images, false)), 2);
  const auto b64 = Embeddings(Infer(*stub, ImageRequest({testing::Base64(images[0]), testing::Base64(images[1])}, false)), 2);
  ExpectClose(raw, typed, 0.0f);
  ExpectClose(raw, b64, 0.0f);
  // [N,1] is accepted too, as over HTTP.
  auto req = ImageRequest({images[0]}, true);
  req.mutable_inputs(0)->add_shape(1);
  const auto one = Embeddings(Infer(*stub, req), 1);
  // Batch 1 against a row of batch 2: the GEMMs differ in the last bits.
  ExpectClose(one, std::vector<float>(raw.begin(), raw.begin() + kTinyDim), 1e-5f);
  EXPECT_EQ(Stats(*stub, kImageModel).inference_stats().success().count(), 4u);
}

// The same image gives the same embedding over gRPC and over HTTP KServe,
// for both models.
TEST(ServerGrpcE2ETest, SameEmbeddingOverGrpcAndHttp) {
  auto p = StartReady();
  auto stub = Connect(p->grpc_port);
  httplib::Client http("127.0.0.1", p->http_port);

  const auto px = Pixels(1, 0.55f);
  const auto over_grpc = Embeddings(Infer(*stub, TensorRequest(px, true)), 1);
  const std::string tail = FloatBytes(px);
  json h = {{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {1, 3, kTinySize, kTinySize}},
                         {"parameters", {{"binary_data_size", tail.size()}}}}}},
            {"outputs", {{{"name", "embedding"}, {"parameters", {{"binary_data", true}}}}}}};
  const std::string hs = h.dump();
  auto r = http.Post("/v2/models/" + kTensorModel + "/infer", {{"Inference-Header-Content-Length", std::to_string(hs.size())}},
                     hs + tail, "application/octet-stream");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  const size_t json_len = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  const std::string out = r->body.substr(json_len);
  std::vector<float> over_http(out.size() / sizeof(float));
  std::memcpy(over_http.data(), out.data(), over_http.size() * sizeof(float));
  ExpectClose(over_grpc, over_http, 0.0f);

  const std::string jpeg = MakeJpeg(50, 37, 11);
  const auto img_grpc = Embeddings(Infer(*stub, ImageRequest({jpeg}, true)), 1);
  const std::string itail = LengthPrefixed({jpeg});
  json ih = {{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {1}},
                          {"parameters", {{"binary_data_size", itail.size()}}}}}}};
  const std::string ihs = ih.dump();
  auto ir = http.Post("/v2/models/" + kImageModel + "/infer", {{"Inference-Header-Content-Length", std::to_string(ihs.size())}},
                      ihs + itail, "application/octet-stream");
  ASSERT_TRUE(ir && ir->status == 200) << (ir ? ir->body : "no answer");
  const json ij = json::parse(ir->body);
  const auto img_http = ij["outputs"][0]["data"].get<std::vector<float>>();
  ExpectClose(img_grpc, img_http, 1e-6f);
}

// Each bad request gets a clear status (the HTTP suite's cases), is counted
// as a failure of its model, and the server keeps serving.
TEST(ServerGrpcE2ETest, BadRequestsGetClearStatusesAndTheServerKeepsServing) {
  auto p = StartReady({"--max-body-bytes", "65536", "--max-images-per-request", "4"});
  auto stub = Connect(p->grpc_port);
  const auto good = Pixels(1, 0.3f);
  const auto expected = Embeddings(Infer(*stub, TensorRequest(good, true)), 1);
  ASSERT_FALSE(expected.empty());

  struct Case {
    std::string what;
    inference::ModelInferRequest request;
    grpc::StatusCode code;
    std::string message;  // a substring of the status message
    std::string counted_in;  // the model whose failures count it ("" = none)
  };
  std::vector<Case> cases;
  {
    auto r = TensorRequest(good, true);
    r.set_model_name("nope");
    cases.push_back({"unknown model", r, grpc::StatusCode::NOT_FOUND, "Request for unknown model: 'nope' is not found", ""});
  }
  {
    auto r = TensorRequest(good, true);
    r.set_model_version("7");
    cases.push_back({"unknown version", r, grpc::StatusCode::NOT_FOUND, "version 7 is not found", ""});
  }
  {
    auto r = TensorRequest(good, true);
    r.mutable_inputs(0)->set_shape(2, 16);
    cases.push_back({"wrong shape", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected shape for input 'image' for model 'openclip_vit_b32'. Expected [-1,3,32,32], got [1,3,16,32]",
                     kTensorModel});
  }
  {
    auto r = TensorRequest(good, true);
    r.mutable_inputs(0)->set_datatype("FP16");
    cases.push_back({"wrong datatype", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "inference input 'image' data-type is 'FP16', but model 'openclip_vit_b32' expects 'FP32'", kTensorModel});
  }
  {
    auto r = TensorRequest(good, true);
    r.mutable_inputs(0)->set_name("pixels");
    cases.push_back({"wrong input name", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected inference input 'pixels' for model 'openclip_vit_b32'", kTensorModel});
  }
  {
    auto r = TensorRequest(good, true);
    r.mutable_outputs(0)->set_name("logits");
    cases.push_back({"wrong output name", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected inference output 'logits'", kTensorModel});
  }
  {
    auto r = TensorRequest(good, true);
    r.mutable_raw_input_contents(0)->resize(good.size() * sizeof(float) - 4);
    cases.push_back({"raw bytes short", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected total byte size 12284 for input 'image', expecting 12288", kTensorModel});
  }
  {
    auto r = TensorRequest(good, false);
    r.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast();
    cases.push_back({"typed count short", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected number of elements 3071 for input 'image', expecting 3072", kTensorModel});
  }
  {
    auto px = good;
    px[5] = std::numeric_limits<float>::quiet_NaN();
    cases.push_back({"non-finite", TensorRequest(px, true), grpc::StatusCode::INVALID_ARGUMENT, "input 'image'", kTensorModel});
  }
  {
    auto r = TensorRequest(good, true);
    r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
    cases.push_back({"raw and typed", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "contents field must not be specified when using raw_input_contents", kTensorModel});
  }
  {
    // 6 x 12 KiB: over --max-body-bytes 65536, refused by gRPC before parsing.
    cases.push_back({"oversize", TensorRequest(Pixels(6, 0.2f), true), grpc::StatusCode::RESOURCE_EXHAUSTED, "", ""});
  }
  {
    cases.push_back({"too many images", TensorRequest(Pixels(5, 0.2f), false), grpc::StatusCode::INVALID_ARGUMENT,
                     "inference request batch-size must be <= 4 for 'openclip_vit_b32'", kTensorModel});
  }
  {
    cases.push_back({"not an image", ImageRequest({"definitely not a jpeg"}, false), grpc::StatusCode::INVALID_ARGUMENT,
                     "image 0", kImageModel});
  }
  {
    auto r = ImageRequest({MakeJpeg(8, 8, 1)}, true);
    r.mutable_inputs(0)->set_shape(0, 2);
    cases.push_back({"bytes count mismatch", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected number of string elements 1 for input 'image_bytes', expecting 2", kImageModel});
  }
  {
    auto r = ImageRequest({MakeJpeg(8, 8, 1)}, true);
    r.mutable_raw_input_contents(0)->resize(6);
    cases.push_back({"truncated element", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "element 0 of BYTES input 'image_bytes' claims", kImageModel});
  }
  {
    auto r = ImageRequest({MakeJpeg(8, 8, 1)}, true);
    r.mutable_inputs(0)->add_shape(3);
    cases.push_back({"bytes wrong shape", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "unexpected shape for input 'image_bytes' for model 'openclip_vit_b32_image'. Expected [-1], got [1,3]",
                     kImageModel});
  }

  std::map<std::string, std::uint64_t> failures;
  for (const auto& c : cases) {
    if (!c.counted_in.empty()) ++failures[c.counted_in];
    auto r = Infer(*stub, c.request);
    EXPECT_EQ(r.status.error_code(), c.code) << c.what << ": " << r.status.error_message();
    if (!c.message.empty()) {
      EXPECT_NE(r.status.error_message().find(c.message), std::string::npos) << c.what << ": " << r.status.error_message();
    }
    // Still serving, with the same answer as before.
    ExpectClose(Embeddings(Infer(*stub, TensorRequest(good, true)), 1), expected, 0.0f);
  }
  for (const auto& [model, n] : failures) {
    EXPECT_EQ(Stats(*stub, model).inference_stats().fail().count(), n) << model;
  }
  EXPECT_TRUE(p->Alive());
}

// A client that cancels a stream with requests queued: the server finishes
// them, ends the stream, and goes on serving.
TEST(ServerGrpcE2ETest, CancelledStreamWithRequestsQueuedLeavesTheServerServing) {
  auto p = StartReady({"--max-queue-delay-us", "300000"});
  auto stub = Connect(p->grpc_port);
  for (int round = 0; round < 3; ++round) {
    auto ctx = Ctx();
    auto stream = stub->ModelStreamInfer(ctx.get());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(TensorRequest(Pixels(1, 0.1f * i), true)));
    ctx->TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  httplib::Client met("127.0.0.1", p->metrics_port);
  const std::string pending = "nv_inference_pending_request_count{model=\"" + kTensorModel + "\",version=\"1\"}";
  EXPECT_TRUE(testing::WaitUntil([&] {
    auto m = met.Get("/metrics");
    return m && MetricValue(m->body, pending) == 0;
  }, std::chrono::seconds(10)));
  Embeddings(Infer(*stub, TensorRequest(Pixels(1, 0.5f), true)), 1);
  EXPECT_TRUE(p->Alive());
}

// SIGTERM with RPCs queued (a 5 s batching delay holds them): every one is
// answered OK, streams end OK, new RPCs are refused, and the server exits 0
// without waiting out the delay or the drain timeout.
TEST(ServerGrpcE2ETest, SigtermAnswersEveryRpcInFlight) {
  auto p = StartReady({"--max-queue-delay-us", "5000000", "--drain-timeout-s", "20"});
  const int port = p->grpc_port;
  const int kRpcs = 4;
  // Beside them a stream with one request in flight and an idle stream:
  // the first is answered, and neither holds the drain until its deadline.
  auto stream_stub = Connect(port);
  auto busy_ctx = Ctx();
  auto busy = stream_stub->ModelStreamInfer(busy_ctx.get());
  auto streamed = TensorRequest(Pixels(1, 0.9f), true);
  streamed.set_id("streamed");
  ASSERT_TRUE(busy->Write(streamed));
  auto idle_ctx = Ctx();
  auto idle = stream_stub->ModelStreamInfer(idle_ctx.get());
  std::vector<std::future<InferResult>> results;
  for (int i = 0; i < kRpcs; ++i) {
    results.push_back(std::async(std::launch::async, [port, i] {
      auto stub = Connect(port);
      if (i % 2) return Infer(*stub, ImageRequest({MakeJpeg(30, 30, i)}, true));
      return Infer(*stub, TensorRequest(Pixels(1, 0.1f * i), true));
    }));
  }
  httplib::Client met("127.0.0.1", p->metrics_port);
  auto pending = [&] {
    auto m = met.Get("/metrics");
    if (!m) return -1.0;
    return MetricValue(m->body, "nv_inference_pending_request_count{model=\"" + kTensorModel + "\",version=\"1\"}") +
           MetricValue(m->body, "nv_inference_pending_request_count{model=\"" + kImageModel + "\",version=\"1\"}");
  };
  ASSERT_TRUE(testing::WaitUntil([&] { return pending() == kRpcs + 1; }, std::chrono::seconds(10)))
      << "the RPCs were not queued in time";
  const auto t0 = std::chrono::steady_clock::now();
  p->Signal(SIGTERM);
  for (int i = 0; i < kRpcs; ++i) {
    auto r = results[i].get();
    EXPECT_TRUE(r.status.ok()) << i << ": " << r.status.error_code() << " " << r.status.error_message();
    if (r.status.ok()) Embeddings(r, 1);
  }
  inference::ModelStreamInferResponse answer;
  ASSERT_TRUE(busy->Read(&answer)) << "the streamed request was not answered";
  EXPECT_EQ(answer.error_message(), "");
  EXPECT_EQ(answer.infer_response().id(), "streamed");
  EXPECT_FALSE(busy->Read(&answer));
  EXPECT_TRUE(busy->Finish().ok());
  EXPECT_FALSE(idle->Read(&answer));
  EXPECT_TRUE(idle->Finish().ok());
  // A new RPC now is refused (the listener is closing or closed).
  {
    auto stub = Connect(port);
    auto ctx = Ctx(std::chrono::seconds(5));
    inference::ServerReadyResponse res;
    auto st = stub->ServerReady(ctx.get(), {}, &res);
    EXPECT_TRUE(!st.ok() || !res.ready()) << "ready during the drain";
  }
  auto code = p->WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "clip-server did not exit after SIGTERM";
  EXPECT_EQ(*code, 0) << p->Stderr();
  // Exited because the drain finished, not at --drain-timeout-s (20 s); not
  // a speed bound (5 s here failed at 5.2 s on a loaded machine).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15)) << p->Stderr();
}

// --grpc-port -1 and --api rest leave gRPC off; a port in use fails the start
// with a clear message.
// --api-key over gRPC: ModelInfer, each streamed request and RepositoryIndex
// need the key in the metadata (either form), else UNAUTHENTICATED (a stream
// answers each request with the refusal and goes on); health and metadata
// stay open.
TEST(ServerGrpcE2ETest, ApiKeyGuardsInferAndRepositoryIndex) {
  const std::string key = "grpc-key-42";
  auto p = StartReady({"--api-key", key});
  auto stub = Connect(p->grpc_port);
  const auto req = TensorRequest(Pixels(1, 0.3f), true);
  auto with = [&](const char* name, const std::string& value) {
    auto c = Ctx();
    if (name) c->AddMetadata(name, value);
    return c;
  };
  for (auto [name, value] : std::vector<std::pair<const char*, std::string>>{
           {nullptr, ""}, {"authorization", "Bearer " + key + "!"}, {"x-api-key", key.substr(1)}}) {
    auto c = with(name, value);
    inference::ModelInferResponse res;
    auto st = stub->ModelInfer(c.get(), req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    auto ci = with(name, value);
    inference::RepositoryIndexRequest ireq;
    inference::RepositoryIndexResponse ires;
    EXPECT_EQ(stub->RepositoryIndex(ci.get(), ireq, &ires).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  for (auto [name, value] : std::vector<std::pair<const char*, std::string>>{{"authorization", "Bearer " + key},
                                                                            {"x-api-key", key}}) {
    auto c = with(name, value);
    inference::ModelInferResponse res;
    auto st = stub->ModelInfer(c.get(), req, &res);
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  {
    auto c = Ctx();
    inference::ServerReadyRequest rreq;
    inference::ServerReadyResponse rres;
    ASSERT_TRUE(stub->ServerReady(c.get(), rreq, &rres).ok());
    EXPECT_TRUE(rres.ready());
  }
  {
    auto c = Ctx();  // a stream without the key: each request refused, the stream ends OK
    auto stream = stub->ModelStreamInfer(c.get());
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->WritesDone());
    inference::ModelStreamInferResponse res;
    ASSERT_TRUE(stream->Read(&res));
    EXPECT_NE(res.error_message().find("API key"), std::string::npos) << res.error_message();
    EXPECT_TRUE(stream->Finish().ok());
  }
  {
    auto c = with("authorization", "Bearer " + key);
    auto stream = stub->ModelStreamInfer(c.get());
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->WritesDone());
    inference::ModelStreamInferResponse res;
    ASSERT_TRUE(stream->Read(&res));
    EXPECT_EQ(res.error_message(), "");
    EXPECT_TRUE(stream->Finish().ok());
  }
  EXPECT_EQ(p->Stderr().find(key), std::string::npos);
}

TEST(ServerGrpcE2ETest, GrpcListenerOffAndPortInUse) {
  {
    auto p = std::make_unique<ServerProcess>(TinyArgs({"--grpc-port", "-1"}));
    p->WaitListening();
    EXPECT_EQ(p->grpc_port, -1);
    EXPECT_GT(p->http_port, 0);
  }
  {
    auto p = std::make_unique<ServerProcess>(TinyArgs({"--api", "rest"}));
    p->WaitListening();
    EXPECT_EQ(p->grpc_port, -1);
    EXPECT_EQ(p->http_port, -1);
  }
  // Hold a port with a listening socket, then ask clip-server for it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int taken = ntohs(a.sin_port);
  {
    auto p = std::make_unique<ServerProcess>(TinyArgs({"--grpc-port", std::to_string(taken)}));
    auto code = p->WaitExit(std::chrono::seconds(30));
    ASSERT_TRUE(code.has_value()) << "clip-server started on a port in use";
    EXPECT_EQ(*code, 1);
    EXPECT_NE(p->Stderr().find("gRPC: cannot listen on 127.0.0.1:" + std::to_string(taken)), std::string::npos)
        << p->Stderr();
  }
  ::close(fd);
}

}  // namespace
}  // namespace clipserve::server
