#include "batching/batcher.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace clipserve::batching {

struct Batcher::Request {
  PixelBuffer pixels;
  int num_images = 0;
  SteadyTime enqueue_time{};
  SteadyTime deadline = SteadyTime::max();
  DoneCallback done;
  bool batchable = true;
  metrics::ModelStats* stats = nullptr;  // may be null
  // Guarded by Batcher::mu_.
  int dispatched_images = 0;
  int completed_images = 0;
  bool finished = false;
  int executions = 0;
  int largest_batch = 0;
  std::uint64_t queue_ns = 0, input_ns = 0, infer_ns = 0, output_ns = 0;
  // Written by the chunk that ran it; disjoint rows per chunk, so chunks on
  // different instances never touch the same floats.
  BatchResult result;
};

// One engine call's worth of work: consecutive images of consecutive
// requests, in queue order.
struct Batcher::Batch {
  struct Slice {
    std::shared_ptr<Request> request;
    int first_image = 0;
    int num_images = 0;
  };
  std::vector<Slice> slices;
  int num_images = 0;
};

namespace {

std::uint64_t NsBetween(SteadyTime a, SteadyTime b) {
  return b > a ? static_cast<std::uint64_t>(std::chrono::duration_cast<Nanoseconds>(b - a).count()) : 0;
}

}  // namespace

StatusOr<std::unique_ptr<Batcher>> Batcher::Create(
    BatcherOptions options, std::vector<std::unique_ptr<engine::Engine>> engines) {
  RETURN_IF_ERROR(options.config.Validate());
  if (options.clock == nullptr) return InvalidArgumentError("Batcher needs a clock");
  if (static_cast<int>(engines.size()) != options.config.instance_count) {
    return InvalidArgumentError("Batcher got " + std::to_string(engines.size()) +
                                " engines for instance_count " +
                                std::to_string(options.config.instance_count));
  }
  for (const auto& e : engines) {
    if (!e) return InvalidArgumentError("Batcher got a null engine");
    if (e->info().image_size != engines.front()->info().image_size ||
        e->info().embed_dim != engines.front()->info().embed_dim) {
      return InvalidArgumentError("Batcher engines disagree on image_size or embed_dim");
    }
  }
  const int max_batch = options.config.max_batch_size;
  for (int size : options.warmup_batch_sizes) {
    if (size < 1 || size > max_batch) {
      return InvalidArgumentError("warm-up batch size " + std::to_string(size) +
                                  " outside [1, max_batch_size=" + std::to_string(max_batch) + "]");
    }
  }
  // Warm-up runs before any worker exists, so each engine is used by one
  // thread at a time as the Engine contract requires.
  if (!options.warmup_batch_sizes.empty()) {
    const auto& info = engines.front()->info();
    const std::size_t per_image = 3ull * info.image_size * info.image_size;
    const int largest = *std::max_element(options.warmup_batch_sizes.begin(),
                                          options.warmup_batch_sizes.end());
    std::vector<float> pixels(per_image * largest, 0.5f);
    std::vector<float> out(static_cast<std::size_t>(info.embed_dim) * largest);
    for (std::size_t i = 0; i < engines.size(); ++i) {
      for (int size : options.warmup_batch_sizes) {
        Status st = engines[i]->Embed(std::span<const float>(pixels.data(), per_image * size), size,
                                      std::span<float>(out.data(), static_cast<std::size_t>(info.embed_dim) * size));
        if (!st.ok()) {
          return st.WithPrefix("warm-up of instance " + std::to_string(i) + " at batch size " +
                               std::to_string(size));
        }
      }
    }
  }
  return std::unique_ptr<Batcher>(new Batcher(std::move(options), std::move(engines)));
}

Batcher::Batcher(BatcherOptions options, std::vector<std::unique_ptr<engine::Engine>> engines)
    : options_(std::move(options)), engines_(std::move(engines)) {
  image_size_ = engines_.front()->info().image_size;
  embed_dim_ = engines_.front()->info().embed_dim;
  floats_per_image_ = 3ull * image_size_ * image_size_;
  workers_.reserve(engines_.size());
  for (std::size_t i = 0; i < engines_.size(); ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(static_cast<int>(i)); });
  }
}

Batcher::~Batcher() { (void)Shutdown(Microseconds(0)); }

std::future<StatusOr<BatchResult>> Batcher::Submit(PixelBuffer pixels, int num_images,
                                                   SubmitOptions options) {
  auto promise = std::make_shared<std::promise<StatusOr<BatchResult>>>();
  auto future = promise->get_future();
  Submit(std::move(pixels), num_images, options,
         [promise](StatusOr<BatchResult> r) { promise->set_value(std::move(r)); });
  return future;
}

void Batcher::Submit(PixelBuffer pixels, int num_images, SubmitOptions options,
                     DoneCallback done) {
  metrics::ModelStats* stats = options.stats ? options.stats : options_.stats;
  auto reject = [&](metrics::FailureReason reason, Status st) {
    if (stats) stats->RecordFailure(reason, 0);
    done(std::move(st));
  };
  if (num_images < 1) {
    return reject(metrics::FailureReason::kOther,
                  InvalidArgumentError("a request needs at least one image, got " +
                                       std::to_string(num_images)));
  }
  if (pixels.size() != floats_per_image_ * static_cast<std::size_t>(num_images)) {
    return reject(metrics::FailureReason::kOther,
                  InvalidArgumentError("expected " + std::to_string(num_images) + " x 3 x " +
                                       std::to_string(image_size_) + " x " + std::to_string(image_size_) +
                                       " = " + std::to_string(floats_per_image_ * num_images) +
                                       " floats, got " + std::to_string(pixels.size())));
  }
  const BatcherConfig& config = options_.config;
  Microseconds timeout = config.default_queue_timeout;
  if (options.queue_timeout && config.allow_timeout_override) timeout = *options.queue_timeout;

  auto request = std::make_shared<Request>();
  request->pixels = std::move(pixels);
  request->num_images = num_images;
  request->batchable = options.allow_batching;
  request->stats = stats;
  request->result.num_images = num_images;
  request->result.embed_dim = embed_dim_;
  request->result.embeddings.resize(static_cast<std::size_t>(embed_dim_) * num_images);
  {
    std::unique_lock lock(mu_);
    if (!accepting_) {
      lock.unlock();
      return reject(metrics::FailureReason::kRejected,
                    UnavailableError("the batcher is shutting down and accepts no new requests"));
    }
    if (config.max_queue_size > 0 && static_cast<int>(queue_.size()) >= config.max_queue_size) {
      const std::size_t pending = queue_.size();
      lock.unlock();
      return reject(metrics::FailureReason::kRejected,
                    ResourceExhaustedError("queue full: " + std::to_string(pending) +
                                           " pending requests, max_queue_size " +
                                           std::to_string(config.max_queue_size)));
    }
    // Time is read under the lock so enqueue times are monotonic in queue
    // order, which the policy's "oldest = front" assumption relies on.
    request->enqueue_time = options_.clock->Now();
    if (timeout.count() > 0) request->deadline = request->enqueue_time + timeout;
    request->done = std::move(done);
    queue_.push_back(std::move(request));
    if (stats) stats->AddPending(1);
  }
  cv_.notify_one();
}

void Batcher::WorkerLoop(int instance) {
  std::vector<PendingRequestView> views;
  std::vector<std::shared_ptr<Request>> expired;
  Scratch scratch;
  std::unique_lock lock(mu_);
  while (!stop_) {
    const SteadyTime now = options_.clock->Now();
    FailExpiredLocked(now, &expired);
    if (!expired.empty()) {
      lock.unlock();
      for (auto& r : expired) {
        const long long waited_us = ElapsedUs(r->enqueue_time, now);
        const long long timeout_us = ElapsedUs(r->enqueue_time, r->deadline);
        if (r->stats) {
          r->stats->RecordFailure(metrics::FailureReason::kRejected, NsBetween(r->enqueue_time, now));
          r->stats->AddPending(-1);
        }
        r->done(DeadlineExceededError("request timed out in the queue after " +
                                      std::to_string(waited_us) + " us (queue timeout " +
                                      std::to_string(timeout_us) + " us)"));
      }
      expired.clear();
      lock.lock();
      continue;
    }

    views.clear();
    for (const auto& r : queue_) {
      views.push_back({r->num_images - r->dispatched_images, r->enqueue_time, r->deadline,
                       r->dispatched_images > 0, r->batchable});
    }
    BatcherConfig config = options_.config;
    if (draining_ || no_delay_) config.max_queue_delay = Microseconds(0);  // drain without waiting
    const BatchDecision decision = DecideBatch(config, views, now);

    if (decision.kind == BatchDecision::Kind::kIdle) {
      if (draining_) break;  // queue empty: nothing left for this worker
      cv_.wait(lock);
      continue;
    }
    if (decision.kind == BatchDecision::Kind::kWait) {
      // The wait is real time; with a FakeClock it only ends early through
      // NotifyClockAdvanced, a submit or shutdown.
      const auto real_wait = decision.wait_until - now;
      cv_.wait_for(lock, std::max<SteadyTime::duration>(real_wait, std::chrono::microseconds(1)));
      continue;
    }

    Batch batch;
    int images_left = decision.num_images;
    for (int i = 0; i < decision.num_requests && images_left > 0; ++i) {
      const std::shared_ptr<Request>& r = queue_.front();
      const int take = std::min(images_left, r->num_images - r->dispatched_images);
      batch.slices.push_back({r, r->dispatched_images, take});
      r->dispatched_images += take;
      images_left -= take;
      batch.num_images += take;
      if (r->dispatched_images == r->num_images) queue_.pop_front();
    }
    const bool more = !queue_.empty();
    lock.unlock();
    if (more) cv_.notify_one();  // another free instance may take the rest
    drained_cv_.notify_all();
    RunBatch(instance, batch, scratch);
    lock.lock();
  }
  lock.unlock();
  drained_cv_.notify_all();
}

void Batcher::FailExpiredLocked(SteadyTime now, std::vector<std::shared_ptr<Request>>* failed) {
  // Only unstarted requests expire, and those never have a partner chunk in
  // flight, so removing them here is safe.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->dispatched_images == 0 && (*it)->deadline <= now) {
      (*it)->finished = true;
      failed->push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

void Batcher::RunBatch(int instance, Batch& batch, Scratch& scratch) {
  const Clock& clock = *options_.clock;
  const int n = batch.num_images;
  const std::size_t dim = static_cast<std::size_t>(embed_dim_);
  // A batch that is exactly one whole request runs on that request's own
  // buffers: no gather, no scatter.
  const bool whole_single = batch.slices.size() == 1 && batch.slices[0].first_image == 0 &&
                            batch.slices[0].num_images == batch.slices[0].request->num_images;
  const SteadyTime start = clock.Now();
  std::span<const float> input;
  std::span<float> output;
  if (whole_single) {
    input = batch.slices[0].request->pixels.span();
    output = batch.slices[0].request->result.embeddings;
  } else {
    // resize() only grows capacity once; later batches reuse the pages.
    if (scratch.input.size() < floats_per_image_ * n) scratch.input.resize(floats_per_image_ * n);
    if (scratch.output.size() < dim * n) scratch.output.resize(dim * n);
    float* dst = scratch.input.data();
    for (const auto& s : batch.slices) {
      const std::size_t count = floats_per_image_ * s.num_images;
      std::memcpy(dst, s.request->pixels.data() + floats_per_image_ * s.first_image, count * sizeof(float));
      dst += count;
    }
    input = std::span<const float>(scratch.input.data(), floats_per_image_ * n);
    output = std::span<float>(scratch.output.data(), dim * n);
  }
  const SteadyTime gathered_at = clock.Now();
  const Status status = engines_[instance]->Embed(input, n, output);
  const SteadyTime inferred_at = clock.Now();
  if (status.ok() && !whole_single) {
    const float* src = scratch.output.data();
    for (const auto& s : batch.slices) {
      std::memcpy(s.request->result.embeddings.data() + dim * s.first_image, src,
                  dim * s.num_images * sizeof(float));
      src += dim * s.num_images;
    }
  }
  const SteadyTime end = clock.Now();
  const std::uint64_t input_ns = NsBetween(start, gathered_at);
  const std::uint64_t infer_ns = NsBetween(gathered_at, inferred_at);
  const std::uint64_t output_ns = NsBetween(inferred_at, end);
  if (status.ok()) {
    // One execution per model (stats object) present in the batch.
    std::vector<std::pair<metrics::ModelStats*, int>> per_model;
    for (const auto& s : batch.slices) {
      if (!s.request->stats) continue;
      auto it = std::find_if(per_model.begin(), per_model.end(),
                             [&](const auto& p) { return p.first == s.request->stats; });
      if (it == per_model.end()) {
        per_model.emplace_back(s.request->stats, s.num_images);
      } else {
        it->second += s.num_images;
      }
    }
    for (auto& [stats, images] : per_model) stats->RecordExecution(images, input_ns, infer_ns, output_ns);
  }

  std::vector<std::pair<std::shared_ptr<Request>, StatusOr<BatchResult>>> finished;
  {
    std::lock_guard lock(mu_);
    for (auto& s : batch.slices) {
      Request& r = *s.request;
      if (r.executions == 0) r.queue_ns = NsBetween(r.enqueue_time, start);
      ++r.executions;
      r.largest_batch = std::max(r.largest_batch, n);
      r.input_ns += input_ns;
      r.infer_ns += infer_ns;
      r.output_ns += output_ns;
      r.completed_images += s.num_images;
      if (r.finished) continue;  // already failed (another chunk, or drain)
      if (!status.ok()) {
        r.finished = true;
        // Chunks of a failed split request still queued are dropped.
        if (r.dispatched_images < r.num_images) {
          auto it = std::find(queue_.begin(), queue_.end(), s.request);
          if (it != queue_.end()) queue_.erase(it);
        }
        finished.emplace_back(s.request, status);
      } else if (r.completed_images == r.num_images) {
        r.finished = true;
        BatchResult& res = r.result;
        res.queue_us = static_cast<std::int64_t>(r.queue_ns / 1000);
        res.compute_input_us = static_cast<std::int64_t>(r.input_ns / 1000);
        res.compute_infer_us = static_cast<std::int64_t>(r.infer_ns / 1000);
        res.compute_output_us = static_cast<std::int64_t>(r.output_ns / 1000);
        res.batch_size = r.largest_batch;
        res.executions = r.executions;
        finished.emplace_back(s.request, std::move(res));
      }
    }
  }
  const SteadyTime done_at = clock.Now();
  for (auto& [request, result] : finished) {
    if (metrics::ModelStats* stats = request->stats) {
      const std::uint64_t request_ns = NsBetween(request->enqueue_time, done_at);
      if (result.ok()) {
        stats->RecordSuccess({request_ns, request->queue_ns, request->input_ns,
                                       request->infer_ns, request->output_ns,
                                       static_cast<std::uint64_t>(request->num_images)});
      } else {
        stats->RecordFailure(metrics::FailureReason::kBackend, request_ns);
      }
      stats->AddPending(-1);
    }
    request->done(std::move(result));
  }
  drained_cv_.notify_all();
}

Status Batcher::Shutdown(Microseconds drain_timeout) {
  std::vector<std::shared_ptr<Request>> left;
  {
    std::unique_lock lock(mu_);
    if (shut_down_) return Status::Ok();
    shut_down_ = true;
    accepting_ = false;
    draining_ = true;
    const SteadyTime deadline = options_.clock->Now() + drain_timeout;
    cv_.notify_all();
    while (!queue_.empty()) {
      const SteadyTime now = options_.clock->Now();
      if (now >= deadline) break;
      drained_cv_.wait_for(lock, deadline - now);
    }
    for (auto& r : queue_) {
      if (!r->finished) {
        r->finished = true;
        left.push_back(r);
      }
    }
    queue_.clear();
    stop_ = true;
  }
  cv_.notify_all();
  const SteadyTime now = options_.clock->Now();
  for (auto& r : left) {
    if (r->stats) {
      r->stats->RecordFailure(metrics::FailureReason::kRejected, NsBetween(r->enqueue_time, now));
      r->stats->AddPending(-1);
    }
    r->done(UnavailableError("the server is shutting down: request not run before the drain timeout (" +
                             std::to_string(drain_timeout.count()) + " us)"));
  }
  // Batches already running finish before their workers see stop_.
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  if (left.empty()) return Status::Ok();
  return DeadlineExceededError("drain timeout: " + std::to_string(left.size()) +
                               " queued requests failed with UNAVAILABLE");
}

void Batcher::StopDelaying() {
  {
    std::lock_guard lock(mu_);
    no_delay_ = true;
  }
  cv_.notify_all();
}

void Batcher::NotifyClockAdvanced() {
  {
    // Taking the lock orders this wake-up after any clock read a worker made
    // under it, so the notification cannot fall between read and wait.
    std::lock_guard lock(mu_);
  }
  cv_.notify_all();
  drained_cv_.notify_all();
}

int Batcher::pending_requests() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(queue_.size());
}

bool Batcher::accepting() const {
  std::lock_guard lock(mu_);
  return accepting_;
}

}  // namespace clipserve::batching
