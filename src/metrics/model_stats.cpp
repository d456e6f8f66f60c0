#include "metrics/model_stats.h"

#include <algorithm>
#include <chrono>

namespace clipserve::metrics {

std::string_view FailureReasonLabel(FailureReason r) {
  switch (r) {
    case FailureReason::kRejected: return "REJECTED";
    case FailureReason::kCanceled: return "CANCELED";
    case FailureReason::kBackend: return "BACKEND";
    case FailureReason::kOther: return "OTHER";
  }
  return "OTHER";
}

void ModelStats::AtomicCountNs::Add(std::uint64_t ns_value) {
  count.fetch_add(1, std::memory_order_relaxed);
  ns.fetch_add(ns_value, std::memory_order_relaxed);
}

CountNs ModelStats::AtomicCountNs::Load() const {
  return {count.load(std::memory_order_relaxed), ns.load(std::memory_order_relaxed)};
}

ModelStats::ModelStats(std::string name, std::string version, int max_batch_size)
    : name_(std::move(name)),
      version_(std::move(version)),
      max_batch_size_(std::max(1, max_batch_size)),
      batch_slots_(new BatchSlot[static_cast<std::size_t>(std::max(1, max_batch_size))]),
      request_duration_us_(DefaultDurationBucketsUs()),
      queue_duration_us_(DefaultDurationBucketsUs()),
      compute_infer_duration_us_(DefaultDurationBucketsUs()),
      batch_size_(BatchSizeBuckets(max_batch_size)) {}

void ModelStats::RecordSuccess(const RequestTimingsNs& t) {
  success_.Add(t.request_ns);
  inference_count_.fetch_add(t.num_images, std::memory_order_relaxed);
  queue_.Add(t.queue_ns);
  compute_input_.Add(t.compute_input_ns);
  compute_infer_.Add(t.compute_infer_ns);
  compute_output_.Add(t.compute_output_ns);
  request_duration_us_.Observe(static_cast<double>(t.request_ns) / 1000.0);
  queue_duration_us_.Observe(static_cast<double>(t.queue_ns) / 1000.0);
}

void ModelStats::RecordFailure(FailureReason reason, std::uint64_t request_ns) {
  fail_.Add(request_ns);
  fail_by_reason_[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void ModelStats::RecordExecution(int batch_size, std::uint64_t compute_input_ns,
                                 std::uint64_t compute_infer_ns, std::uint64_t compute_output_ns) {
  const int size = std::clamp(batch_size, 1, max_batch_size_);
  execution_count_.fetch_add(1, std::memory_order_relaxed);
  BatchSlot& slot = batch_slots_[static_cast<std::size_t>(size - 1)];
  slot.input.Add(compute_input_ns);
  slot.infer.Add(compute_infer_ns);
  slot.output.Add(compute_output_ns);
  compute_infer_duration_us_.Observe(static_cast<double>(compute_infer_ns) / 1000.0);
  batch_size_.Observe(batch_size);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  last_inference_ms_.store(static_cast<std::uint64_t>(now_ms.count()), std::memory_order_relaxed);
}

void ModelStats::AddPending(std::int64_t delta) {
  pending_.fetch_add(delta, std::memory_order_relaxed);
}

ModelStatsSnapshot ModelStats::Snapshot() const {
  ModelStatsSnapshot s;
  s.name = name_;
  s.version = version_;
  s.last_inference_ms = last_inference_ms_.load(std::memory_order_relaxed);
  s.inference_count = inference_count_.load(std::memory_order_relaxed);
  s.execution_count = execution_count_.load(std::memory_order_relaxed);
  s.success = success_.Load();
  s.fail = fail_.Load();
  s.queue = queue_.Load();
  s.compute_input = compute_input_.Load();
  s.compute_infer = compute_infer_.Load();
  s.compute_output = compute_output_.Load();
  for (int i = 0; i < kNumFailureReasons; ++i) {
    s.fail_by_reason[i] = fail_by_reason_[i].load(std::memory_order_relaxed);
  }
  s.pending_request_count = pending_.load(std::memory_order_relaxed);
  for (int size = 1; size <= max_batch_size_; ++size) {
    const BatchSlot& slot = batch_slots_[static_cast<std::size_t>(size - 1)];
    BatchSizeStats b;
    b.batch_size = size;
    b.compute_input = slot.input.Load();
    b.compute_infer = slot.infer.Load();
    b.compute_output = slot.output.Load();
    if (b.compute_input.count || b.compute_infer.count || b.compute_output.count) {
      s.batch_stats.push_back(b);
    }
  }
  s.request_duration_us = request_duration_us_.Snapshot();
  s.queue_duration_us = queue_duration_us_.Snapshot();
  s.compute_infer_duration_us = compute_infer_duration_us_.Snapshot();
  s.batch_size = batch_size_.Snapshot();
  return s;
}

}  // namespace clipserve::metrics
