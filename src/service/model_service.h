// ModelService: the request-level core shared by every front end (the REST
// and KServe HTTP personalities today; clip-embed and gRPC next).
//
// Owns the engine instances (through one dynamic batcher), the readiness
// state and the warm-up. Knows no HTTP and no JSON: adapters hand it pixels
// or encoded images and get embeddings and timings back.
//
// One Batcher serves every route: one FIFO queue and one worker per engine
// instance, so the three routes cost one set of weights and never contend
// outside the queue. Per request, the route decides whether it may share a
// batch (REST: --dynamic-batching-rest, KServe: --dynamic-batching-kserve)
// and which model's statistics it counts in (REST and the tensor model in the
// tensor model's, the image model in its own).
//
// Lifecycle: construct (not ready) -> Load() on any thread (engines built,
// warmed up at the readiness batch sizes inside Batcher::Create, ready) ->
// optional background warm-up of the remaining batch sizes (through the
// queue, counted in a private stats object) -> Shutdown().
// Thread safety: every method may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "batching/batcher.h"
#include "batching/batcher_config.h"
#include "common/status.h"
#include "engine/engine.h"
#include "metrics/registry.h"

namespace clipserve::service {

enum class InferRoute { kRest = 0, kKserveTensor = 1, kKserveImage = 2 };
inline constexpr int kNumRoutes = 3;

struct ModelServiceOptions {
  std::string model_name = "openclip_vit_b32";  // KServe tensor model; image model adds "_image"
  std::string model_version = "1";
  int instance_count = 1;
  // The queue's settings come from kserve_batching (max_batch_size,
  // preferred sizes, delay, queue size and timeout); each config's
  // dynamic_batching decides whether that personality's requests may share
  // batches.
  batching::BatcherConfig rest_batching;    // dynamic_batching off by default (see clip-server)
  batching::BatcherConfig kserve_batching;  // both KServe models
  // Batch sizes warmed up before readiness (every instance), and the ones
  // warmed up afterwards in the background (may be empty).
  std::vector<int> warmup_batch_sizes = {1};
  std::vector<int> background_warmup_batch_sizes;
  std::uint64_t max_pixels = 2ull * 89478485ull;  // image pipeline's decompression-bomb limit
  std::uint64_t max_decode_bytes = 128ull << 20;  // bytes one image decode may allocate (image::PreprocessOptions)
  int max_images_per_request = 256;
};

// Builds engine instance `index` (0-based) of `count`.
using EngineFactory = std::function<StatusOr<std::unique_ptr<engine::Engine>>(int index, int count)>;

struct EmbedOutcome {
  batching::BatchResult result;
  std::int64_t preprocess_us = 0;  // decode + resize + crop + to-float, all images
};

class ModelService {
 public:
  // `registry` is not owned and must outlive the service; the service
  // registers the two KServe models' stats in it at construction.
  ModelService(ModelServiceOptions options, metrics::Registry* registry);
  ~ModelService();  // Shutdown(0) if needed; joins the background warm-up

  // Builds the engines, warms them up, creates the batchers, then becomes
  // ready. Returns the first error (the service then stays not ready).
  Status Load(const EngineFactory& factory);

  // Starts warming the background sizes on a helper thread (no-op if none).
  void StartBackgroundWarmup();

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Ready and not draining: what readiness probes report, so a load
  // balancer stops sending work as soon as SIGTERM arrives.
  bool serving() const { return ready() && !shutting_down_.load(std::memory_order_acquire); }
  // Valid once ready() (null before).
  const engine::EngineInfo* engine_info() const;
  const ModelServiceOptions& options() const { return options_; }
  std::string image_model_name() const { return options_.model_name + "_image"; }
  long long load_duration_ms() const { return load_duration_ms_.load(); }

  // Stats of the KServe tensor model (REST is counted here too) and the
  // image model. Non-null for the service's lifetime.
  metrics::ModelStats* tensor_stats() const { return tensor_stats_; }
  metrics::ModelStats* image_stats() const { return image_stats_; }
  metrics::ModelStats* stats_for(InferRoute route) const {
    return route == InferRoute::kKserveImage ? image_stats_ : tensor_stats_;
  }

  // pixels: num_images * 3 * S * S floats in [0, 1], CHW (the engine layout).
  // Errors: Unavailable (not ready / shutting down), ResourceExhausted (queue
  // full), DeadlineExceeded (queue timeout), InvalidArgument, engine errors.
  // A NaN or Inf is InvalidArgument naming the first such element (image,
  // channel, y, x); like the caller's own input validation, that failure is
  // not recorded in the stats here: the caller records it.
  StatusOr<EmbedOutcome> EmbedPixels(InferRoute route, std::vector<float> pixels, int num_images);

  // Decodes and preprocesses every image (open_clip's transform), then
  // embeds them as one request. A bad image (corrupt, unsupported, over the
  // pixel limit) is InvalidArgument whose message starts with
  // "image <index>: "; more than max_images_per_request is OutOfRange.
  StatusOr<EmbedOutcome> EmbedEncoded(InferRoute route, std::span<const std::string_view> images);

  // Readiness turns false; requests are still served (the HTTP layer stops
  // taking new ones) until Shutdown() stops the batcher. Shutdown() implies it.
  // The batcher stops waiting to fill batches from here on.
  void StopAccepting();

  // Stops accepting, drains queued work within `drain_timeout`. Idempotent.
  Status Shutdown(Microseconds drain_timeout);

 private:
  StatusOr<EmbedOutcome> Submit(InferRoute route, std::vector<float> pixels, int num_images,
                                std::int64_t preprocess_us);
  void RecordEarlyFailure(InferRoute route, const Status& status, std::uint64_t elapsed_ns);

  const ModelServiceOptions options_;
  metrics::ModelStats* tensor_stats_ = nullptr;
  metrics::ModelStats* image_stats_ = nullptr;

  std::unique_ptr<metrics::ModelStats> warmup_stats_;  // background warm-up; not exported
  std::unique_ptr<batching::Batcher> batcher_;
  engine::EngineInfo info_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<long long> load_duration_ms_{0};
  std::mutex shutdown_mu_;
  std::thread background_warmup_;
  std::atomic<bool> stop_background_{false};
};

// "image_size" floats per image: 3 * S * S.
inline std::size_t FloatsPerImage(int image_size) { return 3ull * image_size * image_size; }

}  // namespace clipserve::service
