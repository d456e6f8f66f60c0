#include "server/rest_api.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <bit>
#include <chrono>
#include <filesystem>

#include "common/base64.h"
#include "server/api_common.h"
#include "server/data_uri.h"
#include "server/kserve_codec.h"

namespace clipserve::server {
namespace {

using nlohmann::json;

// FastAPI/pydantic's 422 body: {"detail": [{"loc": [...], "msg": ..., "type": ...}]}.
std::string ValidationError(json loc, std::string_view msg, std::string_view type) {
  json item = {{"loc", std::move(loc)}, {"msg", msg}, {"type", type}};
  return json{{"detail", json::array({item})}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A 422 in FastAPI's validation shape, counted by the service as a refusal.
void Refuse422(service::ModelService& svc, SteadyTime arrival, HttpResponse& res, json loc, std::string_view msg,
               std::string_view type) {
  (void)svc.Refuse(service::InferRoute::kRest, InvalidArgumentError(std::string(msg)), arrival);
  res.status = 422;
  res.body = ValidationError(std::move(loc), msg, type);
}

}  // namespace

RestApi::RestApi(service::ModelService* service, RestApiOptions options) : service_(service), options_(std::move(options)) {}

std::vector<Route> RestApi::Routes() {
  auto bind = [this](void (RestApi::*fn)(const HttpRequest&, HttpResponse&), std::string name) {
    return Counted(options_.request_counter, "rest", std::move(name),
                   [this, fn](const HttpRequest& req, HttpResponse& res) { (this->*fn)(req, res); });
  };
  auto embed = [this](std::string path, void (RestApi::*fn)(const HttpRequest&, HttpResponder)) {
    Route r = Route::Async("POST", path,
                           CountedAsync(options_.request_counter, "rest", path,
                                        [this, fn](const HttpRequest& req, HttpResponder respond) {
                                          (this->*fn)(req, std::move(respond));
                                        }));
    r.needs_key = true;  // inference: behind --api-key
    return r;
  };
  constexpr bool kIo = true;  // cheap, never blocks: answered on the I/O thread
  // clang-format off
  return {
      {"GET",  "/health",       bind(&RestApi::Health,      "/health"),       kIo},
      {"GET",  "/healthz",      bind(&RestApi::Healthz,     "/healthz"),      kIo},
      {"GET",  "/model-info",   bind(&RestApi::ModelInfo,   "/model-info"),   kIo},
      {"GET",  "/gpu-info",     bind(&RestApi::GpuInfo,     "/gpu-info")},
      embed("/embed/base64", &RestApi::EmbedBase64),
      embed("/embed/batch",  &RestApi::EmbedBatch),
  };
  // clang-format on
}

int RestApi::HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kOutOfRange: return 413;           // too many images for one request
    case StatusCode::kResourceExhausted: return 429;    // batcher queue full
    case StatusCode::kUnavailable:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kDeadlineExceeded: return 503;     // not ready, draining, queue timeout
    case StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

std::string RestApi::ErrorBody(int http_status, std::string_view message) {
  (void)http_status;
  return json{{"detail", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void RestApi::Fail(HttpResponse& res, const Status& status) {
  res.status = HttpStatusFor(status);
  res.body = ErrorBody(res.status, res.status == 500 ? HideInternalError("rest", status.message()) : status.message());
}

void RestApi::Health(const HttpRequest&, HttpResponse& res) {
  if (service_->serving()) {
    res.body = R"({"status":"ok"})";
  } else {
    res.status = 503;
    res.body = R"({"status":"loading","detail":"model is loading"})";
  }
}

void RestApi::Healthz(const HttpRequest&, HttpResponse& res) { res.body = R"({"status":"ok"})"; }

std::string RestApi::ModelInfoJson() const {
  const engine::EngineInfo* info = service_->engine_info();
  std::string device = std::string(engine::DeviceKindName(info->device));
  if (info->device == engine::DeviceKind::kCuda) device += ":" + std::to_string(info->device_index);
  json j = {
      {"model_name", info->model_name},
      // The file's name only: directories say nothing about the model and
      // can tell a client about the host.
      {"pretrained", std::filesystem::path(info->weights).filename().string()},
      {"device", device},
      {"embedding_dim", info->embed_dim},
      {"image_size", info->image_size},
      {"precision", engine::PrecisionName(info->precision)},
      {"requested_precision", engine::PrecisionName(info->requested_precision)},
      {"cpu_isa", info->cpu_isa},
      {"cpu_model", info->cpu_model},
      {"compute", info->compute},
      {"threads", info->threads},
      {"instance_count", service_->options().instance_count},
      {"served_model_name", service_->options().model_name},
      {"max_batch_size", service_->options().rest_batching.max_batch_size},
      {"dynamic_batching", service_->options().rest_batching.dynamic_batching},
  };
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void RestApi::ModelInfo(const HttpRequest&, HttpResponse& res) {
  if (!service_->ready()) return Fail(res, UnavailableError("model is loading"));
  res.body = ModelInfoJson();
}

void RestApi::GpuInfo(const HttpRequest&, HttpResponse& res) {
  engine::DeviceFacts facts;
  if (options_.device_facts) facts = options_.device_facts();
  json gpus = json::array();
  for (const auto& g : facts.gpus) {
    gpus.push_back({{"index", g.index},
                    {"name", g.name},
                    {"memory_total_bytes", g.memory_total_bytes},
                    {"memory_free_bytes", g.memory_free_bytes},
                    {"memory_total_gb", static_cast<double>(g.memory_total_bytes) / (1ull << 30)}});
  }
  json j = {{"cuda_available", facts.cuda_available},
            {"device_count", facts.gpus.size()},
            {"torch_version", facts.torch_version},
            {"gpus", gpus}};
  if (const auto* info = service_->engine_info()) j["device"] = engine::DeviceKindName(info->device);
  res.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status RestApi::WireStatus(const service::EmbedFailure& failure, std::size_t num_images) const {
  using service::FailureKind;
  switch (failure.kind) {
    case FailureKind::kNotReady: return UnavailableError("model is loading");
    case FailureKind::kNoImages: return InvalidArgumentError("No images provided");
    case FailureKind::kTooManyImages:
      return OutOfRangeError("Too many images: " + std::to_string(num_images) + " (limit " +
                             std::to_string(service_->options().max_images_per_request) + ")");
    case FailureKind::kBadImage:
      return InvalidArgumentError("Invalid image at index " + std::to_string(failure.image_index.value_or(0)) + ": " +
                                  failure.detail);
    default: return failure.status;
  }
}

void RestApi::PrepareBase64(const HttpRequest& req, HttpResponse& res, Images& held) {
  const auto t0 = std::chrono::steady_clock::now();
  if (auto refused = service_->Admit(service::InferRoute::kRest)) return Fail(res, WireStatus(*refused, 0));
  // Per-request parser: base64 bodies can be large and httplib workers are
  // many, so a thread_local parser would pin that memory per worker.
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const std::string_view body = req.body();
  if (auto err = parser.parse(body.data(), body.size()).get(root); err) {
    return Refuse422(*service_, t0, res, json::array({"body", 0}),
                     std::string("JSON decode error: ") + simdjson::error_message(err), "value_error.jsondecode");
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) {
    return Refuse422(*service_, t0, res, json::array({"body"}), "value is not a valid dict", "type_error.dict");
  }
  simdjson::dom::element images_el;
  if (obj["images"].get(images_el)) {
    return Refuse422(*service_, t0, res, json::array({"body", "images"}), "field required", "value_error.missing");
  }
  simdjson::dom::array images;
  if (images_el.get_array().get(images)) {
    return Refuse422(*service_, t0, res, json::array({"body", "images"}), "value is not a valid list",
                     "type_error.list");
  }
  std::vector<std::string_view> encoded;
  for (simdjson::dom::element e : images) {
    std::string_view s;
    if (e.get_string().get(s)) {
      return Refuse422(*service_, t0, res, json::array({"body", "images", encoded.size()}), "str type expected",
                       "type_error.str");
    }
    encoded.push_back(s);
  }
  // The image count before any base64 is decoded.
  const auto n = static_cast<std::int64_t>(encoded.size());
  if (auto refused = service_->Admit(service::InferRoute::kRest, n)) {
    return Fail(res, WireStatus(*refused, encoded.size()));
  }

  auto& decoded = held.decoded;
  auto& views = held.views;
  decoded.resize(encoded.size());
  views.resize(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    auto payload = StripDataUri(encoded[i]);
    StatusOr<std::vector<std::uint8_t>> bytes = payload.ok() ? DecodeBase64(*payload) : payload.status();
    if (!bytes.ok()) {
      Status st = InvalidArgumentError("Invalid image at index " + std::to_string(i) + ": " + bytes.status().message());
      return Fail(res, service_->Refuse(service::InferRoute::kRest, std::move(st), t0).status);
    }
    decoded[i] = std::move(*bytes);
    views[i] = std::string_view(reinterpret_cast<const char*>(decoded[i].data()), decoded[i].size());
  }
  held.ready = true;
}

void RestApi::PrepareBatch(const HttpRequest& req, HttpResponse& res, Images& held) {
  const auto t0 = std::chrono::steady_clock::now();
  if (auto refused = service_->Admit(service::InferRoute::kRest)) return Fail(res, WireStatus(*refused, 0));
  if (!req.is_multipart()) {
    return Refuse422(*service_, t0, res, json::array({"body", "files"}), "field required", "value_error.missing");
  }
  const std::vector<FormPart> parts = req.form_parts("files");
  if (parts.empty()) {
    return Refuse422(*service_, t0, res, json::array({"body", "files"}), "field required", "value_error.missing");
  }
  held.views.reserve(parts.size());
  for (const auto& p : parts) held.views.push_back(p.content);  // views of the body
  held.ready = true;
}

void RestApi::EmbedBase64(const HttpRequest& req, HttpResponder respond) {
  PrepareThenEmbed(req, std::move(respond), &RestApi::PrepareBase64);
}

void RestApi::EmbedBatch(const HttpRequest& req, HttpResponder respond) {
  PrepareThenEmbed(req, std::move(respond), &RestApi::PrepareBatch);
}

void RestApi::PrepareThenEmbed(const HttpRequest& req, HttpResponder respond, Prepare prepare) {
  auto held = std::make_shared<Images>();
  HttpResponse res;
  (this->*prepare)(req, res, *held);
  if (!held->ready) return respond(std::move(res));  // the refusal
  Embed(req, std::move(held), std::move(respond));
}

void RestApi::Embed(const HttpRequest& req, std::shared_ptr<Images> held, HttpResponder respond) {
  // Decoded on this (handler pool) thread, then queued; the answer is built
  // where inference completes. The service counts every failure it returns.
  const bool octet = WantsOctetStream(req);
  const std::span<const std::string_view> images(held->views);
  service_->EmbedEncodedAsync(service::InferRoute::kRest, images, [this, held, octet, respond](service::EmbedResult outcome) {
    HttpResponse res;
    if (!outcome.ok()) {
      Fail(res, WireStatus(outcome.failure(), held->views.size()));
      return respond(std::move(res));
    }
    const auto& r = outcome->result;
    res.batch_size = r.batch_size;
    res.set_header("Server-Timing", ServerTimingHeader(*outcome));
    if (octet) {
      static_assert(std::endian::native == std::endian::little);
      res.content_type = "application/octet-stream";
      res.set_header("X-Embedding-Shape", std::to_string(r.num_images) + "," + std::to_string(r.embed_dim));
      res.set_header("X-Embedding-Dtype", "float32");
      // Sent from the embedding buffer, kept alive until written.
      auto kept = std::make_shared<const service::EmbedOutcome>(std::move(*outcome));
      const auto& e = kept->result.embeddings;
      res.body_tail = std::string_view(reinterpret_cast<const char*>(e.data()), e.size() * sizeof(float));
      res.tail_owner = std::move(kept);
      return respond(std::move(res));
    }
    std::string& s = res.body;
    s.reserve(r.embeddings.size() * 12 + 256);
    s += "{\"embeddings\":[";
    for (int i = 0; i < r.num_images; ++i) {
      if (i) s += ',';
      kserve::AppendJsonFloats(
          s, std::span<const float>(r.embeddings.data() + static_cast<size_t>(i) * r.embed_dim, r.embed_dim));
    }
    s += "],\"model_info\":";
    s += ModelInfoJson();
    s += ",\"count\":" + std::to_string(r.num_images) + "}";
    respond(std::move(res));
  });
}

}  // namespace clipserve::server
