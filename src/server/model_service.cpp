#include "server/model_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "image/image.h"

namespace clipserve::server {
namespace {

std::uint64_t NsSince(std::chrono::steady_clock::time_point t0) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

long long MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

namespace {

// What a batcher owns per instance: a forwarder to the shared engine.
class SharedEngineProxy final : public engine::Engine {
 public:
  SharedEngineProxy(std::shared_ptr<engine::Engine> engine, std::shared_ptr<std::mutex> mu)
      : engine_(std::move(engine)), mu_(std::move(mu)) {}
  const engine::EngineInfo& info() const override { return engine_->info(); }
  Status Embed(std::span<const float> pixels, int batch, std::span<float> out) override {
    std::lock_guard lock(*mu_);
    return engine_->Embed(pixels, batch, out);
  }

 private:
  std::shared_ptr<engine::Engine> engine_;
  std::shared_ptr<std::mutex> mu_;
};

}  // namespace

ModelService::ModelService(ModelServiceOptions options, metrics::Registry* registry) : options_(std::move(options)) {
  const int max_batch = std::max(options_.rest_batching.max_batch_size, options_.kserve_batching.max_batch_size);
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

  // Engines are held through shared_ptrs so the batchers' proxies and the
  // background warm-up can reach them; the per-instance mutex travels along.
  std::vector<std::shared_ptr<engine::Engine>> engines;
  std::vector<std::shared_ptr<std::mutex>> mutexes;
  for (int i = 0; i < count; ++i) {
    auto built = factory(i, count);
    if (!built.ok()) return built.status().WithPrefix("engine instance " + std::to_string(i));
    if (!*built) return InternalError("engine factory returned null for instance " + std::to_string(i));
    engines.emplace_back(std::move(*built));
    mutexes.push_back(std::make_shared<std::mutex>());
  }
  info_ = engines[0]->info();
  const auto load_ms = MsSince(t0);

  // Warm-up at the readiness sizes, on every instance, before anything is
  // accepted: the first call at a new shape pays for kernel selection.
  const std::size_t per_image = FloatsPerImage(info_.image_size);
  for (int size : options_.warmup_batch_sizes) {
    if (size < 1) continue;
    std::vector<float> pixels(per_image * size, 0.5f);
    std::vector<float> out(static_cast<std::size_t>(info_.embed_dim) * size);
    for (int i = 0; i < count; ++i) {
      std::lock_guard lock(*mutexes[i]);
      Status st = engines[i]->Embed(pixels, size, out);
      if (!st.ok()) return st.WithPrefix("warm-up at batch size " + std::to_string(size) + " failed");
    }
  }

  const batching::BatcherConfig* configs[kNumRoutes] = {&options_.rest_batching, &options_.kserve_batching,
                                                        &options_.kserve_batching};
  for (int r = 0; r < kNumRoutes; ++r) {
    batching::BatcherOptions bo;
    bo.config = *configs[r];
    bo.config.instance_count = count;
    bo.stats = stats_for(static_cast<InferRoute>(r));
    std::vector<std::unique_ptr<engine::Engine>> proxies;
    for (int i = 0; i < count; ++i) proxies.push_back(std::make_unique<SharedEngineProxy>(engines[i], mutexes[i]));
    auto batcher = batching::Batcher::Create(std::move(bo), std::move(proxies));
    if (!batcher.ok()) return batcher.status().WithPrefix("creating the batcher");
    batchers_[r] = std::move(*batcher);
  }

  engines_ = std::move(engines);
  engine_mutexes_ = std::move(mutexes);

  load_duration_ms_.store(MsSince(t0));
  std::fprintf(stderr, "clip-server: model loaded in %lld ms, warm-up done in %lld ms total\n",
               static_cast<long long>(load_ms), load_duration_ms_.load());
  ready_.store(true, std::memory_order_release);
  return Status::Ok();
}

void ModelService::StartBackgroundWarmup() {
  if (options_.background_warmup_batch_sizes.empty() || !ready() || background_warmup_.joinable()) return;
  background_warmup_ = std::thread([this] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t per_image = FloatsPerImage(info_.image_size);
    int done = 0;
    for (int size : options_.background_warmup_batch_sizes) {
      if (stop_background_.load()) break;
      std::vector<float> pixels(per_image * size, 0.5f);
      std::vector<float> out(static_cast<std::size_t>(info_.embed_dim) * size);
      for (std::size_t i = 0; i < engines_.size() && !stop_background_.load(); ++i) {
        std::lock_guard lock(*engine_mutexes_[i]);
        Status st = engines_[i]->Embed(pixels, size, out);
        if (!st.ok()) {
          std::fprintf(stderr, "clip-server: background warm-up at batch %d failed: %s\n", size, st.ToString().c_str());
        }
      }
      ++done;
    }
    std::fprintf(stderr, "clip-server: background warm-up of %d batch sizes done in %lld ms\n", done, MsSince(t0));
  });
}

StatusOr<EmbedOutcome> ModelService::EmbedPixels(InferRoute route, std::vector<float> pixels, int num_images) {
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
  if (shutting_down_.load()) return UnavailableError("server is shutting down");
  if (num_images > options_.max_images_per_request) {
    return OutOfRangeError("too many images in one request: " + std::to_string(num_images) + " (limit " +
                                std::to_string(options_.max_images_per_request) + ")");
  }
  auto& batcher = batchers_[static_cast<int>(route)];
  StatusOr<batching::BatchResult> result = batcher->Submit(std::move(pixels), num_images).get();
  if (!result.ok()) return result.status();
  EmbedOutcome outcome{std::move(*result), preprocess_us};
  return outcome;
}

void ModelService::RecordEarlyFailure(InferRoute route, const Status& status, std::uint64_t elapsed_ns) {
  (void)status;
  stats_for(route)->RecordFailure(metrics::FailureReason::kOther, elapsed_ns);
}

Status ModelService::Shutdown(Microseconds drain_timeout) {
  std::lock_guard lock(shutdown_mu_);
  shutting_down_.store(true);
  stop_background_.store(true);
  Status first;
  // One deadline for all three queues (they share the engines anyway).
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  for (auto& b : batchers_) {
    if (!b) continue;
    const auto left = std::max(Microseconds(0), std::chrono::duration_cast<Microseconds>(
                                                    deadline - std::chrono::steady_clock::now()));
    Status st = b->Shutdown(left);
    if (first.ok() && !st.ok()) first = st;
  }
  if (background_warmup_.joinable()) background_warmup_.join();
  return first;
}

}  // namespace clipserve::server
