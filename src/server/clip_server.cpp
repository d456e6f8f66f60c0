#include "server/clip_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "batching/triton_config.h"
#include "server/grpc_server.h"
#include "server/http_server.h"
#include "server/kserve_api.h"
#include "server/rest_api.h"

namespace clipserve::server {

Status ServerConfig::Validate() const {
  if (!rest_api && !kserve_api) return InvalidArgumentError("--api: enable at least one of rest, kserve");
  auto port_ok = [](int p) { return p >= 0 && p <= 65535; };
  if (rest_api && !port_ok(rest_port)) return InvalidArgumentError("--rest-port must be in [0, 65535]");
  if (kserve_api && !port_ok(http_port)) return InvalidArgumentError("--http-port must be in [0, 65535]");
  if (kserve_api && grpc_port != -1 && !port_ok(grpc_port)) {
    return InvalidArgumentError("--grpc-port must be -1 or in [0, 65535]");
  }
  if (metrics_port != -1 && !port_ok(metrics_port)) return InvalidArgumentError("--metrics-port must be -1 or in [0, 65535]");
  if (model_name.empty()) return InvalidArgumentError("--model-name must not be empty");
  if (max_batch_size < 1) return InvalidArgumentError("--max-batch-size must be >= 1");
  if (instance_count < 1) return InvalidArgumentError("--instance-count must be >= 1");
  if (max_images_per_request < 1) return InvalidArgumentError("--max-images-per-request must be >= 1");
  if (max_body_bytes < 1024) return InvalidArgumentError("--max-body-bytes must be >= 1024");
  if (max_pixels < 1) return InvalidArgumentError("--max-pixels must be >= 1");
  if (max_decode_bytes < 1) return InvalidArgumentError("--max-decode-bytes must be >= 1");
  if (read_timeout_s < 1) return InvalidArgumentError("--read-timeout-s must be >= 1");
  if (http_threads < 0) return InvalidArgumentError("--threads-http must be >= 0");
  if (io_threads < 1) return InvalidArgumentError("--io-threads must be >= 1");
  if (decode_threads < 0) return InvalidArgumentError("--decode-threads must be >= 0");
  if (protect_metrics && api_key.empty()) return InvalidArgumentError("--protect-metrics needs --api-key or --api-key-file");
  if (header_timeout_s < 1) return InvalidArgumentError("--header-timeout-s must be >= 1");
  if (keep_alive_timeout_s < 1) return InvalidArgumentError("--keep-alive-timeout-s must be >= 1");
  if (max_connections < 1) return InvalidArgumentError("--max-connections must be >= 1");
  if (drain_timeout_s < 0) return InvalidArgumentError("--drain-timeout-s must be >= 0");
  for (int s : warmup_batch_sizes) {
    if (s < 1 || s > max_batch_size) {
      return InvalidArgumentError("--warmup-batch-sizes: " + std::to_string(s) + " is not in [1, --max-batch-size]");
    }
  }
  auto options = ToServiceOptions();
  return options.ok() ? Status::Ok() : options.status();
}

StatusOr<service::ModelServiceOptions> ServerConfig::ToServiceOptions() const {
  service::ModelServiceOptions o;
  o.model_name = model_name;
  o.instance_count = instance_count;
  o.max_pixels = max_pixels;
  o.max_decode_bytes = max_decode_bytes;
  o.max_images_per_request = max_images_per_request;
  o.decode_threads = decode_threads;

  batching::BatcherConfig b;
  b.max_batch_size = max_batch_size;
  b.preferred_batch_sizes = preferred_batch_sizes;
  b.max_queue_delay = Microseconds(max_queue_delay_us);
  b.max_queue_size = max_queue_size;
  b.default_queue_timeout = Microseconds(queue_timeout_us);
  b.instance_count = instance_count;

  o.kserve_batching = b;
  o.kserve_batching.dynamic_batching = kserve_dynamic_batching;
  if (!model_config_path.empty()) {
    ASSIGN_OR_RETURN(auto triton, batching::LoadTritonConfigFile(model_config_path));
    auto from_file = batching::ToBatcherConfig(triton);
    if (!from_file.ok()) return from_file.status().WithPrefix(model_config_path);
    o.kserve_batching = *from_file;
    o.instance_count = from_file->instance_count;
    b.max_batch_size = from_file->max_batch_size;
  }
  o.rest_batching = b;
  o.rest_batching.dynamic_batching = rest_dynamic_batching;
  o.rest_batching.instance_count = o.instance_count;
  o.kserve_batching.instance_count = o.instance_count;
  RETURN_IF_ERROR(o.rest_batching.Validate().WithPrefix("REST batching"));
  RETURN_IF_ERROR(o.kserve_batching.Validate().WithPrefix("KServe batching"));

  const int max_batch = std::max(o.rest_batching.max_batch_size, o.kserve_batching.max_batch_size);
  // Every size a batch can have would cost sum(1..max) images; powers of
  // two, the preferred sizes and the cap cover the shapes seen in practice.
  std::set<int> shapes;
  for (int s = 1; s <= max_batch; s *= 2) shapes.insert(s);
  shapes.insert(max_batch);
  for (int s : o.kserve_batching.preferred_batch_sizes) shapes.insert(std::min(s, max_batch));
  std::set<int> ready_sizes;
  if (!warmup_batch_sizes.empty()) {
    for (int s : warmup_batch_sizes) ready_sizes.insert(std::min(s, max_batch));
  } else if (background_warmup) {
    ready_sizes.insert(1);
  } else {
    ready_sizes = shapes;
  }
  o.warmup_batch_sizes.assign(ready_sizes.begin(), ready_sizes.end());
  if (background_warmup) {
    for (int s : shapes) {
      if (!ready_sizes.count(s)) o.background_warmup_batch_sizes.push_back(s);
    }
  }
  return o;
}

struct ClipServer::Listeners {
  std::unique_ptr<RestApi> rest;
  std::unique_ptr<KserveApi> kserve;
  std::unique_ptr<HttpServer> rest_http, kserve_http, metrics_http;
  std::unique_ptr<GrpcServer> grpc;
};

ClipServer::ClipServer(ServerConfig config, service::ModelServiceOptions options, ServerHooks hooks)
    : config_(std::move(config)), hooks_(std::move(hooks)), listeners_(std::make_unique<Listeners>()) {
  service_ = std::make_unique<service::ModelService>(std::move(options), &registry_);
}

ClipServer::~ClipServer() { (void)Shutdown(Microseconds(0)); }

Status ClipServer::Start() {
  auto counter = registry_.AddCounterFamily("clipserve_http_requests_total",
                                            "HTTP requests served, by API, route and status code",
                                            {"api", "route", "code"});
  metrics::CounterFamily* requests = counter.ok() ? *counter : nullptr;

  auto make_options = [&](std::string name, int port, auto error_body) {
    HttpServerOptions o;
    o.name = std::move(name);
    o.host = config_.host;
    o.port = port;
    // Inference handlers are asynchronous: pool threads parse and decode, and
    // never wait for the model, so a few per core serve any concurrency.
    o.worker_threads = config_.http_threads > 0
                           ? config_.http_threads
                           : std::max(4, 2 * static_cast<int>(std::thread::hardware_concurrency()));
    o.max_body_bytes = config_.max_body_bytes;
    o.read_timeout_s = config_.read_timeout_s;
    o.header_timeout_s = config_.header_timeout_s;
    o.io_threads = config_.io_threads;
    o.max_connections = config_.max_connections;
    o.keep_alive_timeout_s = config_.keep_alive_timeout_s;
    o.access_log = config_.access_log;
    o.api_key = config_.api_key;
    o.error_body = error_body;
    return o;
  };

  auto& l = *listeners_;
  if (config_.rest_api) {
    l.rest = std::make_unique<RestApi>(service_.get(), RestApiOptions{hooks_.device_facts, requests});
    l.rest_http = std::make_unique<HttpServer>(make_options("rest", config_.rest_port, &RestApi::ErrorBody), l.rest->Routes());
    RETURN_IF_ERROR(l.rest_http->Bind().status());
  }
  if (config_.kserve_api) {
    KserveApiOptions ko;
    ko.server_version = hooks_.version;
    ko.request_counter = requests;
    ko.instance_kind = config_.engine.device == engine::DeviceKind::kCuda ? "KIND_GPU" : "KIND_CPU";
    l.kserve = std::make_unique<KserveApi>(service_.get(), ko);
    auto o = make_options("kserve", config_.http_port, &KserveApi::ErrorBody);
    // Binary tensor data starts after the JSON header: aligned, it reaches
    // the engine without a copy.
    o.body_alignment_field = "Inference-Header-Content-Length";
    l.kserve_http = std::make_unique<HttpServer>(o, l.kserve->Routes());
    RETURN_IF_ERROR(l.kserve_http->Bind().status());
  }
  if (config_.metrics_port >= 0) {
    // /metrics reads atomics only; it never waits on inference.
    std::vector<Route> routes = {
        {"GET", "/metrics",
         [this](const HttpRequest&, HttpResponse& res) {
           res.content_type = std::string(metrics::kPrometheusContentType);
           res.body = registry_.RenderText();
         },
         /*on_io_thread=*/true},
    };
    routes[0].needs_key = config_.protect_metrics;
    auto o = make_options("metrics", config_.metrics_port, &KserveApi::ErrorBody);
    o.worker_threads = 1;  // /metrics runs on the I/O thread
    o.io_threads = 1;
    l.metrics_http = std::make_unique<HttpServer>(o, std::move(routes));
    RETURN_IF_ERROR(l.metrics_http->Bind().status());
  }
  if (config_.kserve_api && config_.grpc_port >= 0) {
    auto grpc_requests = registry_.AddCounterFamily("clipserve_grpc_requests_total",
                                                    "KServe v2 gRPC calls served, by method and status code",
                                                    {"method", "code"});
    GrpcServerOptions go;
    go.host = config_.host;
    go.port = config_.grpc_port;
    go.max_message_bytes = config_.max_body_bytes;
    go.server_version = hooks_.version;
    go.instance_kind = config_.engine.device == engine::DeviceKind::kCuda ? "KIND_GPU" : "KIND_CPU";
    go.request_counter = grpc_requests.ok() ? *grpc_requests : nullptr;
    go.api_key = config_.api_key;
    go.access_log = config_.access_log;
    l.grpc = std::make_unique<GrpcServer>(service_.get(), go);
    RETURN_IF_ERROR(l.grpc->Start());  // binds and serves: liveness answers from here on
  }
  for (auto* s : {l.rest_http.get(), l.kserve_http.get(), l.metrics_http.get()}) {
    if (s) s->Start();
  }
  return Status::Ok();
}

std::string ClipServer::ListeningLine() const {
  std::string line = "clip-server: listening";
  auto add = [&](const char* name, const std::unique_ptr<HttpServer>& s) {
    if (s) line += std::string(" ") + name + "=" + s->host() + ":" + std::to_string(s->port());
  };
  add("rest", listeners_->rest_http);
  add("http", listeners_->kserve_http);
  if (listeners_->grpc) line += " grpc=" + listeners_->grpc->host() + ":" + std::to_string(listeners_->grpc->port());
  add("metrics", listeners_->metrics_http);
  return line;
}

Status ClipServer::LoadModel() {
  RETURN_IF_ERROR(service_->Load(hooks_.engine_factory));
  service_->StartBackgroundWarmup();
  return Status::Ok();
}

Status ClipServer::Shutdown(Microseconds drain_timeout) {
  auto& l = *listeners_;
  // Readiness goes 503 at once, so a load balancer stops sending, and the
  // inference listeners drain while the batcher keeps running: every request
  // whose header has arrived is answered (new ones on open keep-alive
  // connections get 503 and close). Only then does the batcher drain what is
  // left in its queue; the metrics listener closes last. gRPC drains beside
  // HTTP: new RPCs are refused, those in flight are answered.
  // The listeners first: an answer written from here on says
  // `Connection: close`, including those of the batch StopAccepting releases.
  const auto start = std::chrono::steady_clock::now();
  for (auto* s : {l.rest_http.get(), l.kserve_http.get()}) {
    if (s) s->BeginDrain();
  }
  service_->StopAccepting();
  const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(drain_timeout);
  std::vector<std::thread> stoppers;
  std::atomic<int> abandoned{0};  // connections closed with a request unanswered
  for (auto* s : {l.rest_http.get(), l.kserve_http.get()}) {
    if (s) stoppers.emplace_back([s, budget, &abandoned] { abandoned += s->Stop(budget); });
  }
  if (l.grpc) stoppers.emplace_back([&l, budget] { l.grpc->Shutdown(budget); });
  for (auto& t : stoppers) t.join();
  const auto spent = std::chrono::duration_cast<Microseconds>(std::chrono::steady_clock::now() - start);
  Status st = service_->Shutdown(std::max(Microseconds(0), drain_timeout - spent));
  if (l.metrics_http) l.metrics_http->Stop(std::chrono::milliseconds(1000));
  if (st.ok() && abandoned.load() > 0) {
    return DeadlineExceededError(std::to_string(abandoned.load()) +
                                 " connection(s) closed by the drain timeout with a request unanswered");
  }
  return st;
}

int ClipServer::rest_port() const { return listeners_->rest_http ? listeners_->rest_http->port() : -1; }
int ClipServer::http_port() const { return listeners_->kserve_http ? listeners_->kserve_http->port() : -1; }
int ClipServer::grpc_port() const { return listeners_->grpc ? listeners_->grpc->port() : -1; }
int ClipServer::metrics_port() const { return listeners_->metrics_http ? listeners_->metrics_http->port() : -1; }

}  // namespace clipserve::server
