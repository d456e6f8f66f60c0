#include "server/kserve_api.h"

#include <nlohmann/json.hpp>

#include <bit>
#include <chrono>
#include <cstddef>
#include <span>

#include "common/base64.h"
#include "image/image.h"
#include "server/api_common.h"
#include "server/data_uri.h"

namespace clipserve::server {
namespace {

using nlohmann::json;

json CountNsJson(const metrics::CountNs& c) { return {{"count", c.count}, {"ns", c.ns}}; }

// Triton's $model_stat for one snapshot.
json StatsJson(const metrics::ModelStatsSnapshot& s) {
  json batch = json::array();
  for (const auto& b : s.batch_stats) {
    batch.push_back({{"batch_size", b.batch_size},
                     {"compute_input", CountNsJson(b.compute_input)},
                     {"compute_infer", CountNsJson(b.compute_infer)},
                     {"compute_output", CountNsJson(b.compute_output)}});
  }
  return {{"name", s.name},
          {"version", s.version},
          {"last_inference", s.last_inference_ms},
          {"inference_count", s.inference_count},
          {"execution_count", s.execution_count},
          {"inference_stats",
           {{"success", CountNsJson(s.success)},
            {"fail", CountNsJson(s.fail)},
            {"queue", CountNsJson(s.queue)},
            {"compute_input", CountNsJson(s.compute_input)},
            {"compute_infer", CountNsJson(s.compute_infer)},
            {"compute_output", CountNsJson(s.compute_output)},
            {"cache_hit", CountNsJson({})},
            {"cache_miss", CountNsJson({})}}},
          {"batch_stats", batch},
          {"memory_usage", json::array()}};
}

}  // namespace

struct KserveApi::Model {
  std::string name;
  service::InferRoute route;
  std::string input_name;
  std::string input_datatype;  // "FP32" | "BYTES"
  std::string output_name = "embedding";
  metrics::ModelStats* stats;
};

KserveApi::KserveApi(service::ModelService* service, KserveApiOptions options) : service_(service), options_(std::move(options)) {
  models_.push_back({service_->options().model_name, service::InferRoute::kKserveTensor, "image", "FP32", "embedding",
                     service_->tensor_stats()});
  models_.push_back({service_->image_model_name(), service::InferRoute::kKserveImage, "image_bytes", "BYTES", "embedding",
                     service_->image_stats()});
}

KserveApi::~KserveApi() = default;

std::vector<Route> KserveApi::Routes() {
  auto bind = [this](void (KserveApi::*fn)(const HttpRequest&, HttpResponse&), std::string name) {
    return Counted(options_.request_counter, "kserve", std::move(name),
                   [this, fn](const HttpRequest& req, HttpResponse& res) { (this->*fn)(req, res); });
  };
  // Every model route exists without and with a version; `{}` is one path
  // segment (router.h), parameter 1 the model and 2 the version. The first
  // match wins, so /v2/models/stats comes before /v2/models/{}.
  auto infer = [this](std::string pattern) {
    Route r = Route::Async("POST", std::move(pattern),
                           CountedAsync(options_.request_counter, "kserve", "/v2/models/{m}/infer",
                                        [this](const HttpRequest& req, HttpResponder respond) {
                                          Infer(req, std::move(respond));
                                        }));
    // A small tensor request only parses and copies before it is queued: it
    // runs on the I/O thread, saving a hop to the handler pool. Encoded
    // images (decoding) and large tensors go to the pool.
    r.on_io_thread_if = [this](const HttpRequest& req) {
      constexpr std::size_t kInlineBodyBytes = 1u << 20;
      if (req.body().size() > kInlineBodyBytes) return false;
      auto model = FindModel(req);
      return model.ok() && (*model)->route == service::InferRoute::kKserveTensor;
    };
    r.needs_key = true;  // inference: behind --api-key
    return r;
  };
  const std::string m = "/v2/models/{}";
  const std::string mv = "/v2/models/{}/versions/{}";
  constexpr bool kIo = true;  // cheap, never blocks: answered on the I/O thread
  // clang-format off
  std::vector<Route> routes = {
      {"GET",  "/v2/health/live",      bind(&KserveApi::Live,            "/v2/health/live"),       kIo},
      {"GET",  "/v2/health/ready",     bind(&KserveApi::Ready,           "/v2/health/ready"),      kIo},
      {"GET",  "/v2",                  bind(&KserveApi::ServerMetadata,  "/v2"),                   kIo},
      {"GET",  "/v2/models/stats",     bind(&KserveApi::AllStats,        "/v2/models/stats"),      kIo},
      {"POST", "/v2/repository/index", bind(&KserveApi::RepositoryIndex, "/v2/repository/index"),  kIo},
      {"GET",  m,                      bind(&KserveApi::ModelMetadata,   "/v2/models/{m}"),        kIo},
      {"GET",  mv,                     bind(&KserveApi::ModelMetadata,   "/v2/models/{m}"),        kIo},
      {"GET",  m + "/ready",           bind(&KserveApi::ModelReady,      "/v2/models/{m}/ready"),  kIo},
      {"GET",  mv + "/ready",          bind(&KserveApi::ModelReady,      "/v2/models/{m}/ready"),  kIo},
      {"GET",  m + "/config",          bind(&KserveApi::ModelConfig,     "/v2/models/{m}/config"), kIo},
      {"GET",  mv + "/config",         bind(&KserveApi::ModelConfig,     "/v2/models/{m}/config"), kIo},
      {"GET",  m + "/stats",           bind(&KserveApi::ModelStats,      "/v2/models/{m}/stats"),  kIo},
      {"GET",  mv + "/stats",          bind(&KserveApi::ModelStats,      "/v2/models/{m}/stats"),  kIo},
      infer(m + "/infer"),
      infer(mv + "/infer"),
  };
  // clang-format on
  for (Route& r : routes) {
    if (r.pattern == "/v2/repository/index") r.needs_key = true;  // model management
  }
  return routes;
}

int KserveApi::HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnimplemented:
    case StatusCode::kAlreadyExists: return 400;
    case StatusCode::kResourceExhausted:  // queue full (Triton: UNAVAILABLE)
    case StatusCode::kUnavailable:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kDeadlineExceeded: return 503;
    default: return 500;
  }
}

std::string KserveApi::ErrorBody(int http_status, std::string_view message) {
  (void)http_status;
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void KserveApi::Fail(HttpResponse& res, const Status& status) {
  res.status = HttpStatusFor(status);
  res.body = ErrorBody(res.status, res.status == 500 ? HideInternalError("kserve", status.message()) : status.message());
}

StatusOr<const KserveApi::Model*> KserveApi::FindModel(const HttpRequest& req) const {
  ASSIGN_OR_RETURN(const service::InferRoute route, service_->FindModel(req.path_param(1), req.path_param(2)));
  for (const auto& model : models_) {
    if (model.route == route) return &model;
  }
  return InternalError("no KServe model for the service's route");
}

void KserveApi::Live(const HttpRequest&, HttpResponse& res) { res.body.clear(); }

void KserveApi::Ready(const HttpRequest&, HttpResponse& res) {
  if (!service_->serving()) {
    res.status = 503;
    res.body = ErrorBody(503, "Server is not ready: model is loading");
  }
}

void KserveApi::ServerMetadata(const HttpRequest&, HttpResponse& res) {
  res.body = json{{"name", "triton"},
                  {"version", options_.server_version},
                  {"extensions", {"binary_tensor_data", "model_configuration", "statistics", "parameters"}}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
}

void KserveApi::RepositoryIndex(const HttpRequest&, HttpResponse& res) {
  json index = json::array();
  for (const auto& model : models_) {
    index.push_back({{"name", model.name},
                     {"version", service_->options().model_version},
                     {"state", service_->ready() ? "READY" : "LOADING"}});
  }
  res.body = index.dump(-1, ' ', false, json::error_handler_t::replace);
}

void KserveApi::ModelMetadata(const HttpRequest& req, HttpResponse& res) {
  auto model = FindModel(req);
  if (!model.ok()) return Fail(res, model.status());
  const auto* info = service_->engine_info();
  if (info == nullptr) return Fail(res, UnavailableError("Request for model '" + (*model)->name + "' failed: model is loading"));
  const Model& m = **model;
  json input_shape = m.input_datatype == "FP32" ? json::array({-1, 3, info->image_size, info->image_size}) : json::array({-1});
  res.body = json{{"name", m.name},
                  {"versions", {service_->options().model_version}},
                  {"platform", options_.platform},
                  {"inputs", {{{"name", m.input_name}, {"datatype", m.input_datatype}, {"shape", input_shape}}}},
                  {"outputs", {{{"name", m.output_name}, {"datatype", "FP32"}, {"shape", {-1, info->embed_dim}}}}}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
}

void KserveApi::ModelReady(const HttpRequest& req, HttpResponse& res) {
  auto model = FindModel(req);
  if (!model.ok()) return Fail(res, model.status());
  if (!service_->serving()) return Fail(res, UnavailableError("model '" + (*model)->name + "' is not ready"));
}

void KserveApi::ModelConfig(const HttpRequest& req, HttpResponse& res) {
  auto model = FindModel(req);
  if (!model.ok()) return Fail(res, model.status());
  const auto* info = service_->engine_info();
  if (info == nullptr) return Fail(res, UnavailableError("Request for model '" + (*model)->name + "' failed: model is loading"));
  const Model& m = **model;
  const auto& b = service_->options().kserve_batching;
  json input = {{"name", m.input_name},
                {"data_type", m.input_datatype == "FP32" ? "TYPE_FP32" : "TYPE_STRING"},
                {"format", "FORMAT_NONE"},
                {"dims", m.input_datatype == "FP32" ? json::array({3, info->image_size, info->image_size}) : json::array({1})},
                {"is_shape_tensor", false},
                {"allow_ragged_batch", false},
                {"optional", false}};
  if (m.input_datatype == "BYTES") input["reshape"] = {{"shape", json::array()}};
  json config = {
      {"name", m.name},
      {"platform", options_.platform},
      {"backend", "pytorch"},
      {"version_policy", {{"latest", {{"num_versions", 1}}}}},
      {"max_batch_size", b.max_batch_size},
      {"input", {input}},
      {"output", {{{"name", m.output_name}, {"data_type", "TYPE_FP32"}, {"dims", {info->embed_dim}},
                   {"label_filename", ""}, {"is_shape_tensor", false}}}},
      {"batch_input", json::array()},
      {"batch_output", json::array()},
      {"instance_group", {{{"name", m.name + "_0"}, {"kind", options_.instance_kind},
                           {"count", service_->options().instance_count}, {"gpus", json::array()},
                           {"secondary_devices", json::array()}, {"profile", json::array()},
                           {"passive", false}, {"host_policy", ""}}}},
      {"default_model_filename", ""},
      // Triton's ModelParameter form: {"key": {"string_value": "..."}}.
      {"parameters", {{"precision", {{"string_value", engine::PrecisionName(info->precision)}}},
                      {"requested_precision", {{"string_value", engine::PrecisionName(info->requested_precision)}}},
                      {"cpu_isa", {{"string_value", info->cpu_isa}}},
                      {"cpu_model", {{"string_value", info->cpu_model}}},
                      {"compute", {{"string_value", info->compute}}}}},
      {"model_warmup", json::array()},
  };
  if (b.dynamic_batching) {
    config["dynamic_batching"] = {
        {"preferred_batch_size", b.preferred_batch_sizes},
        {"max_queue_delay_microseconds", b.max_queue_delay.count()},
        {"preserve_ordering", true},
        {"priority_levels", 0},
        {"default_priority_level", 0},
        {"default_queue_policy", {{"timeout_action", "REJECT"},
                                  {"default_timeout_microseconds", b.default_queue_timeout.count()},
                                  {"allow_timeout_override", b.allow_timeout_override},
                                  {"max_queue_size", b.max_queue_size}}},
        {"priority_queue_policy", json::object()}};
  }
  res.body = config.dump(-1, ' ', false, json::error_handler_t::replace);
}

void KserveApi::ModelStats(const HttpRequest& req, HttpResponse& res) {
  auto model = FindModel(req);
  if (!model.ok()) return Fail(res, model.status());
  res.body = json{{"model_stats", {StatsJson((*model)->stats->Snapshot())}}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void KserveApi::AllStats(const HttpRequest&, HttpResponse& res) {
  json all = json::array();
  for (const auto& model : models_) all.push_back(StatsJson(model.stats->Snapshot()));
  res.body = json{{"model_stats", all}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status KserveApi::WireStatus(const Model& m, const kserve::InputTensor* in, const service::EmbedFailure& f) const {
  using service::FailureKind;
  const std::string input = in ? in->name : m.input_name;
  switch (f.kind) {
    case FailureKind::kNotReady:
      return UnavailableError("Request for model '" + m.name + "' failed: model is not ready");
    case FailureKind::kBadShape: {
      const std::string s = std::to_string(service_->engine_info()->image_size);
      return InvalidArgumentError("unexpected shape for input '" + input + "' for model '" + m.name +
                                  "'. Expected [-1,3," + s + "," + s + "], got " +
                                  (in ? kserve::ShapeString(in->shape) : "[]"));
    }
    case FailureKind::kTooManyImages:
      if (m.route != service::InferRoute::kKserveTensor) return f.status;
      return OutOfRangeError("inference request batch-size must be <= " +
                             std::to_string(service_->options().max_images_per_request) + " for '" + m.name + "'");
    case FailureKind::kBadSize: {
      if (in == nullptr) return f.status;
      const std::uint64_t elements = kserve::ElementCount(in->shape);
      if (in->binary) {
        return InvalidArgumentError("unexpected total byte size " + std::to_string(in->raw.size()) + " for input '" +
                                    input + "', expecting " + std::to_string(elements * sizeof(float)));
      }
      return InvalidArgumentError("unexpected number of elements " + std::to_string(in->fp32.size()) + " for input '" +
                                  input + "', expecting " + std::to_string(elements));
    }
    case FailureKind::kNonFinite: return f.status.WithPrefix("input '" + input + "'");
    default: return f.status;  // kBadImage: "image <i>: ...", as Triton-style clients have seen it
  }
}

void KserveApi::RunInfer(const Model& m, std::shared_ptr<const kserve::InferRequest> request_ptr, SteadyTime arrival,
                         InferDone done) {
  const kserve::InferRequest& request = *request_ptr;
  const std::string& mn = m.name;
  // Wire-level refusals are counted by the service like its own.
  auto refuse = [&](Status st) { done(service_->Refuse(m.route, std::move(st), arrival).status); };
  if (request.inputs.size() != 1) {
    return refuse(InvalidArgumentError("expected 1 inputs but got " + std::to_string(request.inputs.size()) +
                                       " inputs for model '" + mn + "'"));
  }
  const auto& in = request.inputs[0];
  if (in.name != m.input_name) {
    return refuse(InvalidArgumentError("unexpected inference input '" + in.name + "' for model '" + mn + "'"));
  }
  if (in.datatype != m.input_datatype) {
    return refuse(InvalidArgumentError("inference input '" + in.name + "' data-type is '" + in.datatype +
                                       "', but model '" + mn + "' expects '" + m.input_datatype + "'"));
  }
  for (const auto& out : request.outputs) {
    if (out.name != m.output_name) {
      return refuse(InvalidArgumentError("unexpected inference output '" + out.name + "' for model '" + mn + "'"));
    }
  }

  if (m.input_datatype == "FP32") {
    // Shape, batch size, element count and finiteness are the service's checks.
    service::PixelTensor tensor;
    tensor.shape = in.shape;
    if (in.binary) {
      tensor.values = std::as_bytes(std::span<const char>(in.raw.data(), in.raw.size()));
      tensor.owner = request.body_owner;
    } else {
      tensor.values = in.fp32;  // copy: the request is const; FP32 JSON is the slow path anyway
    }
    // The tensor views the request body; the request (and so the body) stays
    // alive until `done` has answered.
    service_->EmbedPixelsAsync(m.route, std::move(tensor),
                               [this, &m, request_ptr, done = std::move(done)](service::EmbedResult out) {
                                 if (!out.ok()) return done(WireStatus(m, &request_ptr->inputs[0], out.failure()));
                                 done(std::move(*out));
                               });
    return;
  }

  // BYTES: [N] or [N,1] encoded images.
  const auto& sh = in.shape;
  const bool shape_ok = (sh.size() == 1 && sh[0] >= 1) || (sh.size() == 2 && sh[0] >= 1 && sh[1] == 1);
  if (!shape_ok) {
    return refuse(InvalidArgumentError("unexpected shape for input '" + in.name + "' for model '" + mn +
                                       "'. Expected [-1], got " + kserve::ShapeString(sh)));
  }
  const std::uint64_t n = kserve::ElementCount(sh);
  // Views of the body or of `decoded`, kept alive with the callback.
  struct Images {
    std::vector<std::string_view> views;
    std::vector<std::vector<std::uint8_t>> decoded;  // JSON strings that were base64
  };
  auto held = std::make_shared<Images>();
  auto& images = held->views;
  auto& decoded = held->decoded;
  if (in.binary) {
    auto split = kserve::SplitBinaryBytes(in.raw, in.name);
    if (!split.ok()) return refuse(split.status());
    images = std::move(*split);
  } else {
    decoded.resize(in.bytes.size());
    for (size_t i = 0; i < in.bytes.size(); ++i) {
      const std::string& s = in.bytes[i];
      const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
      if (image::DetectFormat(std::span<const std::uint8_t>(p, s.size())) != image::Format::kUnknown) {
        images.emplace_back(s);
        continue;
      }
      // JSON strings cannot carry raw JPEG bytes portably; accept base64 too.
      auto payload = StripDataUri(s);
      auto bytes = payload.ok() ? DecodeBase64(*payload) : StatusOr<std::vector<std::uint8_t>>(payload.status());
      if (!bytes.ok()) images.emplace_back(s);  // let the decoder name the problem
      else {
        decoded[i] = std::move(*bytes);
        images.emplace_back(reinterpret_cast<const char*>(decoded[i].data()), decoded[i].size());
      }
    }
  }
  if (images.size() != n) {
    return refuse(InvalidArgumentError("unexpected number of string elements " + std::to_string(images.size()) +
                                       " for input '" + in.name + "', expecting " + std::to_string(n)));
  }
  service_->EmbedEncodedAsync(m.route, images,
                              [this, &m, request_ptr, held, done = std::move(done)](service::EmbedResult out) {
                                if (!out.ok()) return done(WireStatus(m, &request_ptr->inputs[0], out.failure()));
                                done(std::move(*out));
                              });
}

void KserveApi::Infer(const HttpRequest& req, HttpResponder respond) {
  const auto t0 = std::chrono::steady_clock::now();
  auto fail = [&](const Status& status) {
    HttpResponse res;
    Fail(res, status);
    respond(std::move(res));
  };
  auto found = FindModel(req);
  if (!found.ok()) return fail(found.status());
  const Model& m = **found;
  // Refused before the body is parsed when not ready or shut down.
  if (auto refused = service_->Admit(m.route)) return fail(WireStatus(m, nullptr, *refused));

  std::optional<std::uint64_t> header_len;
  if (req.has_header("Inference-Header-Content-Length")) {
    auto parsed = kserve::ParseHeaderLength(req.header("Inference-Header-Content-Length"), req.body().size());
    if (!parsed.ok()) return fail(service_->Refuse(m.route, parsed.status(), t0).status);
    header_len = *parsed;
  }
  auto parsed = kserve::ParseInferRequest(req.body(), header_len);
  if (!parsed.ok()) return fail(service_->Refuse(m.route, parsed.status(), t0).status);
  parsed->body_owner = req.body_owner();
  auto request = std::make_shared<const kserve::InferRequest>(std::move(*parsed));

  // Every failure below is counted in the model's stats by the service. The
  // answer is built where inference completes (a batcher worker): no thread
  // waits for it.
  RunInfer(m, request, t0, [this, &m, request, respond](StatusOr<service::EmbedOutcome> outcome) {
    HttpResponse res;
    if (!outcome.ok()) {
      Fail(res, outcome.status());
      return respond(std::move(res));
    }
    // Owned here until the answer is written: a binary answer is sent from
    // the embedding buffer itself.
    auto held = std::make_shared<const service::EmbedOutcome>(std::move(*outcome));
    const auto& r = held->result;
    bool binary = request->binary_data_output;
    for (const auto& out : request->outputs) binary = out.binary.value_or(request->binary_data_output);

    kserve::OutputTensor tensor;
    tensor.name = m.output_name;
    tensor.shape = {r.num_images, r.embed_dim};
    tensor.data = r.embeddings;
    tensor.binary = binary;
    auto encoded = kserve::EncodeInferResponse(m.name, service_->options().model_version, request->id,
                                               std::span<const kserve::OutputTensor>(&tensor, 1),
                                               /*append_binary=*/false);
    res.batch_size = r.batch_size;
    res.set_header("Server-Timing", ServerTimingHeader(*held));
    res.body = std::move(encoded.body);
    if (encoded.json_header_bytes) {
      static_assert(std::endian::native == std::endian::little);  // the wire format's byte order
      res.content_type = "application/octet-stream";
      res.set_header("Inference-Header-Content-Length", std::to_string(*encoded.json_header_bytes));
      res.body_tail = std::string_view(reinterpret_cast<const char*>(r.embeddings.data()), r.embeddings.size() * sizeof(float));
      res.tail_owner = held;
    }
    respond(std::move(res));
  });
}

}  // namespace clipserve::server
