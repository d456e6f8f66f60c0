#include "bench/load.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

namespace clipserve::bench {
namespace {

using std::chrono::milliseconds;

// The asynchronous loops' executor on fake time: events run in time order
// (ties in the order they were queued), the clock jumping to each. One
// thread, no sleeps, deterministic.
class FakeExecutor final : public LoopExecutor {
 public:
  const Clock& clock() const override { return clock_; }
  void RunAt(SteadyTime t, std::function<void()> fn) override { events_.emplace(std::make_pair(t, seq_++), std::move(fn)); }
  void Wait(DoneLatch& latch) override {
    while (!latch.done()) {
      if (events_.empty()) {
        ADD_FAILURE() << "the loop is waiting on nothing";
        return;
      }
      auto node = events_.extract(events_.begin());
      if (node.key().first > clock_.Now()) clock_.Set(node.key().first);
      node.mapped()();
    }
  }
  // A send whose response completes `service` after it went out.
  AsyncSendFn After(Nanoseconds service, std::function<SendOutcome(std::int64_t)> outcome = nullptr) {
    return [this, service, outcome](int, std::int64_t i, SendDone done) {
      RunAt(clock_.Now() + service, [done = std::move(done), outcome, i] { done(outcome ? outcome(i) : SendOutcome{}); });
    };
  }
  FakeClock clock_;

 private:
  std::map<std::pair<SteadyTime, std::uint64_t>, std::function<void()>> events_;
  std::uint64_t seq_ = 0;
};

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

// One connection, fake clock: a server that takes 30 ms per request against
// a schedule of one request every 10 ms. Requests queue behind each other,
// and latency measured from the schedule grows by 20 ms per request — the
// coordinated-omission-free answer. Service time stays 30 ms.
TEST(OpenLoop, LatencyCountsFromScheduledTimeWithFakeClock) {
  FakeExecutor ex;
  std::vector<Nanoseconds> offsets;
  for (int i = 0; i < 5; ++i) offsets.emplace_back(milliseconds(10 * i));
  PhaseMeasurement m;
  RunAsyncOpenLoop(offsets, 1, milliseconds(1), ex, ex.After(milliseconds(30)), m);
  ASSERT_EQ(m.latencies_ms.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(m.latencies_ms[static_cast<std::size_t>(i)], 30.0 + 20.0 * i) << i;
  EXPECT_EQ(m.open_loop->late_sends, 4);  // all but the first went out late
  EXPECT_DOUBLE_EQ(m.open_loop->send_lag_ms[4], 80.0);
  for (double s : m.open_loop->service_ms) EXPECT_DOUBLE_EQ(s, 30.0);
  EXPECT_DOUBLE_EQ(m.wall_time_s, 0.150);
  EXPECT_EQ(m.attempted, 5);
  EXPECT_EQ(m.concurrency, 1);
}

// A fast server keeps up: no late sends, latency = service time, and the
// timer releases each request at its scheduled instant, not early.
TEST(OpenLoop, FastServerSendsOnSchedule) {
  FakeExecutor ex;
  std::vector<Nanoseconds> offsets = {milliseconds(0), milliseconds(10), milliseconds(25)};
  std::vector<double> sent_at_ms;
  const SteadyTime start = ex.clock().Now();
  const AsyncSendFn service = ex.After(milliseconds(2));
  PhaseMeasurement m;
  RunAsyncOpenLoop(offsets, 1, milliseconds(1), ex,
                   [&](int c, std::int64_t i, SendDone done) {
                     sent_at_ms.push_back(std::chrono::duration<double, std::milli>(ex.clock().Now() - start).count());
                     service(c, i, std::move(done));
                   },
                   m);
  EXPECT_EQ(sent_at_ms, std::vector<double>({0, 10, 25}));
  EXPECT_EQ(m.open_loop->late_sends, 0);
  for (double l : m.latencies_ms) EXPECT_DOUBLE_EQ(l, 2.0);
}

TEST(OpenLoop, FailuresCountedByKindNotDropped) {
  FakeExecutor ex;
  std::vector<Nanoseconds> offsets(6, Nanoseconds(0));
  PhaseMeasurement m;
  RunAsyncOpenLoop(offsets, 1, milliseconds(1), ex, ex.After(milliseconds(1), [](std::int64_t i) {
                     if (i == 1) return SendOutcome{FailureKind::kHttpStatus, 503, "busy", std::nullopt};
                     if (i == 2) return SendOutcome{FailureKind::kTimeout, 0, "slow", std::nullopt};
                     if (i == 3) return SendOutcome{FailureKind::kConnection, 0, "refused", std::nullopt};
                     return SendOutcome{};
                   }),
                   m);
  EXPECT_EQ(m.latencies_ms.size(), 3u);
  EXPECT_EQ(m.errors.total, 3);
  EXPECT_EQ(m.errors.by_key.at("http_503"), 1);
  EXPECT_EQ(m.errors.by_key.at("timeout"), 1);
  EXPECT_EQ(m.errors.by_key.at("connection"), 1);
  EXPECT_EQ(m.errors.first_detail, "busy");
}

// Three connections, a 30 ms server, a request every 5 ms: three go out on
// time, then each waits for the first connection to free up. Nothing is
// sent on a fourth connection, and nothing is lost.
TEST(OpenLoop, BusyPoolDelaysSendsButNeverExceedsIt) {
  FakeExecutor ex;
  std::vector<Nanoseconds> offsets;
  for (int i = 0; i < 12; ++i) offsets.emplace_back(milliseconds(5 * i));
  int in_flight = 0, max_in_flight = 0;
  std::vector<int> used(3, 0);
  PhaseMeasurement m;
  RunAsyncOpenLoop(offsets, 3, milliseconds(1), ex,
                   [&](int c, std::int64_t, SendDone done) {
                     ++used[static_cast<std::size_t>(c)];
                     max_in_flight = std::max(max_in_flight, ++in_flight);
                     ex.RunAt(ex.clock().Now() + milliseconds(30), [&, done = std::move(done)] {
                       --in_flight;
                       done(SendOutcome{});
                     });
                   },
                   m);
  EXPECT_EQ(max_in_flight, 3);
  EXPECT_EQ(m.latencies_ms.size(), 12u);
  EXPECT_EQ(m.open_loop->late_sends, 9);
  EXPECT_EQ(m.concurrency, 3);
  for (int u : used) EXPECT_EQ(u, 4);
  for (double s : m.open_loop->service_ms) EXPECT_DOUBLE_EQ(s, 30.0);
  // The last request (due 55 ms) goes out at 100 ms, on connection 2's fourth round.
  EXPECT_DOUBLE_EQ(*std::max_element(m.latencies_ms.begin(), m.latencies_ms.end()), 75.0);
  EXPECT_DOUBLE_EQ(m.wall_time_s, 0.130);
}

TEST(OpenLoop, StopsReleasingWhenTheServerIsGone) {
  FakeExecutor ex;
  const auto offsets = MakeArrivalOffsets(1000, 1.0, Arrival::kConstant, 1);
  PhaseMeasurement m;
  RunAsyncOpenLoop(offsets, 4, milliseconds(1), ex, ex.After(milliseconds(1), [](std::int64_t) {
                     return SendOutcome{FailureKind::kConnection, 0, "refused", std::nullopt};
                   }),
                   m);
  EXPECT_TRUE(m.aborted);
  EXPECT_EQ(m.planned, 1000);
  EXPECT_LT(m.attempted, 100);
  EXPECT_EQ(m.errors.total, m.attempted);
}

TEST(AsyncClosedLoop, EachConnectionHasOneRequestOutstanding) {
  FakeExecutor ex;
  int in_flight = 0, max_in_flight = 0;
  std::vector<int> per_connection(4, 0);
  PhaseMeasurement m;
  Progress progress;
  RunAsyncClosedLoop(4, 1000, ex,
                     [&](int c, std::int64_t i, SendDone done) {
                       ++per_connection[static_cast<std::size_t>(c)];
                       max_in_flight = std::max(max_in_flight, ++in_flight);
                       ex.RunAt(ex.clock().Now() + milliseconds(10), [&, i, done = std::move(done)] {
                         --in_flight;
                         if (i % 10 == 0) return done(SendOutcome{FailureKind::kHttpStatus, 500, "boom", std::nullopt});
                         done(SendOutcome{});
                       });
                     },
                     m, &progress);
  EXPECT_EQ(max_in_flight, 4);
  EXPECT_EQ(m.attempted, 1000);
  EXPECT_EQ(static_cast<int>(m.latencies_ms.size()) + m.errors.total, 1000);
  EXPECT_EQ(m.errors.by_key.at("http_500"), 100);
  EXPECT_EQ(progress.done.load(), 1000);
  EXPECT_EQ(m.concurrency, 4);
  for (int n : per_connection) EXPECT_EQ(n, 250);
  for (double l : m.latencies_ms) EXPECT_DOUBLE_EQ(l, 10.0);
  EXPECT_DOUBLE_EQ(m.wall_time_s, 2.5);  // 250 rounds of 10 ms
}

TEST(AsyncClosedLoop, LatencyStopsAtResponseTime) {
  FakeExecutor ex;
  PhaseMeasurement m;
  RunAsyncClosedLoop(1, 3, ex,
                     [&](int, std::int64_t, SendDone done) {
                       const SteadyTime response = ex.clock().Now() + milliseconds(5);
                       // Completion handled 100 ms later (a slow validation): not the server's time.
                       ex.RunAt(response + milliseconds(100), [response, done = std::move(done)] {
                         SendOutcome o;
                         o.response_time = response;
                         done(o);
                       });
                     },
                     m);
  for (double l : m.latencies_ms) EXPECT_DOUBLE_EQ(l, 5.0);
  EXPECT_DOUBLE_EQ(m.wall_time_s, 0.315);
}

TEST(AsyncClosedLoop, AbortsWhenTheServerIsGoneAndDeadlineStops) {
  {
    FakeExecutor ex;
    PhaseMeasurement m;
    RunAsyncClosedLoop(2, 100000, ex, ex.After(milliseconds(1), [](std::int64_t i) {
                         if (i < 30) return SendOutcome{};
                         return SendOutcome{FailureKind::kConnection, 0, "refused", std::nullopt};
                       }),
                       m);
    EXPECT_TRUE(m.aborted);
    EXPECT_EQ(m.planned, 100000);
    EXPECT_LT(m.attempted, 200);
    EXPECT_EQ(static_cast<std::int64_t>(m.latencies_ms.size()) + m.errors.total, m.attempted);
  }
  {
    FakeExecutor ex;
    PhaseMeasurement m;
    RunAsyncClosedLoop(1, 1000, ex, ex.After(milliseconds(10)), m, nullptr, ex.clock().Now() + milliseconds(95));
    EXPECT_EQ(m.attempted, 10);
    EXPECT_EQ(m.planned, 10);
    EXPECT_FALSE(m.aborted);
  }
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
