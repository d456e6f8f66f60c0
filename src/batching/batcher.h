// Batcher: the threaded dynamic batcher in front of N engine instances.
//
// One shared FIFO queue; one worker thread per engine instance. A free
// worker asks the pure policy (batch_policy.h) what to do, and either runs a
// batch on its own engine, or sleeps on a condition variable until a submit,
// the policy's wake-up time, a clock notification or shutdown. Every
// timestamp and decision uses the injected Clock.
//
// Ownership: the Batcher owns the engines (each used by exactly one worker,
// so Engine::Embed is never called concurrently on one instance) and the
// pixel buffers handed to Submit. It does not own the Clock or the
// ModelStats, which must outlive it.
//
// Thread safety: Submit, NotifyClockAdvanced, pending_requests and the
// accessors may be called from any thread concurrently. Shutdown may be
// called from any thread except a completion callback; the destructor calls
// Shutdown(0) if it was not called.
//
// Completion: every accepted or rejected Submit completes exactly once.
// Callbacks run on a worker thread (or on the submitting thread when the
// request is rejected at once); they must be quick and must not call
// Shutdown or block on this Batcher's other futures.
//
// Errors (Status codes, messages are for humans):
//   InvalidArgument     pixels.size() != num_images * 3 * S * S, or num_images < 1
//   ResourceExhausted   "queue full: N pending requests, max_queue_size N"
//   DeadlineExceeded    queue timeout expired before any of its images ran
//   Unavailable         Submit after Shutdown began, or still queued at the
//                       drain deadline
//   (engine's Status)   the engine failed the batch: only that batch's
//                       requests fail (a split request fails as a whole)
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "batching/batch_policy.h"
#include "batching/batcher_config.h"
#include "batching/pixel_buffer.h"
#include "common/clock.h"
#include "common/status.h"
#include "engine/engine.h"
#include "metrics/model_stats.h"

namespace clipserve::batching {

struct BatchResult {
  std::vector<float> embeddings;  // num_images * embed_dim, row-major, in input order
  int num_images = 0;
  int embed_dim = 0;
  // Timings in microseconds (Triton's split). For a request split over
  // several batches, queue_us ends at its first batch's start and the
  // compute_* are summed over its batches.
  std::int64_t queue_us = 0;           // enqueue -> start of its (first) batch
  std::int64_t compute_input_us = 0;   // gather into the batch buffer
  std::int64_t compute_infer_us = 0;   // Engine::Embed
  std::int64_t compute_output_us = 0;  // scatter of the batch's output rows
  int batch_size = 0;                  // images in the (largest) batch it ran in
  int executions = 0;                  // engine calls it took part in (>1 when split)
};

struct SubmitOptions {
  // Queue timeout for this request; overrides config.default_queue_timeout
  // when config.allow_timeout_override. 0 = none. nullopt = the default.
  std::optional<Microseconds> queue_timeout;
  // false: this request never shares a batch (it runs alone, split only if
  // above max_batch_size), as with dynamic batching off, while other
  // requests on the same Batcher are still packed. Lets one Batcher (one set
  // of engines) serve a personality with batching off and one with it on.
  bool allow_batching = true;
  // Statistics for this request (e.g. per model when several models share
  // the Batcher); null = BatcherOptions::stats. Not owned; must outlive the
  // request's completion. Executions are recorded once per distinct stats
  // object in a batch, with that model's image count as batch size.
  metrics::ModelStats* stats = nullptr;
};

struct BatcherOptions {
  BatcherConfig config;
  const Clock* clock = &RealClock::Instance();  // not owned; non-null
  metrics::ModelStats* stats = nullptr;          // not owned; may be null
  // Batch sizes run once on every instance inside Create (random-free
  // constant pixels), before any request is accepted. Sizes must be in
  // [1, config.max_batch_size]. Not recorded in stats.
  std::vector<int> warmup_batch_sizes;
};

using DoneCallback = std::function<void(StatusOr<BatchResult>)>;

class Batcher {
 public:
  // engines.size() must equal options.config.instance_count, all non-null
  // with the same image_size and embed_dim (else InvalidArgument); the config
  // must validate. A warm-up failure is returned (with the size that failed).
  static StatusOr<std::unique_ptr<Batcher>> Create(
      BatcherOptions options, std::vector<std::unique_ptr<engine::Engine>> engines);

  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // pixels: num_images * 3 * S * S floats in [0, 1], CHW per image (the
  // Engine::Embed layout); the Batcher takes the buffer.
  // A PixelBuffer view is read, never written, and dropped (with its owner)
  // when the request has finished.
  std::future<StatusOr<BatchResult>> Submit(PixelBuffer pixels, int num_images,
                                            SubmitOptions options = {});
  void Submit(PixelBuffer pixels, int num_images, SubmitOptions options,
              DoneCallback done);

  // Stops accepting (later Submits fail with Unavailable), keeps dispatching
  // queued work, with no batching delay, until the queue is empty or
  // `drain_timeout` (by the injected clock) has passed; then fails what is
  // still queued with Unavailable and joins the workers. A batch already
  // running always completes (an engine call cannot be interrupted).
  // Returns OK when nothing had to be failed, else DeadlineExceeded naming
  // how many requests were failed. Only the first call does this; later
  // (or concurrent) calls return OK at once.
  Status Shutdown(Microseconds drain_timeout);

  // The start of a drain: from now on no batch waits for more requests (the
  // batching delay is dropped), while Submit keeps accepting, so the
  // requests the front end still holds run at once. Idempotent.
  void StopDelaying();

  // For tests with a FakeClock: wakes the workers so they re-read the clock
  // (a worker's wait is bounded by real time, which a FakeClock ignores).
  void NotifyClockAdvanced();

  int pending_requests() const;  // queued, not yet fully dispatched
  bool accepting() const;
  const BatcherConfig& config() const { return options_.config; }
  int image_size() const { return image_size_; }
  int embed_dim() const { return embed_dim_; }
  int instance_count() const { return static_cast<int>(engines_.size()); }

 private:
  struct Request;
  struct Batch;
  // Per-worker gather/scatter buffers, kept across batches so a batch does
  // not page-fault fresh megabytes (32 x 3x224x224 floats = 19 MB).
  struct Scratch {
    std::vector<float> input;
    std::vector<float> output;
  };

  Batcher(BatcherOptions options, std::vector<std::unique_ptr<engine::Engine>> engines);
  void WorkerLoop(int instance);
  void RunBatch(int instance, Batch& batch, Scratch& scratch);
  void FailExpiredLocked(SteadyTime now, std::vector<std::shared_ptr<Request>>* failed);
  void Complete(const std::shared_ptr<Request>& request, StatusOr<BatchResult> result);

  BatcherOptions options_;
  std::vector<std::unique_ptr<engine::Engine>> engines_;
  int image_size_ = 0;
  int embed_dim_ = 0;
  std::size_t floats_per_image_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;          // workers: queue changed, clock, stop
  std::condition_variable drained_cv_;  // Shutdown: queue shrank or a batch ended
  std::deque<std::shared_ptr<Request>> queue_;  // FIFO; front may be partly dispatched
  bool accepting_ = true;
  bool draining_ = false;                       // Shutdown in progress: no delay
  bool no_delay_ = false;                       // StopDelaying: no delay, still accepting
  bool stop_ = false;                           // workers exit when set
  std::vector<std::thread> workers_;
  bool shut_down_ = false;
};

}  // namespace clipserve::batching
