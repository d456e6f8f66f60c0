#include "service/model_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/finite.h"
#include "image/image.h"

namespace clipserve::service {
namespace {

std::uint64_t NsSince(std::chrono::steady_clock::time_point t0) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

long long MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ModelService::ModelService(ModelServiceOptions options, metrics::Registry* registry) : options_(std::move(options)) {
  const int max_batch = std::max(options_.rest_batching.max_batch_size, options_.kserve_batching.max_batch_size);
  warmup_stats_ = std::make_unique<metrics::ModelStats>("warmup", "1", max_batch);
  auto tensor = registry->AddModel(options_.model_name, options_.model_version, max_batch);
  tensor_stats_ = tensor.ok() ? *tensor : registry->FindModel(options_.model_name, options_.model_version);
  auto image = registry->AddModel(image_model_name(), options_.model_version, max_batch);
  image_stats_ = image.ok() ? *image : registry->FindModel(image_model_name(), options_.model_version);
}

ModelService::~ModelService() {
  (void)Shutdown(Microseconds(0));
}

const engine::EngineInfo* ModelService::engine_info() const { return ready() ? &info_ : nullptr; }

Status ModelService::Load(const EngineFactory& factory) {
  const auto t0 = std::chrono::steady_clock::now();
  const int count = std::max(1, options_.instance_count);
  std::vector<std::unique_ptr<engine::Engine>> engines;
  for (int i = 0; i < count; ++i) {
    auto built = factory(i, count);
    if (!built.ok()) return built.status().WithPrefix("engine instance " + std::to_string(i));
    if (!*built) return InternalError("engine factory returned null for instance " + std::to_string(i));
    engines.push_back(std::move(*built));
  }
  info_ = engines[0]->info();
  const auto load_ms = MsSince(t0);
  std::fprintf(stderr, "clip-server: engine: %s %s (%s), %s (requested %s), %s, %d threads x %d instances\n",
               std::string(engine::DeviceKindName(info_.device)).c_str(), info_.cpu_isa.c_str(),
               info_.cpu_model.c_str(), std::string(engine::PrecisionName(info_.precision)).c_str(),
               std::string(engine::PrecisionName(info_.requested_precision)).c_str(), info_.compute.c_str(),
               info_.threads, count);

  // The queue's settings are the KServe ones; batching is allowed at all when
  // either personality batches, and then per request (Submit).
  batching::BatcherOptions bo;
  bo.config = options_.kserve_batching;
  bo.config.max_batch_size = std::max(options_.rest_batching.max_batch_size, options_.kserve_batching.max_batch_size);
  bo.config.dynamic_batching = options_.rest_batching.dynamic_batching || options_.kserve_batching.dynamic_batching;
  bo.config.instance_count = count;
  bo.stats = tensor_stats_;
  // Warm-up at the readiness sizes runs inside Create on every instance,
  // before anything is accepted: the first call at a shape pays for kernel
  // selection and allocation.
  for (int size : options_.warmup_batch_sizes) {
    if (size >= 1 && size <= bo.config.max_batch_size) bo.warmup_batch_sizes.push_back(size);
  }
  auto batcher = batching::Batcher::Create(std::move(bo), std::move(engines));
  if (!batcher.ok()) return batcher.status().WithPrefix("creating the batcher (warm-up included)");
  batcher_ = std::move(*batcher);

  load_duration_ms_.store(MsSince(t0));
  std::fprintf(stderr, "clip-server: model loaded in %lld ms, warm-up done in %lld ms total\n",
               static_cast<long long>(load_ms), load_duration_ms_.load());
  ready_.store(true, std::memory_order_release);
  return Status::Ok();
}

void ModelService::StartBackgroundWarmup() {
  if (options_.background_warmup_batch_sizes.empty() || !ready() || background_warmup_.joinable()) return;
  background_warmup_ = std::thread([this] {
    // Through the queue like any request, so it never races a worker for an
    // engine; counted in a private stats object, not in the models' stats.
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t per_image = FloatsPerImage(info_.image_size);
    int done = 0;
    for (int size : options_.background_warmup_batch_sizes) {
      if (stop_background_.load() || size > batcher_->config().max_batch_size) break;
      for (int i = 0; i < batcher_->instance_count() && !stop_background_.load(); ++i) {
        batching::SubmitOptions so;
        so.allow_batching = false;
        so.stats = warmup_stats_.get();
        auto result = batcher_->Submit(std::vector<float>(per_image * size, 0.5f), size, so).get();
        if (!result.ok()) {
          std::fprintf(stderr, "clip-server: background warm-up at batch %d: %s\n", size,
                       result.status().ToString().c_str());
        }
      }
      ++done;
    }
    std::fprintf(stderr, "clip-server: background warm-up of %d batch sizes done in %lld ms\n", done, MsSince(t0));
  });
}

StatusOr<EmbedOutcome> ModelService::EmbedPixels(InferRoute route, std::vector<float> pixels, int num_images) {
  // A NaN or infinity would run through the model and come back as a null
  // embedding with 200; it is the client's bad input. Returned unrecorded,
  // like the caller's own shape/type validation, which records it (header).
  const auto bad = ready() ? FirstNonFinite(pixels) : std::nullopt;  // not ready: Submit says so
  if (bad) {
    const std::size_t per_image = FloatsPerImage(info_.image_size);
    const std::size_t plane = per_image / 3, side = static_cast<std::size_t>(info_.image_size);
    const std::size_t image = *bad / per_image, rest = *bad % per_image;
    Status st(StatusCode::kInvalidArgument,
              "non-finite value (NaN or Inf) at element " + std::to_string(*bad) + " (image " +
                  std::to_string(image) + ", channel " + std::to_string(rest / plane) + ", y " +
                  std::to_string(rest % plane / side) + ", x " + std::to_string(rest % side) + ")");
    return st;
  }
  return Submit(route, std::move(pixels), num_images, 0);
}

StatusOr<EmbedOutcome> ModelService::EmbedEncoded(InferRoute route, std::span<const std::string_view> images) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!ready()) return UnavailableError("model is not ready");
  const int n = static_cast<int>(images.size());
  if (n == 0) return InvalidArgumentError("no images in the request");
  if (n > options_.max_images_per_request) {
    return OutOfRangeError("too many images in one request: " + std::to_string(n) + " (limit " +
                                std::to_string(options_.max_images_per_request) + ")");
  }
  image::PreprocessOptions po;
  po.image_size = info_.image_size;
  po.max_pixels = options_.max_pixels;
  po.max_decode_bytes = options_.max_decode_bytes;
  const std::size_t per_image = FloatsPerImage(info_.image_size);
  std::vector<float> pixels(per_image * n);
  for (int i = 0; i < n; ++i) {
    const auto* data = reinterpret_cast<const std::uint8_t*>(images[i].data());
    auto prepared = image::DecodeAndPrepare(std::span<const std::uint8_t>(data, images[i].size()), po);
    if (!prepared.ok()) {
      // Every preprocessing failure (corrupt, unsupported, over the pixel
      // limit) is the client's bad input, not a server resource problem.
      Status st(StatusCode::kInvalidArgument, "image " + std::to_string(i) + ": " + prepared.status().message());
      RecordEarlyFailure(route, st, NsSince(t0));
      return st;
    }
    image::ToUnitChw(*prepared, std::span<float>(pixels.data() + per_image * i, per_image));
  }
  const auto preprocess_us = static_cast<std::int64_t>(NsSince(t0) / 1000);
  return Submit(route, std::move(pixels), n, preprocess_us);
}

StatusOr<EmbedOutcome> ModelService::Submit(InferRoute route, std::vector<float> pixels, int num_images,
                                            std::int64_t preprocess_us) {
  if (!ready()) return UnavailableError("model is not ready");
  // Draining (StopAccepting) only turns readiness off: requests the HTTP
  // layer already took are still served, until Shutdown stops the batcher.
  if (num_images > options_.max_images_per_request) {
    return OutOfRangeError("too many images in one request: " + std::to_string(num_images) + " (limit " +
                                std::to_string(options_.max_images_per_request) + ")");
  }
  batching::SubmitOptions so;
  so.allow_batching = route == InferRoute::kRest ? options_.rest_batching.dynamic_batching
                                                 : options_.kserve_batching.dynamic_batching;
  so.stats = stats_for(route);
  StatusOr<batching::BatchResult> result = batcher_->Submit(std::move(pixels), num_images, so).get();
  if (!result.ok()) return result.status();
  EmbedOutcome outcome{std::move(*result), preprocess_us};
  return outcome;
}

void ModelService::RecordEarlyFailure(InferRoute route, const Status& status, std::uint64_t elapsed_ns) {
  (void)status;
  stats_for(route)->RecordFailure(metrics::FailureReason::kOther, elapsed_ns);
}

void ModelService::StopAccepting() {
  std::lock_guard lock(shutdown_mu_);
  shutting_down_.store(true, std::memory_order_release);
  if (ready() && batcher_) batcher_->StopDelaying();
}

Status ModelService::Shutdown(Microseconds drain_timeout) {
  std::lock_guard lock(shutdown_mu_);
  shutting_down_.store(true);
  stop_background_.store(true);
  Status st;
  if (batcher_) st = batcher_->Shutdown(drain_timeout);
  if (background_warmup_.joinable()) background_warmup_.join();
  return st;
}

}  // namespace clipserve::service
