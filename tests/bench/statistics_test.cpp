#include "bench/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace clipserve::bench {
namespace {

// Expected values from numpy 1.24 (np.percentile default "linear", np.std ddof=0).
TEST(PercentileLinear, MatchesNumpyOnSmallSample) {
  std::vector<double> x = {5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 7.5, 6.25};
  auto s = Summarize(x);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->count, 8);
  EXPECT_DOUBLE_EQ(s->min, 1.0);
  EXPECT_DOUBLE_EQ(s->p50, 4.5);
  EXPECT_DOUBLE_EQ(s->p90, 8.25);
  EXPECT_NEAR(s->p95, 9.124999999999998, 1e-12);
  EXPECT_NEAR(s->p99, 9.825, 1e-12);
  EXPECT_NEAR(s->p999, 9.982500000000002, 1e-12);
  EXPECT_DOUBLE_EQ(s->max, 10.0);
  EXPECT_NEAR(s->mean, 4.84375, 1e-12);
  EXPECT_NEAR(s->stddev, 2.797704136877236, 1e-12);
}

TEST(PercentileLinear, ArithmeticSequence) {
  std::vector<double> x;
  for (int i = 1; i <= 1000; ++i) x.push_back(i);
  std::sort(x.begin(), x.end());
  EXPECT_DOUBLE_EQ(PercentileLinear(x, 50), 500.5);
  EXPECT_NEAR(PercentileLinear(x, 99), 990.01, 1e-9);
  EXPECT_NEAR(PercentileLinear(x, 99.9), 999.001, 1e-9);
  EXPECT_DOUBLE_EQ(PercentileLinear(x, 0), 1);
  EXPECT_DOUBLE_EQ(PercentileLinear(x, 100), 1000);
}

TEST(PercentileLinear, EdgeCases) {
  EXPECT_TRUE(std::isnan(PercentileLinear({}, 50)));
  std::vector<double> one = {3.5};
  EXPECT_DOUBLE_EQ(PercentileLinear(one, 99), 3.5);
  EXPECT_FALSE(Summarize({}).has_value());
  auto s = Summarize({2.0, 2.0, 2.0});
  EXPECT_DOUBLE_EQ(s->stddev, 0.0);
}

// Known distribution: exponential(mean 1) quantiles are -ln(1-q).
TEST(Summarize, ExponentialQuantilesConverge) {
  std::mt19937_64 rng(123);
  std::exponential_distribution<double> d(1.0);
  std::vector<double> x(400000);
  for (auto& v : x) v = d(rng);
  auto s = Summarize(x);
  EXPECT_NEAR(s->mean, 1.0, 0.01);
  EXPECT_NEAR(s->stddev, 1.0, 0.01);
  EXPECT_NEAR(s->p50, std::log(2.0), 0.01);
  EXPECT_NEAR(s->p90, -std::log(0.1), 0.02);
  EXPECT_NEAR(s->p99, -std::log(0.01), 0.06);
}

TEST(LogHistogram, BucketsContainTheirValuesWithBoundedWidth) {
  for (std::int64_t v : {0LL, 1LL, 15LL, 16LL, 17LL, 31LL, 32LL, 33LL, 1000LL, 123456LL, 987654321LL}) {
    const std::size_t i = LogHistogram::IndexOf(v);
    EXPECT_LE(LogHistogram::LowerBound(i), v) << v;
    EXPECT_GT(LogHistogram::UpperBound(i), v) << v;
    const double width = static_cast<double>(LogHistogram::UpperBound(i) - LogHistogram::LowerBound(i));
    if (v >= LogHistogram::kSubBuckets) {
      EXPECT_LE(width / static_cast<double>(LogHistogram::LowerBound(i)), 1.0 / 16 + 1e-12);
    }
  }
  // Consecutive buckets tile the line with no gaps.
  for (std::size_t i = 0; i < 200; ++i) EXPECT_EQ(LogHistogram::UpperBound(i), LogHistogram::LowerBound(i + 1)) << i;
}

TEST(LogHistogram, CountsEverySample) {
  LogHistogram h;
  for (int i = 0; i < 1000; ++i) h.Record(i * 37 % 5000);
  h.Record(-5);  // clamped to 0
  std::int64_t total = 0;
  std::int64_t prev_upper = -1;
  for (const auto& b : h.Buckets()) {
    total += b.count;
    EXPECT_GT(b.lower, prev_upper - 1);
    prev_upper = b.upper;
  }
  EXPECT_EQ(total, 1001);
  EXPECT_EQ(h.total_count(), 1001);
}

}  // namespace
}  // namespace clipserve::bench
