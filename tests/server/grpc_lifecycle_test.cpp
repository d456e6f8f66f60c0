// The gRPC front in process (the real ClipServer over FakeEngine, real
// loopback gRPC and HTTP): readiness before and after the model loads, the
// same answers as the HTTP routes give at the same moment, a full queue and
// an engine failure as gRPC status codes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "grpc_service.grpc.pb.h"
#include "server/grpc_server.h"
#include "server_fixture.h"
#include "support/gate.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using EngineGate = clipserve::testing::Gate;
using testing::ServerFixture;
using testing::WaitUntil;
constexpr int S = testing::kFakeImageSize;
using Stub = inference::GRPCInferenceService::Stub;

std::unique_ptr<Stub> Connect(const ServerFixture& f) {
  auto& server = const_cast<ServerFixture&>(f).server();
  return inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server.grpc_port()), grpc::InsecureChannelCredentials()));
}

inference::ModelInferRequest TensorRequest(float value) {
  inference::ModelInferRequest req;
  req.set_model_name("openclip_vit_b32");
  auto* in = req.add_inputs();
  in->set_name("image");
  in->set_datatype("FP32");
  for (std::int64_t d : {1, 3, S, S}) in->add_shape(d);
  req.add_raw_input_contents(testing::FloatBytes(std::vector<float>(3 * S * S, value)));
  return req;
}

grpc::Status Infer(Stub& stub, const inference::ModelInferRequest& req, inference::ModelInferResponse* res = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  inference::ModelInferResponse local;
  return stub.ModelInfer(&ctx, req, res ? res : &local);
}

bool ServerReady(Stub& stub) {
  grpc::ClientContext ctx;
  inference::ServerReadyResponse res;
  EXPECT_TRUE(stub.ServerReady(&ctx, {}, &res).ok());
  return res.ready();
}

TEST(GrpcLifecycleTest, LiveAtOnceReadyAndServingOnlyAfterLoadLikeHttp) {
  ServerFixture f({}, /*load=*/false);
  ASSERT_GT(f.server().grpc_port(), 0);
  EXPECT_NE(f.server().ListeningLine().find(" grpc=127.0.0.1:" + std::to_string(f.server().grpc_port())),
            std::string::npos)
      << f.server().ListeningLine();
  auto stub = Connect(f);
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse res;
    ASSERT_TRUE(stub->ServerLive(&ctx, {}, &res).ok());
    EXPECT_TRUE(res.live());
  }
  EXPECT_FALSE(ServerReady(*stub));
  EXPECT_EQ(f.Kserve()->Get("/v2/health/ready")->status, 503);
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("openclip_vit_b32_image");
    inference::ModelReadyResponse res;
    ASSERT_TRUE(stub->ModelReady(&ctx, req, &res).ok());
    EXPECT_FALSE(res.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("openclip_vit_b32");
    inference::ModelMetadataResponse res;
    auto st = stub->ModelMetadata(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(st.error_message(), "Request for model 'openclip_vit_b32' failed: model is loading");
  }
  auto st = Infer(*stub, TensorRequest(0.5f));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message(), "Request for model 'openclip_vit_b32' failed: model is not ready");

  f.Load();
  EXPECT_TRUE(ServerReady(*stub));
  EXPECT_EQ(f.Kserve()->Get("/v2/health/ready")->status, 200);
  inference::ModelInferResponse res;
  ASSERT_TRUE(Infer(*stub, TensorRequest(0.5f), &res).ok());
  EXPECT_EQ(res.raw_output_contents(0).size(), testing::kFakeEmbedDim * sizeof(float));

  // Shutdown: readiness off at once, then new RPCs are refused.
  ASSERT_TRUE(f.server().Shutdown(std::chrono::seconds(5)).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  inference::ServerReadyResponse ready;
  EXPECT_EQ(stub->ServerReady(&ctx, {}, &ready).error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Queue full is UNAVAILABLE on gRPC (503 on v2 HTTP), as Triton answers.
TEST(GrpcLifecycleTest, FullQueueIsUnavailable) {
  ServerFixture f([](ServerConfig& c) { c.max_queue_size = 1; });
  EngineGate gate;
  gate.Install(f.engine());
  auto stub = Connect(f);
  auto busy = std::async(std::launch::async, [&] { return Infer(*stub, TensorRequest(0.2f)).error_code(); });
  ASSERT_TRUE(WaitUntil([&] { return gate.entered.load() == 1; }));
  auto queued = std::async(std::launch::async, [&] { return Infer(*stub, TensorRequest(0.3f)).error_code(); });
  ASSERT_TRUE(WaitUntil([&] { return f.server().service().tensor_stats()->Snapshot().pending_request_count == 2; }));
  auto st = Infer(*stub, TensorRequest(0.4f));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("queue"), std::string::npos) << st.error_message();
  gate.Release();
  EXPECT_EQ(busy.get(), grpc::StatusCode::OK);
  EXPECT_EQ(queued.get(), grpc::StatusCode::OK);
}

// An engine failure is INTERNAL, and its detail stays in the server log.
TEST(GrpcLifecycleTest, EngineFailureIsInternalWithTheDetailHidden) {
  ServerFixture f;
  f.engine()->set_hook([](int) { return InternalError("kernel blew up in /secret/path"); });
  auto stub = Connect(f);
  auto st = Infer(*stub, TensorRequest(0.5f));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(st.error_message().find("internal error (id "), std::string::npos) << st.error_message();
  EXPECT_EQ(st.error_message().find("secret"), std::string::npos) << st.error_message();
  f.engine()->set_hook({});
  EXPECT_TRUE(Infer(*stub, TensorRequest(0.5f)).ok());
}

// A stream cancelled while its request is inside the engine: the stream
// ends CANCELLED, the late result is dropped, and the server goes on.
TEST(GrpcLifecycleTest, StreamCancelledWithARequestInTheEngine) {
  ServerFixture f;
  EngineGate gate;
  gate.Install(f.engine());
  auto stub = Connect(f);
  grpc::ClientContext ctx;
  auto stream = stub->ModelStreamInfer(&ctx);
  ASSERT_TRUE(stream->Write(TensorRequest(0.25f)));
  ASSERT_TRUE(WaitUntil([&] { return gate.entered.load() == 1; }));
  ctx.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  gate.Release();
  f.engine()->set_hook({});
  EXPECT_TRUE(Infer(*stub, TensorRequest(0.5f)).ok());
  EXPECT_TRUE(WaitUntil([&] { return f.server().service().tensor_stats()->Snapshot().pending_request_count == 0; }));
}

// Shutdown with a streamed request in the engine and another stream idle:
// the request is answered, both streams end OK, and Shutdown does not wait
// for its deadline.
TEST(GrpcLifecycleTest, ShutdownAnswersStreamedRequestsAndEndsIdleStreams) {
  ServerFixture f;
  auto stub = Connect(f);
  grpc::ClientContext idle_ctx;
  auto idle = stub->ModelStreamInfer(&idle_ctx);
  inference::ModelStreamInferResponse answer;
  ASSERT_TRUE(idle->Write(TensorRequest(0.1f)));  // one round trip: the server side exists
  ASSERT_TRUE(idle->Read(&answer));
  EXPECT_EQ(answer.error_message(), "");

  EngineGate gate;
  gate.Install(f.engine());
  grpc::ClientContext busy_ctx;
  auto busy = stub->ModelStreamInfer(&busy_ctx);
  auto req = TensorRequest(0.7f);
  req.set_id("in-engine");
  ASSERT_TRUE(busy->Write(req));
  ASSERT_TRUE(WaitUntil([&] { return gate.entered.load() == 1; }));

  const auto t0 = std::chrono::steady_clock::now();
  auto shutdown = std::async(std::launch::async, [&f] { return f.server().Shutdown(std::chrono::seconds(20)); });
  ASSERT_TRUE(WaitUntil([&] { return !f.server().service().serving(); }));
  gate.Release();
  ASSERT_TRUE(busy->Read(&answer)) << "the request in the engine was not answered";
  EXPECT_EQ(answer.error_message(), "");
  EXPECT_EQ(answer.infer_response().id(), "in-engine");
  EXPECT_FALSE(busy->Read(&answer));
  EXPECT_TRUE(busy->Finish().ok());
  EXPECT_FALSE(idle->Read(&answer));
  EXPECT_TRUE(idle->Finish().ok());
  EXPECT_TRUE(shutdown.get().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// With --access-log on, one JSON line per RPC in the HTTP lines' format
// (api "grpc", status the gRPC code), written before the answer is sent.
TEST(GrpcLifecycleTest, AccessLogWritesOneJsonLinePerRpc) {
  ServerFixture f([](ServerConfig& c) { c.access_log = true; });
  auto stub = Connect(f);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(Infer(*stub, TensorRequest(0.5f)).ok());
  auto bad = TensorRequest(0.5f);
  bad.set_model_name("nope");
  ASSERT_EQ(Infer(*stub, bad).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse res;
    ASSERT_TRUE(stub->ServerLive(&ctx, {}, &res).ok());
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  std::vector<nlohmann::json> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("api", "") == "grpc") lines.push_back(j);
  }
  ASSERT_EQ(lines.size(), 3u) << log;
  EXPECT_EQ(lines[0]["path"], "/inference.GRPCInferenceService/ModelInfer");
  EXPECT_EQ(lines[0]["status"], 0);
  EXPECT_EQ(lines[0]["batch_size"], 1);
  EXPECT_GT(lines[0]["bytes"].get<int>(), 0);
  EXPECT_GE(lines[0]["duration_us"].get<long long>(), 0);
  EXPECT_EQ(lines[1]["status"], static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(lines[1]["bytes"], 0);
  EXPECT_EQ(lines[2]["path"], "/inference.GRPCInferenceService/ServerLive");
}

TEST(GrpcLifecycleTest, StatusCodeMappingIsTritons) {
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kInvalidArgument), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kOutOfRange), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kNotFound), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kResourceExhausted), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kDeadlineExceeded), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kUnimplemented), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kInternal), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(GrpcStatusCodeFor(StatusCode::kDataLoss), grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace clipserve::server
