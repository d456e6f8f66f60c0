// KServe v2 over gRPC: `inference.GRPCInferenceService` with Triton's wire
// format (src/proto), the gRPC front of clip-server's KServe personality.
//
// It fronts the same service::ModelService as the HTTP KServe adapter
// (kserve_api.h) and mirrors it: the same two models (<name>: input `image`
// FP32 [-1,3,S,S]; <name>_image: input `image_bytes` BYTES [-1]; output
// `embedding` FP32 [-1,D]), the same batcher, statistics and metrics, the
// same checks and Triton-worded messages. Inputs come as
// `raw_input_contents` or as typed `contents` (fp32_contents,
// bytes_contents); the embedding goes back in `raw_output_contents`.
// Errors are gRPC status codes mapped like Triton's (GrpcStatusCodeFor).
// Readiness: ServerReady and ModelReady answer OK with ready=false until the
// model is loaded and from the start of a drain (the HTTP routes' 503).
//
// Threads: grpc++'s callback API. Handlers run on gRPC's own callback
// threads and never wait for the model: an infer RPC is handed to
// ModelService::Embed*Async and finished from the batcher worker that
// completes it. Image-bytes requests are decoded on the service's decode
// pool. No thread per call, no completion queue of ours.
// Access: with `api_key`, ModelInfer, ModelStreamInfer (each request) and
// RepositoryIndex need it in the metadata; else UNAUTHENTICATED.
// Limits: requests larger than `max_message_bytes` are refused by gRPC
// itself (RESOURCE_EXHAUSTED) before any of this code runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/support/status_code_enum.h>

#include "common/status.h"
#include "metrics/registry.h"
#include "service/model_service.h"

namespace grpc {
class Server;
}

namespace clipserve::server {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 8004;                              // 0 = ephemeral
  std::uint64_t max_message_bytes = 64ull << 20;  // largest request message (--max-body-bytes)
  std::string server_version = "0.1.0";
  std::string platform = "pytorch_libtorch";
  std::string instance_kind = "KIND_CPU";       // "KIND_CPU" | "KIND_GPU"
  std::string api_key;                          // --api-key: ModelInfer, ModelStreamInfer, RepositoryIndex need it
  bool access_log = false;                      // one JSON line per RPC on stderr (--access-log)
  // clipserve_grpc_requests_total{method, code}; may be null.
  metrics::CounterFamily* request_counter = nullptr;
};

// Triton's mapping of an error to a gRPC status code: InvalidArgument and
// OutOfRange -> INVALID_ARGUMENT, NotFound -> NOT_FOUND, queue full,
// queue timeout, not ready and draining -> UNAVAILABLE, Unimplemented ->
// UNIMPLEMENTED, AlreadyExists -> ALREADY_EXISTS, the rest -> INTERNAL.
grpc::StatusCode GrpcStatusCodeFor(StatusCode code);

class GrpcServer {
 public:
  // `service` is not owned and must outlive this object.
  GrpcServer(service::ModelService* service, GrpcServerOptions options);
  ~GrpcServer();  // Shutdown(0) if still serving

  // Binds host:port and starts serving (liveness answers from here on).
  Status Start();
  const std::string& host() const { return options_.host; }
  int port() const { return port_; }  // the bound port, after Start

  // Refuses new RPCs at once (UNAVAILABLE); the RPCs in flight have until
  // `budget` to be answered, then gRPC cancels the rest. Returns when every
  // RPC is finished. Idempotent.
  void Shutdown(std::chrono::milliseconds budget);

 private:
  class Service;
  friend class StreamInfer;  // the ModelStreamInfer reactor (grpc_server.cpp)
  service::ModelService* service_;
  GrpcServerOptions options_;
  std::unique_ptr<Service> impl_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = -1;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace clipserve::server
