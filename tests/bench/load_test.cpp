#include "bench/load.h"

#include <gtest/gtest.h>

#include <numeric>

namespace clipserve::bench {
namespace {

using std::chrono::milliseconds;

TEST(Arrivals, ConstantSpacingWithoutDrift) {
  auto o = MakeArrivalOffsets(1000, 1.0, Arrival::kConstant, 1);
  ASSERT_EQ(o.size(), 1000u);
  EXPECT_EQ(o[0].count(), 0);
  EXPECT_EQ(o[1].count(), 1000000);
  EXPECT_EQ(o[999].count(), 999000000);
  EXPECT_TRUE(MakeArrivalOffsets(0, 1, Arrival::kConstant, 1).empty());
}

TEST(Arrivals, PoissonIsSeededAndHasTheRate) {
  auto a = MakeArrivalOffsets(2000, 10.0, Arrival::kPoisson, 7);
  auto b = MakeArrivalOffsets(2000, 10.0, Arrival::kPoisson, 7);
  auto c = MakeArrivalOffsets(2000, 10.0, Arrival::kPoisson, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NEAR(static_cast<double>(a.size()), 20000, 3 * std::sqrt(20000.0));
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_LT(a.back().count(), 10'000'000'000LL);
}

// One worker, fake clock: a server that takes 30 ms per request against a
// schedule of one request every 10 ms. Requests queue behind each other, and
// latency measured from the schedule grows by 20 ms per request — the
// coordinated-omission-free answer. Service time stays 30 ms.
TEST(OpenLoop, LatencyCountsFromScheduledTimeWithFakeClock) {
  FakeClock clock;
  std::vector<Nanoseconds> offsets;
  for (int i = 0; i < 5; ++i) offsets.emplace_back(milliseconds(10 * i));
  std::vector<SteadyTime> send_times;
  PhaseMeasurement m;
  RunOpenLoop(offsets, 1, milliseconds(1), clock,
              [&](SteadyTime t) { clock.Set(t); },
              [&](int, std::int64_t) {
                send_times.push_back(clock.Now());
                clock.Advance(milliseconds(30));
                return SendOutcome{};
              },
              m);
  ASSERT_EQ(m.latencies_ms.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(m.latencies_ms[static_cast<std::size_t>(i)], 30.0 + 20.0 * i) << i;
  EXPECT_EQ(m.open_loop->late_sends, 4);  // all but the first went out late
  EXPECT_DOUBLE_EQ(m.open_loop->send_lag_ms[4], 80.0);
  for (double s : m.open_loop->service_ms) EXPECT_DOUBLE_EQ(s, 30.0);
  EXPECT_DOUBLE_EQ(m.wall_time_s, 0.150);
  EXPECT_EQ(m.attempted, 5);
}

// A fast server keeps up: no late sends, latency = service time, and the
// runner sleeps until each scheduled instant rather than sending early.
TEST(OpenLoop, FastServerSendsOnSchedule) {
  FakeClock clock;
  std::vector<Nanoseconds> offsets = {milliseconds(0), milliseconds(10), milliseconds(25)};
  std::vector<double> sent_at_ms;
  const SteadyTime start = clock.Now();
  PhaseMeasurement m;
  RunOpenLoop(offsets, 1, milliseconds(1), clock, [&](SteadyTime t) { clock.Set(t); },
              [&](int, std::int64_t) {
                sent_at_ms.push_back(std::chrono::duration<double, std::milli>(clock.Now() - start).count());
                clock.Advance(milliseconds(2));
                return SendOutcome{};
              },
              m);
  EXPECT_EQ(sent_at_ms, std::vector<double>({0, 10, 25}));
  EXPECT_EQ(m.open_loop->late_sends, 0);
  for (double l : m.latencies_ms) EXPECT_DOUBLE_EQ(l, 2.0);
}

TEST(OpenLoop, FailuresCountedByKindNotDropped) {
  FakeClock clock;
  std::vector<Nanoseconds> offsets(6, Nanoseconds(0));
  PhaseMeasurement m;
  RunOpenLoop(offsets, 1, milliseconds(1), clock, [&](SteadyTime t) { clock.Set(t); },
              [&](int, std::int64_t i) {
                clock.Advance(milliseconds(1));
                if (i == 1) return SendOutcome{FailureKind::kHttpStatus, 503, "busy", std::nullopt};
                if (i == 2) return SendOutcome{FailureKind::kTimeout, 0, "slow", std::nullopt};
                if (i == 3) return SendOutcome{FailureKind::kConnection, 0, "refused", std::nullopt};
                return SendOutcome{};
              },
              m);
  EXPECT_EQ(m.latencies_ms.size(), 3u);
  EXPECT_EQ(m.errors.total, 3);
  EXPECT_EQ(m.errors.by_key.at("http_503"), 1);
  EXPECT_EQ(m.errors.by_key.at("timeout"), 1);
  EXPECT_EQ(m.errors.by_key.at("connection"), 1);
  EXPECT_EQ(m.errors.first_detail, "busy");
}

TEST(ClosedLoop, EveryRequestAccountedAcrossWorkers) {
  std::atomic<int> calls{0};
  PhaseMeasurement m;
  Progress progress;
  RunClosedLoop(4, 1000, RealClock::Instance(),
                [&](int w, std::int64_t i) {
                  EXPECT_GE(w, 0);
                  EXPECT_LT(w, 4);
                  ++calls;
                  if (i % 10 == 0) return SendOutcome{FailureKind::kHttpStatus, 500, "boom", std::nullopt};
                  return SendOutcome{};
                },
                m, &progress);
  EXPECT_EQ(calls.load(), 1000);
  EXPECT_EQ(m.attempted, 1000);
  EXPECT_EQ(static_cast<int>(m.latencies_ms.size()) + m.errors.total, 1000);
  EXPECT_EQ(m.errors.by_key.at("http_500"), 100);
  EXPECT_EQ(progress.done.load(), 1000);
  EXPECT_EQ(m.concurrency, 4);
}

TEST(ClosedLoop, LatencyStopsAtResponseTimeNotAfterValidation) {
  FakeClock clock;
  PhaseMeasurement m;
  RunClosedLoop(1, 3, clock,
                [&](int, std::int64_t) {
                  clock.Advance(milliseconds(5));
                  SendOutcome o;
                  o.response_time = clock.Now();
                  clock.Advance(milliseconds(100));  // client-side parsing, not the server's time
                  return o;
                },
                m);
  for (double l : m.latencies_ms) EXPECT_DOUBLE_EQ(l, 5.0);
  EXPECT_DOUBLE_EQ(m.wall_time_s, 0.315);
}

TEST(ClosedLoop, AbortsWhenTheServerIsGoneAndReportsNotSent) {
  PhaseMeasurement m;
  RunClosedLoop(2, 100000, RealClock::Instance(),
                [&](int, std::int64_t i) {
                  if (i < 30) return SendOutcome{};
                  return SendOutcome{FailureKind::kConnection, 0, "refused", std::nullopt};
                },
                m);
  EXPECT_TRUE(m.aborted);
  EXPECT_EQ(m.planned, 100000);
  EXPECT_LT(m.attempted, 200);
  EXPECT_EQ(static_cast<std::int64_t>(m.latencies_ms.size()) + m.errors.total, m.attempted);
}

TEST(ClosedLoop, HttpErrorsDoNotAbort) {
  PhaseMeasurement m;
  RunClosedLoop(1, 500, RealClock::Instance(),
                [&](int, std::int64_t) { return SendOutcome{FailureKind::kHttpStatus, 503, "busy", std::nullopt}; }, m);
  EXPECT_FALSE(m.aborted);
  EXPECT_EQ(m.attempted, 500);
}

TEST(ClosedLoop, DeadlineStopsNewRequests) {
  FakeClock clock;
  PhaseMeasurement m;
  RunClosedLoop(1, 1000, clock,
                [&](int, std::int64_t) {
                  clock.Advance(milliseconds(10));
                  return SendOutcome{};
                },
                m, nullptr, clock.Now() + milliseconds(95));
  EXPECT_EQ(m.attempted, 10);
  EXPECT_EQ(m.latencies_ms.size(), 10u);
}

}  // namespace
}  // namespace clipserve::bench
