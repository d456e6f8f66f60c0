// ModelService: the request-level core shared by every front end (the REST
// and KServe HTTP personalities today; clip-embed and gRPC next).
//
// Owns the engine instances (through one dynamic batcher), the readiness
// state, the warm-up, the models' statistics, and every check a request
// goes through before the batcher: admission (ready, not draining), the
// image count, the FP32 tensor's shape, element count and finiteness, and
// the decoding of encoded images under the decode limits. Knows no HTTP and
// no JSON: front ends hand it pixels or encoded images and get embeddings
// and timings back, or a typed EmbedFailure whose kind and image index let
// each front end word the message its own contract promises.
//
// One Batcher serves every route: one FIFO queue and one worker per engine
// instance, so the three routes cost one set of weights and never contend
// outside the queue. Per request, the route decides whether it may share a
// batch (REST: --dynamic-batching-rest, KServe: --dynamic-batching-kserve)
// and which model's statistics it counts in (REST and the tensor model in the
// tensor model's, the image model in its own).
//
// Draining: StopAccepting() turns readiness off and drops the batching
// delay, but requests are still served (the front end stops taking new
// ones); from Shutdown() on, new requests are refused (kDraining).
//
// Failure accounting: every inference request that does not succeed counts
// exactly once as a failure of its route's model (Triton's
// nv_inference_request_failure). The batcher records what fails in the queue
// or the engine (queue full, queue timeout, shutdown, engine error); this
// service records everything it refuses before that; a front end reports the
// requests it refuses while decoding its own wire format through Refuse().
// A front end never touches ModelStats itself.
//
// Lifecycle: construct (not ready) -> Load() on any thread (engines built,
// warmed up at the readiness batch sizes inside Batcher::Create, ready) ->
// optional background warm-up of the remaining batch sizes (through the
// queue, counted in a private stats object) -> Shutdown().
// Thread safety: every method may be called concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "batching/batcher.h"
#include "batching/batcher_config.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/task_pool.h"
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
  // Bytes one image decode may allocate (image::PreprocessOptions).
  std::uint64_t max_decode_bytes = 128ull << 20;
  int max_images_per_request = 256;
  // Threads that decode and preprocess encoded images, the images of one
  // request in parallel; 0: one per CPU.
  int decode_threads = 0;
};

// Builds engine instance `index` (0-based) of `count`.
using EngineFactory = std::function<StatusOr<std::unique_ptr<engine::Engine>>(int index, int count)>;

// An FP32 image batch as a front end received it, before any check.
// shape should be [N, 3, S, S] (S = the engine's image_size); values are
// CHW per image in [0, 1], either raw native-endian float bytes (a view, for
// the binary tensor extension) or floats the front end already parsed.
struct PixelTensor {
  std::vector<std::int64_t> shape;
  std::variant<std::span<const std::byte>, std::vector<float>> values;
  // Keeps a view in `values` valid for as long as the service holds it. With
  // an owner, a view aligned for float reaches the engine without a copy
  // (the batcher holds the owner); without one, or unaligned, it is copied
  // once before the call returns.
  std::shared_ptr<const void> owner = nullptr;

  // [num_images, 3, image_size, image_size] of `pixels`.
  static PixelTensor Chw(std::vector<float> pixels, int num_images, int image_size);
};

struct EmbedOutcome {
  batching::BatchResult result;
  std::int64_t preprocess_us = 0;  // decode + resize + crop + to-float, all images
};

// What made a request fail. Front ends switch on it (never on a message) to
// word their contract's message; status.message() is this layer's wording.
enum class FailureKind {
  kNotReady,       // Unavailable: the model is not loaded yet
  kDraining,       // Unavailable: Shutdown() has begun (StopAccepting() alone refuses nothing)
  kNoImages,       // InvalidArgument: zero images
  kTooManyImages,  // OutOfRange: more than max_images_per_request
  kBadShape,       // InvalidArgument: PixelTensor::shape is not [N>=1, 3, S, S]
  kBadSize,        // InvalidArgument: the values do not hold exactly the shape's elements
  kNonFinite,      // InvalidArgument: a NaN or Inf (image_index names its image)
  kBadImage,       // InvalidArgument: an encoded image failed to decode or preprocess
  kRefused,        // the front end refused it (Refuse()); status is the front end's
  kBatcher,        // the batcher or engine failed it; status says how: ResourceExhausted
                   // (queue full), DeadlineExceeded (queue timeout), Unavailable
                   // (shut down while queued), or the engine's own error
};
std::string_view FailureKindName(FailureKind kind);  // "not_ready", ...

struct EmbedFailure {
  FailureKind kind = FailureKind::kBatcher;
  Status status;                   // canonical code; the whole message in this layer's words
  std::optional<int> image_index;  // 0-based, in request order: the image the failure is about
  // kBadImage: that image's own error, without the index (status.message()
  // is "image <index>: " + detail). Empty for the other kinds.
  std::string detail;
};

// The value of one Embed* call: an outcome or a failure.
class EmbedResult {
 public:
  EmbedResult(EmbedOutcome outcome) : v_(std::move(outcome)) {}  // NOLINT(google-explicit-constructor)
  EmbedResult(EmbedFailure failure) : v_(std::move(failure)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  // OK, or the failure's status.
  Status status() const { return ok() ? Status::Ok() : failure().status; }
  const EmbedFailure& failure() const { return std::get<EmbedFailure>(v_); }  // requires !ok()

  EmbedOutcome& value() & { return std::get<EmbedOutcome>(v_); }  // requires ok()
  const EmbedOutcome& value() const& { return std::get<EmbedOutcome>(v_); }
  EmbedOutcome&& value() && { return std::get<EmbedOutcome>(std::move(v_)); }
  EmbedOutcome& operator*() & { return value(); }
  const EmbedOutcome& operator*() const& { return value(); }
  EmbedOutcome&& operator*() && { return std::move(*this).value(); }
  EmbedOutcome* operator->() { return &value(); }
  const EmbedOutcome* operator->() const { return &value(); }

 private:
  std::variant<EmbedOutcome, EmbedFailure> v_;
};

// Called exactly once per Embed*Async call; see the threading note there.
using EmbedCallback = std::function<void(EmbedResult)>;

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
  // The KServe model `name` (and `version`, when not empty) names: its
  // route, or NotFound in Triton's wording. Both KServe fronts use it.
  StatusOr<InferRoute> FindModel(std::string_view name, std::string_view version) const;
  long long load_duration_ms() const { return load_duration_ms_.load(); }

  // Stats of the KServe tensor model (REST is counted here too) and the
  // image model. Non-null for the service's lifetime.
  metrics::ModelStats* tensor_stats() const { return tensor_stats_; }
  metrics::ModelStats* image_stats() const { return image_stats_; }
  metrics::ModelStats* stats_for(InferRoute route) const {
    return route == InferRoute::kKserveImage ? image_stats_ : tensor_stats_;
  }

  // Embeds an FP32 tensor. Checks, in this order: admission (kNotReady,
  // kDraining), shape (kBadShape), image count (kTooManyImages), element
  // count (kBadSize), finiteness (kNonFinite, naming the first bad element
  // as "element E (image I, channel C, y Y, x X)"); then the batcher.
  //
  // `done` runs exactly once: on the calling thread, before this returns,
  // when the request fails before it is queued; otherwise on a batcher
  // worker thread. It must be quick and must not block on this service
  // (no blocking Embed* call, no Shutdown). A raw `values` view must stay
  // valid until `done` runs (today it is copied before this returns).
  void EmbedPixelsAsync(InferRoute route, PixelTensor pixels, EmbedCallback done);

  // Decodes and preprocesses every image (open_clip's transform, under
  // max_pixels and max_decode_bytes), then embeds them as one request.
  // Checks admission, the image count (kNoImages, kTooManyImages), then each
  // image (kBadImage with the lowest bad index). The bytes the views point to
  // must stay valid until `done` runs. The images are decoded on the decode
  // pool (ModelServiceOptions::decode_threads), in parallel; this returns at
  // once. `done` as above.
  void EmbedEncodedAsync(InferRoute route, std::span<const std::string_view> images, EmbedCallback done);

  // Blocking forms: wait for the asynchronous call's result. For callers
  // with a thread to spare (clip-embed, tests); never from an EmbedCallback.
  EmbedResult EmbedPixels(InferRoute route, PixelTensor pixels);
  EmbedResult EmbedEncoded(InferRoute route, std::span<const std::string_view> images);

  // Admission alone, for a front end that wants to refuse a request before
  // decoding its body: ready and not shut down, and, when `num_images` is
  // given, 1..max_images_per_request images. The Embed* calls run the same
  // checks again, so calling this is optional. A refusal is counted (with a
  // duration of 0, as the batcher counts its immediate rejections): do not
  // pass a refused request on to Embed* or Refuse.
  std::optional<EmbedFailure> Admit(InferRoute route, std::optional<std::int64_t> num_images = std::nullopt);

  // Counts a request the front end refused itself while decoding its wire
  // format (malformed body, wrong input name or datatype, ...) as one
  // failure of the route's model, with the time since `arrival`. Returns
  // {kRefused, status} for the caller to answer with.
  EmbedFailure Refuse(InferRoute route, Status status, SteadyTime arrival);

  // Readiness turns false; requests are still served (the HTTP layer stops
  // taking new ones) until Shutdown() stops the batcher. Shutdown() implies it.
  // The batcher stops waiting to fill batches from here on.
  void StopAccepting();

  // Readiness off, new requests refused (kDraining), queued work drained
  // within `drain_timeout`. Idempotent.
  Status Shutdown(Microseconds drain_timeout);

 private:
  std::optional<EmbedFailure> CheckAdmission() const;
  std::optional<EmbedFailure> CheckImageCount(std::int64_t num_images) const;
  std::optional<EmbedFailure> CheckPixels(const PixelTensor& pixels) const;
  // Records `failure` in the route's stats and hands it to `done`.
  void Fail(InferRoute route, EmbedFailure failure, std::uint64_t elapsed_ns, const EmbedCallback& done);
  struct DecodeJob;
  void DecodeOne(DecodeJob& job, int index);
  void Submit(InferRoute route, batching::PixelBuffer pixels, int num_images, std::int64_t preprocess_us,
              EmbedCallback done);

  const ModelServiceOptions options_;
  metrics::ModelStats* tensor_stats_ = nullptr;
  metrics::ModelStats* image_stats_ = nullptr;

  std::unique_ptr<metrics::ModelStats> warmup_stats_;  // background warm-up; not exported
  std::unique_ptr<TaskPool> decode_pool_;
  std::unique_ptr<batching::Batcher> batcher_;
  engine::EngineInfo info_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};  // StopAccepting or Shutdown: readiness off
  std::atomic<bool> closed_{false};         // Shutdown began: new requests refused
  std::atomic<long long> load_duration_ms_{0};
  std::mutex shutdown_mu_;
  std::thread background_warmup_;
  std::atomic<bool> stop_background_{false};
};

// "image_size" floats per image: 3 * S * S.
inline std::size_t FloatsPerImage(int image_size) { return 3ull * image_size * image_size; }

}  // namespace clipserve::service
