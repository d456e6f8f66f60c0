#include "service/model_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>

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

// Refusals of a request that was never looked at count as REJECTED, like
// the batcher's queue-full and shutdown rejections; bad input as OTHER.
metrics::FailureReason ReasonFor(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNotReady:
    case FailureKind::kDraining:
      return metrics::FailureReason::kRejected;
    default:
      return metrics::FailureReason::kOther;
  }
}

EmbedFailure Failure(FailureKind kind, Status status, std::optional<int> image_index = std::nullopt,
                     std::string detail = {}) {
  return EmbedFailure{kind, std::move(status), image_index, std::move(detail)};
}

std::string ShapeString(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

}  // namespace

PixelTensor PixelTensor::Chw(std::vector<float> pixels, int num_images, int image_size) {
  return PixelTensor{{num_images, 3, image_size, image_size}, std::move(pixels)};
}

std::string_view FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNotReady:
      return "not_ready";
    case FailureKind::kDraining:
      return "draining";
    case FailureKind::kNoImages:
      return "no_images";
    case FailureKind::kTooManyImages:
      return "too_many_images";
    case FailureKind::kBadShape:
      return "bad_shape";
    case FailureKind::kBadSize:
      return "bad_size";
    case FailureKind::kNonFinite:
      return "non_finite";
    case FailureKind::kBadImage:
      return "bad_image";
    case FailureKind::kRefused:
      return "refused";
    case FailureKind::kBatcher:
      return "batcher";
  }
  return "unknown";
}

ModelService::ModelService(ModelServiceOptions options, metrics::Registry* registry)
    : options_(std::move(options)) {
  const int max_batch =
      std::max(options_.rest_batching.max_batch_size, options_.kserve_batching.max_batch_size);
  warmup_stats_ = std::make_unique<metrics::ModelStats>("warmup", "1", max_batch);
  auto tensor = registry->AddModel(options_.model_name, options_.model_version, max_batch);
  tensor_stats_ = tensor.ok() ? *tensor : registry->FindModel(options_.model_name, options_.model_version);
  auto image = registry->AddModel(image_model_name(), options_.model_version, max_batch);
  image_stats_ = image.ok() ? *image : registry->FindModel(image_model_name(), options_.model_version);
  const int decoders = options_.decode_threads > 0 ? options_.decode_threads
                                                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  decode_pool_ = std::make_unique<TaskPool>(decoders, "decode pool");
}

ModelService::~ModelService() { (void)Shutdown(Microseconds(0)); }

StatusOr<InferRoute> ModelService::FindModel(std::string_view name, std::string_view version) const {
  const std::string n(name);
  if (n != options_.model_name && n != image_model_name()) {
    return NotFoundError("Request for unknown model: '" + n + "' is not found");
  }
  if (!version.empty() && version != options_.model_version) {
    return NotFoundError("Request for unknown model: '" + n + "' version " + std::string(version) + " is not found");
  }
  return n == options_.model_name ? InferRoute::kKserveTensor : InferRoute::kKserveImage;
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
  bo.config.max_batch_size =
      std::max(options_.rest_batching.max_batch_size, options_.kserve_batching.max_batch_size);
  bo.config.dynamic_batching =
      options_.rest_batching.dynamic_batching || options_.kserve_batching.dynamic_batching;
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
    std::fprintf(stderr, "clip-server: background warm-up of %d batch sizes done in %lld ms\n", done,
                 MsSince(t0));
  });
}

std::optional<EmbedFailure> ModelService::CheckAdmission() const {
  if (!ready()) return Failure(FailureKind::kNotReady, UnavailableError("model is not ready"));
  if (closed_.load(std::memory_order_acquire)) {
    return Failure(FailureKind::kDraining, UnavailableError("server is shutting down"));
  }
  return std::nullopt;
}

std::optional<EmbedFailure> ModelService::CheckImageCount(std::int64_t num_images) const {
  if (num_images < 1) {
    return Failure(FailureKind::kNoImages, InvalidArgumentError("no images in the request"));
  }
  if (num_images > options_.max_images_per_request) {
    return Failure(FailureKind::kTooManyImages,
                   OutOfRangeError("too many images in one request: " + std::to_string(num_images) +
                                   " (limit " + std::to_string(options_.max_images_per_request) + ")"));
  }
  return std::nullopt;
}

std::optional<EmbedFailure> ModelService::CheckPixels(const PixelTensor& pixels) const {
  const std::int64_t s = info_.image_size;
  const auto& sh = pixels.shape;
  if (sh.size() != 4 || sh[0] < 1 || sh[1] != 3 || sh[2] != s || sh[3] != s) {
    return Failure(FailureKind::kBadShape,
                   InvalidArgumentError("expected shape [-1,3," + std::to_string(s) + "," +
                                        std::to_string(s) + "], got " + ShapeString(sh)));
  }
  // After the count check, so the element count below cannot overflow.
  if (auto bad = CheckImageCount(sh[0])) return bad;
  const std::size_t elements = static_cast<std::size_t>(sh[0]) * FloatsPerImage(info_.image_size);
  if (const auto* raw = std::get_if<std::span<const std::byte>>(&pixels.values)) {
    if (raw->size() != elements * sizeof(float)) {
      return Failure(FailureKind::kBadSize,
                     InvalidArgumentError("expected " + std::to_string(elements * sizeof(float)) +
                                          " bytes of FP32 data, got " + std::to_string(raw->size())));
    }
  } else if (const auto& floats = std::get<std::vector<float>>(pixels.values); floats.size() != elements) {
    return Failure(FailureKind::kBadSize,
                   InvalidArgumentError("expected " + std::to_string(elements) + " elements, got " +
                                        std::to_string(floats.size())));
  }
  return std::nullopt;
}

void ModelService::EmbedPixelsAsync(InferRoute route, PixelTensor tensor, EmbedCallback done) {
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<EmbedFailure> bad = CheckAdmission();
  if (!bad) bad = CheckPixels(tensor);
  if (bad) return Fail(route, std::move(*bad), NsSince(t0), done);

  const int n = static_cast<int>(tensor.shape[0]);
  batching::PixelBuffer pixels;
  // A NaN or infinity would run through the model and come back as a null
  // embedding with 200; it is the client's bad input.
  std::optional<std::size_t> non_finite;
  if (const auto* raw = std::get_if<std::span<const std::byte>>(&tensor.values)) {
    const bool aligned = reinterpret_cast<std::uintptr_t>(raw->data()) % alignof(float) == 0;
    if (tensor.owner && aligned) {
      // No copy: the engine reads the request body, kept alive by the owner.
      const std::span<const float> floats(reinterpret_cast<const float*>(raw->data()), raw->size() / sizeof(float));
      non_finite = FirstNonFinite(floats);
      pixels = batching::PixelBuffer::View(floats, std::move(tensor.owner));
    } else {
      // The one copy of the tensor, checked on the way.
      std::vector<float> copy(raw->size() / sizeof(float));
      non_finite = CopyFloatsCheckingFinite(*raw, copy);
      pixels = std::move(copy);
    }
  } else {
    auto& floats = std::get<std::vector<float>>(tensor.values);
    non_finite = FirstNonFinite(floats);
    pixels = std::move(floats);
  }
  if (const auto at = non_finite) {
    const std::size_t per_image = FloatsPerImage(info_.image_size);
    const std::size_t plane = per_image / 3, side = static_cast<std::size_t>(info_.image_size);
    const std::size_t image = *at / per_image, rest = *at % per_image;
    Status st = InvalidArgumentError(
        "non-finite value (NaN or Inf) at element " + std::to_string(*at) + " (image " +
        std::to_string(image) + ", channel " + std::to_string(rest / plane) + ", y " +
        std::to_string(rest % plane / side) + ", x " + std::to_string(rest % side) + ")");
    return Fail(route, Failure(FailureKind::kNonFinite, std::move(st), static_cast<int>(image)), NsSince(t0),
                done);
  }
  Submit(route, std::move(pixels), n, 0, std::move(done));
}

// One request's images on their way through the decode pool.
struct ModelService::DecodeJob {
  InferRoute route;
  SteadyTime t0;
  std::vector<std::string_view> images;
  std::vector<float> pixels;
  EmbedCallback done;
  std::atomic<int> left;
  std::atomic<int> first_bad;  // lowest failing index so far; images.size() when none
  std::mutex mu;
  std::string why;  // of first_bad
};

void ModelService::EmbedEncodedAsync(InferRoute route, std::span<const std::string_view> images,
                                     EmbedCallback done) {
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<EmbedFailure> bad = CheckAdmission();
  if (!bad) bad = CheckImageCount(static_cast<std::int64_t>(images.size()));
  if (bad) return Fail(route, std::move(*bad), NsSince(t0), done);

  const int n = static_cast<int>(images.size());
  auto job = std::make_shared<DecodeJob>();
  job->route = route;
  job->t0 = t0;
  job->images.assign(images.begin(), images.end());
  job->pixels.resize(FloatsPerImage(info_.image_size) * n);
  job->done = std::move(done);
  job->left.store(n);
  job->first_bad.store(n);
  for (int i = 0; i < n; ++i) {
    decode_pool_->Post([this, job, i] { DecodeOne(*job, i); });
  }
}

void ModelService::DecodeOne(DecodeJob& job, int i) {
  // After a failure, images after it need not be decoded: the lowest bad
  // index is the answer either way.
  if (i < job.first_bad.load()) {
    image::PreprocessOptions po;
    po.image_size = info_.image_size;
    po.max_pixels = options_.max_pixels;
    po.max_decode_bytes = options_.max_decode_bytes;
    const std::size_t per_image = FloatsPerImage(info_.image_size);
    const auto* data = reinterpret_cast<const std::uint8_t*>(job.images[i].data());
    auto prepared = image::DecodeAndPrepare(std::span<const std::uint8_t>(data, job.images[i].size()), po);
    if (prepared.ok()) {
      image::ToUnitChw(*prepared, std::span<float>(job.pixels.data() + per_image * i, per_image));
    } else {
      std::lock_guard lock(job.mu);
      if (i < job.first_bad.load()) {
        job.first_bad.store(i);
        job.why = prepared.status().message();
      }
    }
  }
  if (job.left.fetch_sub(1) != 1) return;
  // The last image of the request: every other task is done with the job.
  const int n = static_cast<int>(job.images.size());
  if (const int at = job.first_bad.load(); at < n) {
    // Every preprocessing failure (corrupt, unsupported, over the pixel
    // limit or the decode budget) is the client's bad input, not a server
    // resource problem.
    return Fail(job.route,
                Failure(FailureKind::kBadImage, InvalidArgumentError("image " + std::to_string(at) + ": " + job.why),
                        at, job.why),
                NsSince(job.t0), job.done);
  }
  const auto preprocess_us = static_cast<std::int64_t>(NsSince(job.t0) / 1000);
  Submit(job.route, std::move(job.pixels), n, preprocess_us, std::move(job.done));
}

EmbedResult ModelService::EmbedPixels(InferRoute route, PixelTensor pixels) {
  // Shared, not on this stack: the batcher may still hold the callback (and
  // so touch the promise) after set_value has woken this thread.
  auto promise = std::make_shared<std::promise<EmbedResult>>();
  auto future = promise->get_future();
  EmbedPixelsAsync(route, std::move(pixels), [promise](EmbedResult r) { promise->set_value(std::move(r)); });
  return future.get();
}

EmbedResult ModelService::EmbedEncoded(InferRoute route, std::span<const std::string_view> images) {
  auto promise = std::make_shared<std::promise<EmbedResult>>();
  auto future = promise->get_future();
  EmbedEncodedAsync(route, images, [promise](EmbedResult r) { promise->set_value(std::move(r)); });
  return future.get();
}

std::optional<EmbedFailure> ModelService::Admit(InferRoute route, std::optional<std::int64_t> num_images) {
  std::optional<EmbedFailure> bad = CheckAdmission();
  if (!bad && num_images) bad = CheckImageCount(*num_images);
  if (bad) stats_for(route)->RecordFailure(ReasonFor(bad->kind), 0);
  return bad;
}

EmbedFailure ModelService::Refuse(InferRoute route, Status status, SteadyTime arrival) {
  if (status.ok()) status = InternalError("request refused without a reason");
  stats_for(route)->RecordFailure(metrics::FailureReason::kOther, NsSince(arrival));
  return Failure(FailureKind::kRefused, std::move(status));
}

void ModelService::Fail(InferRoute route, EmbedFailure failure, std::uint64_t elapsed_ns,
                        const EmbedCallback& done) {
  stats_for(route)->RecordFailure(ReasonFor(failure.kind), elapsed_ns);
  done(std::move(failure));
}

void ModelService::Submit(InferRoute route, batching::PixelBuffer pixels, int num_images,
                          std::int64_t preprocess_us, EmbedCallback done) {
  batching::SubmitOptions so;
  so.allow_batching = route == InferRoute::kRest ? options_.rest_batching.dynamic_batching
                                                 : options_.kserve_batching.dynamic_batching;
  so.stats = stats_for(route);
  // The batcher records its own failures (queue full, timeout, shutdown,
  // engine) in so.stats; they are passed on unrecorded here.
  batcher_->Submit(std::move(pixels), num_images, so,
                   [preprocess_us, done = std::move(done)](StatusOr<batching::BatchResult> result) {
                     if (!result.ok()) return done(Failure(FailureKind::kBatcher, result.status()));
                     done(EmbedOutcome{std::move(*result), preprocess_us});
                   });
}

void ModelService::StopAccepting() {
  std::lock_guard lock(shutdown_mu_);
  shutting_down_.store(true, std::memory_order_release);
  if (ready() && batcher_) batcher_->StopDelaying();
}

Status ModelService::Shutdown(Microseconds drain_timeout) {
  std::lock_guard lock(shutdown_mu_);
  shutting_down_.store(true);
  closed_.store(true, std::memory_order_release);
  stop_background_.store(true);
  Status st;
  // Decodes in flight finish and reach the batcher (which still takes them)
  // or fail: every request taken is answered.
  decode_pool_->Join();
  if (batcher_) st = batcher_->Shutdown(drain_timeout);
  if (background_warmup_.joinable()) background_warmup_.join();
  return st;
}

}  // namespace clipserve::service
