// REST personality: wire-compatible with the original FastAPI embedding
// service (DESIGN §3). Routes, handlers, its Status -> HTTP mapping and its
// error body ({"detail": ...}).
//
// Health semantics: /healthz is liveness (200 as soon as the process
// serves); /health answers 200 {"status":"ok"} once the model is ready and
// 503 before, as the original did (uvicorn only served after the model was
// loaded, and clients poll /health to wait for it).
//
// Validation errors (malformed JSON, missing or mistyped field) are 422 with
// FastAPI's shape {"detail": [{"loc": [...], "msg": ..., "type": ...}]};
// every other error is {"detail": "<message>"}.
#pragma once

#include <memory>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "metrics/registry.h"
#include "server/http_server.h"
#include "service/model_service.h"

namespace clipserve::server {

struct RestApiOptions {
  // Reports the compute devices for /gpu-info (engine::QueryDeviceFacts in
  // the binary; a fake in tests).
  std::function<engine::DeviceFacts()> device_facts;
  metrics::CounterFamily* request_counter = nullptr;  // may be null
};

class RestApi {
 public:
  RestApi(service::ModelService* service, RestApiOptions options);

  std::vector<Route> Routes();

  static int HttpStatusFor(const Status& status);
  static std::string ErrorBody(int http_status, std::string_view message);

 private:
  void Health(const HttpRequest& req, HttpResponse& res);
  void Healthz(const HttpRequest& req, HttpResponse& res);
  void ModelInfo(const HttpRequest& req, HttpResponse& res);
  void GpuInfo(const HttpRequest& req, HttpResponse& res);
  // Images of one request, and whatever their views point into.
  struct Images {
    std::vector<std::string_view> views;
    std::vector<std::vector<std::uint8_t>> decoded;  // base64 payloads
    bool ready = false;                              // parsed; else the response holds the refusal
  };
  void EmbedBase64(const HttpRequest& req, HttpResponder respond);
  void EmbedBatch(const HttpRequest& req, HttpResponder respond);
  void PrepareBase64(const HttpRequest& req, HttpResponse& res, Images& held);
  void PrepareBatch(const HttpRequest& req, HttpResponse& res, Images& held);
  using Prepare = void (RestApi::*)(const HttpRequest&, HttpResponse&, Images&);
  void PrepareThenEmbed(const HttpRequest& req, HttpResponder respond, Prepare prepare);

  // Runs the images through the service and writes the response (JSON, or
  // raw float32 when the client accepts application/octet-stream).
  void Embed(const HttpRequest& req, std::shared_ptr<Images> held, HttpResponder respond);
  std::string ModelInfoJson() const;
  void Fail(HttpResponse& res, const Status& status);
  // The original service's wording of a service failure (`num_images`: the
  // request's image count, for the too-many message).
  Status WireStatus(const service::EmbedFailure& failure, std::size_t num_images) const;

  service::ModelService* service_;
  RestApiOptions options_;
};

}  // namespace clipserve::server
