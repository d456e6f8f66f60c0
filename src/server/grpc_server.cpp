#include "server/grpc_server.h"

#include <boost/asio/post.hpp>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <functional>
#include <set>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/base64.h"
#include "common/constant_time.h"
#include "grpc_service.grpc.pb.h"
#include "image/image.h"
#include "server/api_common.h"
#include "server/grpc_messages.h"
#include "common/json_string.h"
#include "server/data_uri.h"
#include "server/kserve_codec.h"

namespace clipserve::server {

grpc::StatusCode GrpcStatusCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kUnimplemented: return grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kAlreadyExists: return grpc::StatusCode::ALREADY_EXISTS;
    // Triton answers a full queue, a queue timeout, a model that is not
    // ready and a server that is stopping with UNAVAILABLE: all of them say
    // "try again (elsewhere)". DEADLINE_EXCEEDED is the client's own
    // deadline in gRPC, so a queue timeout must not reuse it.
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kDeadlineExceeded: return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kCancelled: return grpc::StatusCode::CANCELLED;
    // Ours only for a missing or wrong API key (--api-key).
    case StatusCode::kPermissionDenied: return grpc::StatusCode::UNAUTHENTICATED;
    default: return grpc::StatusCode::INTERNAL;
  }
}

namespace {

using service::FailureKind;
using service::InferRoute;

std::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "INTERNAL";
  }
}

std::string HostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

class StreamInfer;

class GrpcServer::Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  Service(service::ModelService* service, const GrpcServerOptions* options) : service_(service), options_(options) {
    models_.push_back({service_->options().model_name, InferRoute::kKserveTensor, "image", "FP32", "embedding",
                       service_->tensor_stats()});
    models_.push_back({service_->image_model_name(), InferRoute::kKserveImage, "image_bytes", "BYTES", "embedding",
                       service_->image_stats()});
  }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    res->set_live(true);
    return Answer(ctx, "ServerLive", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    res->set_ready(service_->serving());
    return Answer(ctx, "ServerReady", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = FindModel(req->name(), req->version());
    if (!model.ok()) return Answer(ctx, "ModelReady", model.status(), *res, t0);
    res->set_ready(service_->serving());
    return Answer(ctx, "ModelReady", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    res->set_name("triton");
    res->set_version(options_->server_version);
    for (const char* e : {"binary_tensor_data", "model_configuration", "statistics", "parameters"}) res->add_extensions(e);
    return Answer(ctx, "ServerMetadata", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = FindModel(req->name(), req->version());
    if (!model.ok()) return Answer(ctx, "ModelMetadata", model.status(), *res, t0);
    const GrpcModel& m = **model;
    if (service_->engine_info() == nullptr) return Answer(ctx, "ModelMetadata", Loading(m), *res, t0);
    FillMetadata(res, m, *service_, options_->platform);
    return Answer(ctx, "ModelMetadata", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                        inference::ModelConfigResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = FindModel(req->name(), req->version());
    if (!model.ok()) return Answer(ctx, "ModelConfig", model.status(), *res, t0);
    const GrpcModel& m = **model;
    if (service_->engine_info() == nullptr) return Answer(ctx, "ModelConfig", Loading(m), *res, t0);
    FillConfig(res->mutable_config(), m, *service_, options_->platform, options_->instance_kind);
    return Answer(ctx, "ModelConfig", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* ctx, const inference::ModelStatisticsRequest* req,
                                            inference::ModelStatisticsResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    if (req->name().empty()) {  // every model (Triton)
      for (const auto& m : models_) FillStats(res->add_model_stats(), m.stats->Snapshot());
      return Answer(ctx, "ModelStatistics", Status::Ok(), *res, t0);
    }
    auto model = FindModel(req->name(), req->version());
    if (!model.ok()) return Answer(ctx, "ModelStatistics", model.status(), *res, t0);
    FillStats(res->add_model_stats(), (*model)->stats->Snapshot());
    return Answer(ctx, "ModelStatistics", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx, const inference::RepositoryIndexRequest* req,
                                            inference::RepositoryIndexResponse* res) override {
    const auto t0 = std::chrono::steady_clock::now();
    if (!Authorized(ctx)) return Answer(ctx, "RepositoryIndex", KeyRefusal(), *res, t0);
    const bool ready = service_->ready();
    if (!req->ready() || ready) {
      for (const auto& m : models_) {
        auto* e = res->add_models();
        e->set_name(m.name);
        e->set_version(service_->options().model_version);
        e->set_state(ready ? "READY" : "LOADING");
      }
    }
    return Answer(ctx, "RepositoryIndex", Status::Ok(), *res, t0);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override;

  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* ctx) override;

  // Runs one infer request through the service. `req` and `res` must stay
  // valid until `done` runs; it runs exactly once, on this thread for a
  // refusal, else on the batcher worker that completes the request.
  using InferDone = std::function<void(const Status&, int batch_size)>;
  void RunInfer(const inference::ModelInferRequest* req, inference::ModelInferResponse* res, InferDone done);

  // One access-log line (the HTTP lines' keys; api "grpc", status the gRPC
  // code), when --access-log is on.
  void Log(std::string_view method, const Status& status, std::size_t bytes, SteadyTime t0, int batch_size) const {
    if (!options_->access_log) return;
    const long long us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    const long long ts_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // The HTTP access log's keys (http_server.cpp's WriteAccessLog), written
    // here so the two can change apart.
    std::string line = "{\"ts_ms\":" + std::to_string(ts_ms) + ",\"api\":\"grpc\",\"method\":\"RPC\",\"path\":" +
                       JsonQuote("/inference.GRPCInferenceService/" + std::string(method)) +
                       ",\"status\":" + std::to_string(static_cast<int>(GrpcStatusCodeFor(status.code()))) +
                       ",\"bytes\":" + std::to_string(bytes) + ",\"duration_us\":" + std::to_string(us) +
                       ",\"batch_size\":" + std::to_string(batch_size) + "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines never interleave
  }

  // Counts one call of `method` that ended with `status`.
  void Count(std::string_view method, const Status& status) {
    if (options_->request_counter) {
      options_->request_counter->Increment(
          {std::string(method), std::string(GrpcCodeName(GrpcStatusCodeFor(status.code())))});
    }
  }

  // Streams finish once their last answer is written (instead of waiting for
  // the client) from here on.
  void BeginDrain();

  // An internal error's detail goes to the log under an id, never to the client.
  static grpc::Status ToGrpc(const Status& status) {
    if (status.ok()) return grpc::Status::OK;
    const grpc::StatusCode code = GrpcStatusCodeFor(status.code());
    return grpc::Status(code, code == grpc::StatusCode::INTERNAL ? HideInternalError("grpc", status.message())
                                                                 : status.message());
  }

  // With --api-key: the call's metadata carries "authorization: Bearer KEY"
  // or "x-api-key: KEY" (as the HTTP headers do).
  bool Authorized(const grpc::CallbackServerContext* ctx) const {
    const std::string& key = options_->api_key;
    if (key.empty()) return true;
    const auto& md = ctx->client_metadata();
    for (auto [it, end] = md.equal_range("authorization"); it != end; ++it) {
      const std::string_view v(it->second.data(), it->second.size());
      if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ") &&
          ConstantTimeEquals(v.substr(7), key)) {
        return true;
      }
    }
    for (auto [it, end] = md.equal_range("x-api-key"); it != end; ++it) {
      if (ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), key)) return true;
    }
    return false;
  }
  static Status KeyRefusal() {
    return Status(StatusCode::kPermissionDenied, "this call needs the API key (metadata 'authorization: Bearer <key>' or 'x-api-key: <key>')");
  }

  // Open ModelStreamInfer streams; each registers and unregisters itself.
  std::mutex streams_mu;
  std::set<StreamInfer*> streams;
  bool draining = false;  // under streams_mu

 private:
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, std::string_view method, const Status& status,
                                   const google::protobuf::Message& res, SteadyTime t0) {
    auto* reactor = ctx->DefaultReactor();
    Log(method, status, status.ok() ? res.ByteSizeLong() : 0, t0, 0);
    Finish(reactor, method, status);
    return reactor;
  }

  // Finishes one RPC with `status` and counts it. Any thread.
  void Finish(grpc::ServerUnaryReactor* reactor, std::string_view method, const Status& status) {
    Count(method, status);
    reactor->Finish(ToGrpc(status));
  }

  StatusOr<const GrpcModel*> FindModel(const std::string& name, const std::string& version) const {
    ASSIGN_OR_RETURN(const InferRoute route, service_->FindModel(name, version));
    for (const auto& model : models_) {
      if (model.route == route) return &model;
    }
    return InternalError("no KServe model for the service's route");
  }

  static Status Loading(const GrpcModel& m) {
    return UnavailableError("Request for model '" + m.name + "' failed: model is loading");
  }

  // The Triton-worded Status for a service failure, as the HTTP adapter
  // words it (KserveApi::WireStatus); `in` is null before the input is read.
  // `raw_bytes`: the size of raw_input_contents(0) as it arrived (the
  // handler may have taken the bytes out of the message since).
  Status WireStatus(const GrpcModel& m, const inference::ModelInferRequest* req, const service::EmbedFailure& f,
                    std::size_t raw_bytes = 0) const;

  service::ModelService* service_;
  const GrpcServerOptions* options_;
  std::vector<GrpcModel> models_;

 public:
  // Image-bytes requests are decoded here; joined by GrpcServer::Shutdown.
};

// ModelStreamInfer: each request read is run as ModelInfer runs it; the
// answers are written in the order they complete (Triton's), one write at a
// time. A failed request is an answer with `error_message` and the stream
// goes on. The stream finishes (OK) when the client has half-closed and every
// answer is written, or, from the start of a drain, as soon as nothing is in
// flight; a cancelled stream finishes once its requests in flight are done,
// so no batcher callback outlives the reactor.
class StreamInfer final : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  StreamInfer(GrpcServer::Service* service, bool authorized) : service_(service), authorized_(authorized) {
    std::lock_guard<std::mutex> lock(service_->streams_mu);
    service_->streams.insert(this);
    draining_ = service_->draining;
  }

  void Start() {
    if (draining_) return Drain();
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Update([this] { reads_done_ = true; });
    auto call = std::make_shared<Call>();
    call->request.Swap(&request_);
    bool run = false;
    Update([&] {
      if (finished_ || cancelled_) return;
      ++in_flight_;
      run = true;
    });
    if (!run) return;
    StartRead(&request_);
    const auto t0 = std::chrono::steady_clock::now();
    auto done = [this, call, t0](const Status& st, int batch_size) {
      service_->Count("ModelStreamInfer", st);
      service_->Log("ModelStreamInfer", st, st.ok() ? call->answer.ByteSizeLong() : 0, t0, batch_size);
      if (!st.ok()) {
        auto* res = call->answer.mutable_infer_response();
        res->Clear();  // the id and model say which request failed
        res->set_id(call->request.id());
        res->set_model_name(call->request.model_name());
        call->answer.set_error_message(st.code() == StatusCode::kInternal ? GrpcServer::Service::ToGrpc(st).error_message()
                                                                          : st.message());
      }
      Update([&] {
        --in_flight_;
        if (!cancelled_) pending_.push_back(std::move(call->answer));
      });
    };
    // Without the key, each request is answered with the refusal and the
    // stream goes on (as for any other bad request).
    if (!authorized_) return done(GrpcServer::Service::KeyRefusal(), 0);
    service_->RunInfer(&call->request, call->answer.mutable_infer_response(), std::move(done));
  }

  void OnWriteDone(bool ok) override {
    Update([&] {
      writing_ = false;
      if (!pending_.empty()) pending_.pop_front();
      if (!ok) cancelled_ = true;
    });
  }

  void OnCancel() override { Update([this] { cancelled_ = true; }); }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(service_->streams_mu);
      service_->streams.erase(this);
    }
    delete this;
  }

  // From the server's drain: finish once nothing is in flight.
  void Drain() { Update([this] { draining_ = true; }); }

 private:
  struct Call {
    inference::ModelInferRequest request;
    inference::ModelStreamInferResponse answer;
  };

  // Applies `change` under the lock, then starts the next write or the
  // finish it allows; gRPC calls are made outside the lock.
  template <typename F>
  void Update(F&& change) {
    inference::ModelStreamInferResponse* write = nullptr;
    bool finish = false;
    bool cancelled = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      change();
      if (finished_) return;
      // A cancelled stream writes nothing more; the answer being written
      // (the front, while writing_) stays until its OnWriteDone.
      if (cancelled_) pending_.resize(writing_ ? std::min<std::size_t>(pending_.size(), 1) : 0);
      if (!writing_ && !pending_.empty()) {
        writing_ = true;
        write = &pending_.front();  // a deque keeps it in place while others are pushed
      } else if (!writing_ && in_flight_ == 0 && (reads_done_ || cancelled_ || draining_)) {
        finished_ = true;
        finish = true;
        cancelled = cancelled_;
      }
    }
    if (write) StartWrite(write);
    if (finish) Finish(cancelled ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  GrpcServer::Service* service_;
  inference::ModelInferRequest request_;  // the read in progress
  std::mutex mu_;
  std::deque<inference::ModelStreamInferResponse> pending_;  // front: being written
  int in_flight_ = 0;
  bool writing_ = false;
  bool reads_done_ = false;
  bool cancelled_ = false;
  bool draining_ = false;
  bool finished_ = false;
  const bool authorized_;
};

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
GrpcServer::Service::ModelStreamInfer(grpc::CallbackServerContext* ctx) {
  auto* stream = new StreamInfer(this, Authorized(ctx));
  stream->Start();
  return stream;
}

void GrpcServer::Service::BeginDrain() {
  // Held across Drain(): a stream cannot be deleted meanwhile (OnDone takes
  // this lock; gRPC never runs OnDone inline from Finish).
  std::lock_guard<std::mutex> lock(streams_mu);
  draining = true;
  for (auto* stream : streams) stream->Drain();
}

Status GrpcServer::Service::WireStatus(const GrpcModel& m, const inference::ModelInferRequest* req,
                                       const service::EmbedFailure& f, std::size_t raw_bytes) const {
  const inference::ModelInferRequest::InferInputTensor* in = req && req->inputs_size() ? &req->inputs(0) : nullptr;
  const std::string input = in ? in->name() : m.input_name;
  switch (f.kind) {
    case FailureKind::kNotReady:
      return UnavailableError("Request for model '" + m.name + "' failed: model is not ready");
    case FailureKind::kBadShape: {
      const std::string s = std::to_string(service_->engine_info()->image_size);
      std::vector<std::int64_t> shape;
      if (in) shape.assign(in->shape().begin(), in->shape().end());
      return InvalidArgumentError("unexpected shape for input '" + input + "' for model '" + m.name +
                                  "'. Expected [-1,3," + s + "," + s + "], got " + kserve::ShapeString(shape));
    }
    case FailureKind::kTooManyImages:
      if (m.route != InferRoute::kKserveTensor) return f.status;
      return OutOfRangeError("inference request batch-size must be <= " +
                             std::to_string(service_->options().max_images_per_request) + " for '" + m.name + "'");
    case FailureKind::kBadSize: {
      if (in == nullptr) return f.status;
      std::vector<std::int64_t> shape(in->shape().begin(), in->shape().end());
      const std::uint64_t elements = kserve::ElementCount(shape);
      if (req->raw_input_contents_size() > 0) {
        return InvalidArgumentError("unexpected total byte size " + std::to_string(raw_bytes) +
                                    " for input '" + input + "', expecting " + std::to_string(elements * sizeof(float)));
      }
      return InvalidArgumentError("unexpected number of elements " +
                                  std::to_string(in->contents().fp32_contents_size()) + " for input '" + input +
                                  "', expecting " + std::to_string(elements));
    }
    case FailureKind::kNonFinite: return f.status.WithPrefix("input '" + input + "'");
    default: return f.status;  // kBadImage: "image <i>: ...", as over HTTP
  }
}

grpc::ServerUnaryReactor* GrpcServer::Service::ModelInfer(grpc::CallbackServerContext* ctx,
                                                          const inference::ModelInferRequest* req,
                                                          inference::ModelInferResponse* res) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!Authorized(ctx)) return Answer(ctx, "ModelInfer", KeyRefusal(), *res, t0);
  auto* reactor = ctx->DefaultReactor();
  RunInfer(req, res, [this, reactor, res, t0](const Status& st, int batch_size) {
    Log("ModelInfer", st, st.ok() ? res->ByteSizeLong() : 0, t0, batch_size);
    Finish(reactor, "ModelInfer", st);
  });
  return reactor;
}

void GrpcServer::Service::RunInfer(const inference::ModelInferRequest* req, inference::ModelInferResponse* res,
                                   InferDone infer_done) {
  const auto arrival = std::chrono::steady_clock::now();
  auto answer = [&](const Status& st) { infer_done(st, 0); };
  auto found = FindModel(req->model_name(), req->model_version());
  if (!found.ok()) return answer(found.status());
  const GrpcModel& m = **found;
  if (auto refused = service_->Admit(m.route)) return answer(WireStatus(m, nullptr, *refused));
  // Wire-level refusals are counted by the service like its own.
  auto refuse = [&](Status st) { answer(service_->Refuse(m.route, std::move(st), arrival).status); };
  const std::string& mn = m.name;
  if (req->inputs_size() != 1) {
    return refuse(InvalidArgumentError("expected 1 inputs but got " + std::to_string(req->inputs_size()) +
                                       " inputs for model '" + mn + "'"));
  }
  const auto& in = req->inputs(0);
  if (in.name() != m.input_name) {
    return refuse(InvalidArgumentError("unexpected inference input '" + in.name() + "' for model '" + mn + "'"));
  }
  if (in.datatype() != m.input_datatype) {
    return refuse(InvalidArgumentError("inference input '" + in.name() + "' data-type is '" + in.datatype() +
                                       "', but model '" + mn + "' expects '" + m.input_datatype + "'"));
  }
  for (const auto& out : req->outputs()) {
    if (out.name() != m.output_name) {
      return refuse(InvalidArgumentError("unexpected inference output '" + out.name() + "' for model '" + mn + "'"));
    }
  }
  const bool raw = req->raw_input_contents_size() > 0;
  if (raw && req->raw_input_contents_size() != req->inputs_size()) {
    return refuse(InvalidArgumentError("expected " + std::to_string(req->inputs_size()) +
                                       " raw_input_contents but got " + std::to_string(req->raw_input_contents_size()) +
                                       " for model '" + mn + "'"));
  }
  if (raw && in.has_contents()) {
    return refuse(InvalidArgumentError("contents field must not be specified when using raw_input_contents for '" +
                                       in.name() + "' for model '" + mn + "'"));
  }

  // The request and response belong to gRPC until Finish; the batcher
  // worker that completes the request fills the response and finishes.
  const std::size_t raw_bytes = raw ? req->raw_input_contents(0).size() : 0;
  auto done = [this, &m, req, res, infer_done, raw_bytes](service::EmbedResult out) {
    if (!out.ok()) return infer_done(WireStatus(m, req, out.failure(), raw_bytes), 0);
    const auto& r = out->result;
    res->set_model_name(m.name);
    res->set_model_version(service_->options().model_version);
    res->set_id(req->id());
    auto* tensor = res->add_outputs();
    tensor->set_name(m.output_name);
    tensor->set_datatype("FP32");
    tensor->add_shape(r.num_images);
    tensor->add_shape(r.embed_dim);
    res->add_raw_output_contents(reinterpret_cast<const char*>(r.embeddings.data()), r.embeddings.size() * sizeof(float));
    infer_done(Status::Ok(), r.batch_size);
  };

  if (m.input_datatype == "FP32") {
    // Shape, batch size, element count and finiteness are the service's checks.
    service::PixelTensor tensor;
    tensor.shape.assign(in.shape().begin(), in.shape().end());
    if (raw) {
      // The tensor's bytes leave the request message (this handler is its
      // only reader; gRPC built it non-const and only destroys it), so the
      // batcher can hold them past Finish and the engine reads them in place
      // instead of from a copy.
      auto bytes = std::make_shared<std::string>();
      const_cast<inference::ModelInferRequest*>(req)->mutable_raw_input_contents(0)->swap(*bytes);
      tensor.values = std::as_bytes(std::span<const char>(bytes->data(), bytes->size()));
      tensor.owner = std::move(bytes);
    } else {
      const auto& v = in.contents().fp32_contents();
      tensor.values = std::vector<float>(v.begin(), v.end());
    }
    service_->EmbedPixelsAsync(m.route, std::move(tensor), std::move(done));
    return;
  }

  // BYTES: [N] or [N,1] encoded images.
  std::vector<std::int64_t> sh(in.shape().begin(), in.shape().end());
  const bool shape_ok = (sh.size() == 1 && sh[0] >= 1) || (sh.size() == 2 && sh[0] >= 1 && sh[1] == 1);
  if (!shape_ok) {
    return refuse(InvalidArgumentError("unexpected shape for input '" + in.name() + "' for model '" + mn +
                                       "'. Expected [-1], got " + kserve::ShapeString(sh)));
  }
  const std::uint64_t n = kserve::ElementCount(sh);
  // Views of the request or of `decoded`, kept alive with the callback.
  struct Images {
    std::vector<std::string_view> views;
    std::vector<std::vector<std::uint8_t>> decoded;  // elements that were base64
  };
  auto held = std::make_shared<Images>();
  if (raw) {
    auto split = kserve::SplitBinaryBytes(req->raw_input_contents(0), in.name());
    if (!split.ok()) return refuse(split.status());
    held->views = std::move(*split);
  } else {
    const auto& elements = in.contents().bytes_contents();
    held->decoded.resize(elements.size());
    for (int i = 0; i < elements.size(); ++i) {
      const std::string& s = elements[i];
      const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
      if (image::DetectFormat(std::span<const std::uint8_t>(p, s.size())) != image::Format::kUnknown) {
        held->views.emplace_back(s);
        continue;
      }
      // As over HTTP: an element that is not an image may be base64 (or a data URI) of one.
      auto payload = StripDataUri(s);
      auto bytes = payload.ok() ? DecodeBase64(*payload) : StatusOr<std::vector<std::uint8_t>>(payload.status());
      if (!bytes.ok()) {
        held->views.emplace_back(s);  // let the decoder name the problem
      } else {
        held->decoded[i] = std::move(*bytes);
        held->views.emplace_back(reinterpret_cast<const char*>(held->decoded[i].data()), held->decoded[i].size());
      }
    }
  }
  if (held->views.size() != n) {
    return refuse(InvalidArgumentError("unexpected number of string elements " + std::to_string(held->views.size()) +
                                       " for input '" + in.name() + "', expecting " + std::to_string(n)));
  }
  // The service decodes on its decode pool: gRPC's callback threads stay
  // free for other calls.
  service_->EmbedEncodedAsync(m.route, held->views,
                              [held, done = std::move(done)](service::EmbedResult out) { done(std::move(out)); });
}

GrpcServer::GrpcServer(service::ModelService* service, GrpcServerOptions options)
    : service_(service), options_(std::move(options)) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::milliseconds(0)); }

Status GrpcServer::Start() {
  impl_ = std::make_unique<Service>(service_, &options_);
  grpc::ServerBuilder builder;
  int selected = 0;
  const std::string address = HostPort(options_.host, options_.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected);
  builder.RegisterService(impl_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::uint64_t>(options_.max_message_bytes, INT_MAX)));
  // gRPC sets SO_REUSEPORT by default: a second server on a port in use
  // would share it silently instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (!server_ || selected == 0) {
    server_.reset();
    return UnavailableError("gRPC: cannot listen on " + address + " (in use, or not an address of this host)");
  }
  port_ = selected;
  return Status::Ok();
}

void GrpcServer::Shutdown(std::chrono::milliseconds budget) {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_ || !server_) return;
  stopped_ = true;
  impl_->BeginDrain();
  // Callback API: Shutdown returns once every RPC has been finished (those
  // still running at the deadline are cancelled first); there is no
  // completion queue of ours to drain afterwards.
  server_->Shutdown(std::chrono::system_clock::now() + budget);
  server_->Wait();
}

}  // namespace clipserve::server
