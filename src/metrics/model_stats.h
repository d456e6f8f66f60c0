// ModelStats: per (model, version) inference statistics, the ones Triton
// keeps for its statistics extension (/v2/models/{m}/stats) and its
// nv_inference_* Prometheus metrics, plus clipserve's histograms.
//
// Writers: the batcher (and the server, for failures it detects before
// queueing). Readers: the server's /stats and /metrics handlers.
// Thread safety: every Record*/gauge call is lock-free (relaxed atomics);
// Snapshot() never waits on inference. Per-batch-size stats live in a fixed
// array indexed by batch size (1..max_batch_size), so recording never
// allocates or locks.
//
// Units: durations are recorded in nanoseconds (as Triton keeps them) and
// rendered in microseconds for Prometheus; timestamps are wall-clock
// milliseconds since the Unix epoch.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metrics/histogram.h"

namespace clipserve::metrics {

// Why a request failed; the `reason` label of nv_inference_request_failure
// (Triton 2.4x). Map: queue full, queue timeout, shutting down -> kRejected;
// client went away -> kCanceled; engine error -> kBackend; anything else
// (bad input found by the server) -> kOther.
enum class FailureReason { kRejected = 0, kCanceled = 1, kBackend = 2, kOther = 3 };
inline constexpr int kNumFailureReasons = 4;
std::string_view FailureReasonLabel(FailureReason r);  // "REJECTED", ...

struct CountNs {
  std::uint64_t count = 0;
  std::uint64_t ns = 0;
  friend bool operator==(const CountNs&, const CountNs&) = default;
};

// Mirrors Triton's $batch_stats entry.
struct BatchSizeStats {
  int batch_size = 0;
  CountNs compute_input;
  CountNs compute_infer;
  CountNs compute_output;
};

// Mirrors Triton's $model_stat (what the server turns into JSON).
struct ModelStatsSnapshot {
  std::string name;
  std::string version;
  std::uint64_t last_inference_ms = 0;  // 0 = never
  std::uint64_t inference_count = 0;    // images of successful requests (Triton)
  std::uint64_t execution_count = 0;    // engine calls (batches)
  // inference_stats:
  CountNs success;          // count, total request ns (enqueue -> result)
  CountNs fail;             // all reasons
  CountNs queue;            // per successful request: enqueue -> first batch start
  // Per successful request, the durations of the batch(es) it ran in (as in
  // Triton: every request of a batch is charged the whole batch's time).
  CountNs compute_input;
  CountNs compute_infer;
  CountNs compute_output;
  std::array<std::uint64_t, kNumFailureReasons> fail_by_reason{};
  std::int64_t pending_request_count = 0;  // gauge: accepted, not finished
  std::vector<BatchSizeStats> batch_stats;  // only sizes run at least once, ascending
  HistogramSnapshot request_duration_us;
  HistogramSnapshot queue_duration_us;
  HistogramSnapshot compute_infer_duration_us;  // per execution
  HistogramSnapshot batch_size;                 // per execution
};

// The durations of one finished request (nanoseconds).
struct RequestTimingsNs {
  std::uint64_t request_ns = 0;         // enqueue -> result delivered
  std::uint64_t queue_ns = 0;           // enqueue -> first batch start
  std::uint64_t compute_input_ns = 0;   // gather into batch buffer(s)
  std::uint64_t compute_infer_ns = 0;   // engine call(s)
  std::uint64_t compute_output_ns = 0;  // scatter of results
  std::uint64_t num_images = 1;         // the request's batch dimension
};

class ModelStats {
 public:
  // max_batch_size bounds the per-batch-size table (larger sizes are clamped
  // into the last slot; the batcher never produces them).
  ModelStats(std::string name, std::string version, int max_batch_size);
  ModelStats(const ModelStats&) = delete;
  ModelStats& operator=(const ModelStats&) = delete;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  int max_batch_size() const { return max_batch_size_; }

  // A request finished successfully (one call per request, after its last
  // chunk). Updates success, queue and compute_* cumulative stats,
  // inference_count (+= num_images, as Triton counts it) and the
  // request/queue histograms.
  void RecordSuccess(const RequestTimingsNs& t);
  // A request failed; request_ns is enqueue (or arrival) -> failure.
  void RecordFailure(FailureReason reason, std::uint64_t request_ns);
  // One engine execution of `batch_size` images (durations of the whole
  // batch). Updates execution_count, batch_stats, last_inference, and the
  // compute-infer and batch-size histograms. Call it for successful
  // executions only (Triton does not count failed ones).
  void RecordExecution(int batch_size, std::uint64_t compute_input_ns,
                       std::uint64_t compute_infer_ns, std::uint64_t compute_output_ns);
  // Pending gauge: +1 when a request is accepted into the queue, -1 when it
  // completes or fails.
  void AddPending(std::int64_t delta);

  ModelStatsSnapshot Snapshot() const;

 private:
  struct AtomicCountNs {
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> ns{0};
    void Add(std::uint64_t ns_value);
    CountNs Load() const;
  };
  struct BatchSlot {
    AtomicCountNs input, infer, output;
  };

  const std::string name_;
  const std::string version_;
  const int max_batch_size_;
  std::atomic<std::uint64_t> last_inference_ms_{0};
  std::atomic<std::uint64_t> inference_count_{0};
  std::atomic<std::uint64_t> execution_count_{0};
  AtomicCountNs success_, fail_, queue_, compute_input_, compute_infer_, compute_output_;
  std::array<std::atomic<std::uint64_t>, kNumFailureReasons> fail_by_reason_{};
  std::atomic<std::int64_t> pending_{0};
  std::unique_ptr<BatchSlot[]> batch_slots_;  // [max_batch_size], index size-1
  Histogram request_duration_us_;
  Histogram queue_duration_us_;
  Histogram compute_infer_duration_us_;
  Histogram batch_size_;
};

}  // namespace clipserve::metrics
