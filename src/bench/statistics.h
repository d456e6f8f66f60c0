// Aggregation: exact summary statistics over every sample of a phase, and an
// HDR-style log-bucketed histogram. Pure functions; no I/O, no JSON.
//
// Percentile method: numpy's default ("linear", Hyndman & Fan type 7), the
// one the original Python runner used through np.percentile. For sorted
// samples x[0..n-1] and p in [0,100]: h = (n-1) * p/100, result =
// x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] - x[floor(h)]).
// stddev is the population standard deviation (numpy's np.std, ddof=0).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace clipserve::bench {

// NaN when `sorted` is empty. `sorted` must be ascending.
double PercentileLinear(std::span<const double> sorted, double p);

struct Summary {
  std::int64_t count = 0;  // number of samples
  double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0;
  double min = 0, max = 0, stddev = 0;
};

// Summary of all samples (any order). nullopt when there are none.
std::optional<Summary> Summarize(std::vector<double> samples);

// Log-linear buckets like HdrHistogram: each power of two [2^k, 2^(k+1)) is
// split into kSubBuckets equal parts, so a recorded value is known to within
// 1/kSubBuckets (6.25%) of itself. Values are non-negative integers
// (microseconds in practice); values below kSubBuckets get exact buckets.
class LogHistogram {
 public:
  static constexpr int kSubBucketBits = 4;
  static constexpr std::int64_t kSubBuckets = 1 << kSubBucketBits;

  void Record(std::int64_t value);
  std::int64_t total_count() const { return total_; }

  struct Bucket {
    std::int64_t lower;        // inclusive
    std::int64_t upper;        // exclusive
    std::int64_t count;
  };
  // Non-empty buckets in ascending order.
  std::vector<Bucket> Buckets() const;

  // Bucket index and its bounds, exposed for tests.
  static std::size_t IndexOf(std::int64_t value);
  static std::int64_t LowerBound(std::size_t index);
  static std::int64_t UpperBound(std::size_t index);

 private:
  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0;
};

}  // namespace clipserve::bench
