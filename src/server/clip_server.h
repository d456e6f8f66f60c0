// ClipServer: the whole server, assembled from the parts in this folder.
//
// ServerConfig is clip-server's one config struct (the binary fills it from
// CLI11 flags and environment variables, then calls Validate once).
// ClipServer binds the listeners first (liveness answers at once), then
// loads the model on the caller's thread (readiness and inference answer 503
// until it is loaded and warmed up), and drains on Shutdown.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "metrics/registry.h"
#include "service/model_service.h"

namespace clipserve::server {

struct ServerConfig {
  // Personalities and listeners.
  bool rest_api = true;
  bool kserve_api = true;
  std::string host = "127.0.0.1";
  int rest_port = 8002;     // 0 = ephemeral
  int http_port = 8003;     // KServe v2
  int grpc_port = 8004;     // KServe v2 over gRPC; -1 = no gRPC listener
  int metrics_port = 8005;  // -1 = no metrics listener

  // Model and engine.
  engine::EngineOptions engine;
  std::string model_name = "openclip_vit_b32";

  // Batching (Triton names). A --model-config file, when given, overrides
  // the KServe batching settings and the instance count.
  int max_batch_size = 32;
  std::vector<int> preferred_batch_sizes;
  std::int64_t max_queue_delay_us = 0;
  int max_queue_size = 0;               // requests; 0 = unbounded
  std::int64_t queue_timeout_us = 0;    // 0 = none
  int instance_count = 1;
  bool rest_dynamic_batching = false;   // the original served each request alone
  bool kserve_dynamic_batching = true;
  std::string model_config_path;        // Triton config.pbtxt

  // Warm-up. Readiness means warm, as Triton's does after model_warmup:
  // by default every batch shape the batcher forms (powers of two up to the
  // cap, the preferred sizes, the cap) runs before the server says ready.
  // `warmup_batch_sizes` replaces that set; `background_warmup` readies the
  // server after `warmup_batch_sizes` (default {1}) and warms the rest
  // after readiness, where a benchmark started at once would overlap it.
  std::vector<int> warmup_batch_sizes;  // empty: every batch shape
  bool background_warmup = false;

  // Limits.
  std::uint64_t max_body_bytes = 64ull << 20;
  int max_images_per_request = 256;
  std::uint64_t max_pixels = 2ull * 89478485ull;
  std::uint64_t max_decode_bytes = 128ull << 20;
  int read_timeout_s = 30;       // a request body, whole
  int header_timeout_s = 10;     // a request header, from its first byte
  int keep_alive_timeout_s = 5;
  int http_threads = 0;          // per listener: handler pool (parse, decode); 0 = 2 x CPUs, at least 4
  int io_threads = 2;            // per listener: socket I/O
  int decode_threads = 0;        // image decode + preprocess, all listeners; 0 = one per CPU
  int max_connections = 1024;    // per listener; more get 503
  int drain_timeout_s = 30;
  bool access_log = true;
  std::string api_key;           // empty: no access control (--api-key / --api-key-file)
  bool protect_metrics = false;  // /metrics needs the key too

  Status Validate() const;
  // The service options this config implies (reads --model-config).
  StatusOr<service::ModelServiceOptions> ToServiceOptions() const;
};

struct ServerHooks {
  service::EngineFactory engine_factory;              // required
  std::function<engine::DeviceFacts()> device_facts;  // for /gpu-info; may be empty
  std::string version = "0.1.0";
};

class ClipServer {
 public:
  // `config` must have passed Validate(); `options` from ToServiceOptions().
  ClipServer(ServerConfig config, service::ModelServiceOptions options, ServerHooks hooks);
  ~ClipServer();

  // Binds and starts every enabled listener. After this, liveness answers.
  Status Start();
  // "clip-server: listening rest=HOST:PORT http=HOST:PORT grpc=HOST:PORT metrics=HOST:PORT"
  // (a listener that is off is omitted).
  std::string ListeningLine() const;
  // Builds the engines, warms up, becomes ready; then starts the background
  // warm-up. Blocks.
  Status LoadModel();
  // Stops accepting, lets requests in flight finish, drains the batchers.
  // Bounded by `drain_timeout` overall (listeners first, then queues).
  Status Shutdown(Microseconds drain_timeout);

  int rest_port() const;
  int http_port() const;
  int grpc_port() const;  // -1 when off
  int metrics_port() const;
  service::ModelService& service() { return *service_; }
  metrics::Registry& registry() { return registry_; }

 private:
  struct Listeners;
  ServerConfig config_;
  ServerHooks hooks_;
  metrics::Registry registry_;
  std::unique_ptr<service::ModelService> service_;
  std::unique_ptr<Listeners> listeners_;
};

}  // namespace clipserve::server
