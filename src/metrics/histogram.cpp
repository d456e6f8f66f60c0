#include "metrics/histogram.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace clipserve::metrics {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), bucket_counts_(upper_bounds_.size() + 1) {
  assert(std::is_sorted(upper_bounds_.begin(), upper_bounds_.end()));
  assert(std::adjacent_find(upper_bounds_.begin(), upper_bounds_.end()) == upper_bounds_.end());
}

void Histogram::Observe(double value) {
  // First bound >= value: Prometheus buckets are "less than or equal".
  const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  const std::size_t index = static_cast<std::size_t>(it - upper_bounds_.begin());
  bucket_counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative_counts.resize(bucket_counts_.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < bucket_counts_.size(); ++i) {
    running += bucket_counts_[i].load(std::memory_order_relaxed);
    s.cumulative_counts[i] = running;
  }
  // The +Inf bucket must equal _count for the exposition to be consistent,
  // so both come from the same bucket sum rather than from count_, which a
  // concurrent Observe may have bumped already.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) bounds.push_back(v);
  return bounds;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start + width * i);
  return bounds;
}

std::vector<double> DefaultDurationBucketsUs() {
  // 1-2-5 steps from 100 us to 10 s: fine enough to read p50/p99 of a
  // ViT-B/32 forward (ms) and of queueing (100s of us) alike.
  std::vector<double> bounds;
  for (double decade = 100; decade <= 1e7; decade *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (decade * m <= 1e7) bounds.push_back(decade * m);
    }
  }
  return bounds;
}

std::vector<double> BatchSizeBuckets(int max_batch_size) {
  std::vector<double> bounds;
  for (int b = 1; b < max_batch_size; b *= 2) bounds.push_back(b);
  bounds.push_back(std::max(1, max_batch_size));
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}

}  // namespace clipserve::metrics
