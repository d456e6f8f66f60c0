// KServe v2 personality, compatible with Triton's HTTP/REST API: health,
// server/model metadata, model config (Triton's JSON form), the statistics
// extension, and infer with JSON tensors and the binary tensor extension.
//
// Models (names follow ModelServiceOptions::model_name, version "1"):
//   <name>        input `image` FP32 [-1,3,S,S] in [0,1]; output `embedding` FP32 [-1,D]
//   <name>_image  input `image_bytes` BYTES [-1] (encoded JPEG/PNG/WebP,
//                 preprocessed here); same output.
// Errors are {"error": "..."} worded like Triton's; bad requests are 400,
// queue full / not ready / draining 503.
#pragma once

#include <functional>
#include <memory>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "metrics/registry.h"
#include "server/http_server.h"
#include "server/kserve_codec.h"
#include "service/model_service.h"

namespace clipserve::server {

struct KserveApiOptions {
  std::string server_version = "0.1.0";
  metrics::CounterFamily* request_counter = nullptr;  // may be null
  std::string platform = "pytorch_libtorch";
  std::string instance_kind = "KIND_CPU";
};

class KserveApi {
 public:
  KserveApi(service::ModelService* service, KserveApiOptions options);
  ~KserveApi();

  std::vector<Route> Routes();

  static int HttpStatusFor(const Status& status);
  static std::string ErrorBody(int http_status, std::string_view message);

 private:
  struct Model;  // one served model: names, tensor specs, route, stats

  void Live(const HttpRequest& req, HttpResponse& res);
  void Ready(const HttpRequest& req, HttpResponse& res);
  void ServerMetadata(const HttpRequest& req, HttpResponse& res);
  void ModelMetadata(const HttpRequest& req, HttpResponse& res);
  void ModelReady(const HttpRequest& req, HttpResponse& res);
  void ModelConfig(const HttpRequest& req, HttpResponse& res);
  void ModelStats(const HttpRequest& req, HttpResponse& res);
  void AllStats(const HttpRequest& req, HttpResponse& res);
  void RepositoryIndex(const HttpRequest& req, HttpResponse& res);
  void Infer(const HttpRequest& req, HttpResponder respond);

  // Resolves captures 1 (model) and 2 (version, may be empty).
  StatusOr<const Model*> FindModel(const HttpRequest& req) const;
  // Runs one parsed request through the service; `arrival` is when the
  // handler started (failure durations count from it). `done` runs exactly
  // once: at once for a refusal, else where inference completes.
  using InferDone = std::function<void(StatusOr<service::EmbedOutcome>)>;
  void RunInfer(const Model& model, std::shared_ptr<const kserve::InferRequest> request, SteadyTime arrival,
                InferDone done);
  // The Triton-worded Status for a service failure; `input` is the request's
  // input tensor (null when the failure came before parsing).
  Status WireStatus(const Model& model, const kserve::InputTensor* input, const service::EmbedFailure& failure) const;
  void Fail(HttpResponse& res, const Status& status);

  service::ModelService* service_;
  KserveApiOptions options_;
  std::vector<Model> models_;
};

}  // namespace clipserve::server
