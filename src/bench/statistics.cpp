#include "bench/statistics.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace clipserve::bench {

double PercentileLinear(std::span<const double> sorted, double p) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  if (sorted.size() == 1) return sorted[0];
  // numpy: q = p / 100, virtual index = q * (n - 1).
  const double h = (std::clamp(p, 0.0, 100.0) / 100.0) * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  const double frac = h - static_cast<double>(lo);
  // numpy's _lerp form: exact at both ends and monotone.
  const double a = sorted[lo], b = sorted[lo + 1];
  const double diff = b - a;
  return frac >= 0.5 ? b - diff * (1.0 - frac) : a + diff * frac;
}

std::optional<Summary> Summarize(std::vector<double> samples) {
  if (samples.empty()) return std::nullopt;
  std::sort(samples.begin(), samples.end());
  Summary s;
  s.count = static_cast<std::int64_t>(samples.size());
  // Two-pass mean/variance: exact enough for latencies, no catastrophic cancellation.
  long double sum = 0;
  for (double v : samples) sum += v;
  s.mean = static_cast<double>(sum / samples.size());
  long double sq = 0;
  for (double v : samples) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(static_cast<double>(sq / samples.size()));
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = PercentileLinear(samples, 50);
  s.p90 = PercentileLinear(samples, 90);
  s.p95 = PercentileLinear(samples, 95);
  s.p99 = PercentileLinear(samples, 99);
  s.p999 = PercentileLinear(samples, 99.9);
  return s;
}

std::size_t LogHistogram::IndexOf(std::int64_t value) {
  if (value < 0) value = 0;
  const auto v = static_cast<std::uint64_t>(value);
  if (v < static_cast<std::uint64_t>(kSubBuckets)) return static_cast<std::size_t>(v);
  const int msb = 63 - std::countl_zero(v);               // v in [2^msb, 2^(msb+1))
  const int shift = msb - kSubBucketBits;                 // width of one sub-bucket = 2^shift
  const std::uint64_t sub = (v >> shift) - kSubBuckets;   // 0 .. kSubBuckets-1
  return static_cast<std::size_t>(kSubBuckets + (msb - kSubBucketBits) * kSubBuckets + sub);
}

std::int64_t LogHistogram::LowerBound(std::size_t index) {
  if (index < static_cast<std::size_t>(kSubBuckets)) return static_cast<std::int64_t>(index);
  const std::size_t rel = index - kSubBuckets;
  const int shift = static_cast<int>(rel / kSubBuckets);
  const std::int64_t sub = static_cast<std::int64_t>(rel % kSubBuckets);
  return (kSubBuckets + sub) << shift;
}

std::int64_t LogHistogram::UpperBound(std::size_t index) {
  if (index < static_cast<std::size_t>(kSubBuckets)) return static_cast<std::int64_t>(index) + 1;
  const int shift = static_cast<int>((index - kSubBuckets) / kSubBuckets);
  return LowerBound(index) + (std::int64_t{1} << shift);
}

void LogHistogram::Record(std::int64_t value) {
  const std::size_t i = IndexOf(value);
  if (i >= counts_.size()) counts_.resize(i + 1, 0);
  ++counts_[i];
  ++total_;
}

std::vector<LogHistogram::Bucket> LogHistogram::Buckets() const {
  std::vector<Bucket> out;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] != 0) out.push_back({LowerBound(i), UpperBound(i), counts_[i]});
  }
  return out;
}

}  // namespace clipserve::bench
