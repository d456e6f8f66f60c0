// Histogram and Counter: lock-free metric cells.
//
// Thread safety: Observe/Increment may be called from any thread at any
// time; Snapshot never blocks writers (it reads atomics, so a snapshot taken
// during writes may see an observation in `count` but not yet in a bucket;
// each field is individually exact once writers are quiet).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

namespace clipserve::metrics {

// Prometheus-style histogram with fixed upper bounds (`le`), cumulative on
// output. In a snapshot, count == cumulative_counts.back() always. Values are doubles in the unit the metric's name carries.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;         // ascending, finite; +Inf implied
  std::vector<std::uint64_t> cumulative_counts;  // size upper_bounds+1; last = count
  double sum = 0;
  std::uint64_t count = 0;
};

class Histogram {
 public:
  // upper_bounds: strictly ascending, finite (checked by assert; callers use
  // the helpers below). A value v lands in the first bucket with v <= bound.
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value);
  HistogramSnapshot Snapshot() const;
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<std::atomic<std::uint64_t>> bucket_counts_;  // non-cumulative, +Inf last
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// start, start*factor, ... (count bounds). start > 0, factor > 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// start, start+width, ... (count bounds). width > 0.
std::vector<double> LinearBuckets(double start, double width, int count);

// Default bounds for durations in microseconds: 1-2-5 steps from 100 us to
// 10 s (100, 200, 500, 1000, ..., 5e6, 1e7).
std::vector<double> DefaultDurationBucketsUs();
// Batch sizes 1..max_batch_size: powers of two and max_batch_size itself.
std::vector<double> BatchSizeBuckets(int max_batch_size);

}  // namespace clipserve::metrics
