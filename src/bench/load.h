// Load generation: closed loop (N connections, each sending its next request
// as soon as the previous answered) and open loop (requests released on a
// precomputed arrival schedule; latency counted from the *scheduled* send
// time, so a slow server cannot hide queueing — no coordinated omission).
//
// Two drivers share the bookkeeping:
//  - RunClosedLoop: blocking sends on caller-owned threads (the sequential
//    phases: one thread, one HttpSession);
//  - RunAsyncClosedLoop / RunAsyncOpenLoop: completion-driven sends on a
//    LoopExecutor (the loaded phases: HttpClient's few I/O threads drive any
//    number of connections).
// Both are generic over `send`, so unit tests drive them with a FakeClock and
// fake sends. Samples are kept per worker / per connection (no lock on the
// hot path) and merged at the end.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/measurement.h"
#include "common/clock.h"

namespace clipserve::bench {

struct SendOutcome {
  FailureKind failure = FailureKind::kNone;
  int http_status = 0;
  std::string detail;
  // When the response was complete, if the send went on to validate it:
  // latency stops here, so client-side parsing is not charged to the server.
  std::optional<SteadyTime> response_time;
};

// send(worker_index, request_index): performs one request, blocking.
using SendFn = std::function<SendOutcome(int worker, std::int64_t request)>;

// A phase stops early after this many connection failures in a row (the
// server is gone); the requests it did not send are reported as not sent.
inline constexpr int kAbortAfterConsecutiveConnectionFailures = 50;

// Shared counter the progress line reads.
struct Progress {
  std::atomic<std::int64_t> done{0};
  std::atomic<std::int64_t> total{0};
};

// Closed loop over `total` requests with `workers` threads (1 = sequential
// on the calling thread). Fills latencies_ms, errors, attempted, wall_time_s.
// With a `deadline`, no request starts after it (duration-bounded runs).
void RunClosedLoop(int workers, std::int64_t total, const Clock& clock, const SendFn& send,
                   PhaseMeasurement& out, Progress* progress = nullptr,
                   std::optional<SteadyTime> deadline = std::nullopt);

enum class Arrival { kConstant, kPoisson };
const char* ArrivalName(Arrival a);

// Send offsets from the start of the phase: constant spacing 1/rate, or
// exponential inter-arrival times (a Poisson process) from a seeded engine.
// Covers [0, duration).
std::vector<Nanoseconds> MakeArrivalOffsets(double rate_per_s, double duration_s, Arrival arrival,
                                            std::uint64_t seed);

// ---- Asynchronous drivers ----

// The end of one asynchronous send; call it exactly once.
using SendDone = std::function<void(SendOutcome)>;
// send(connection, request_index, done): starts one request on `connection`
// (0 <= connection < the loop's connection count; the loop never has two of
// its requests in flight on one connection). `done` must not run inline.
using AsyncSendFn = std::function<void(int connection, std::int64_t request, SendDone done)>;

// Signalled once, by the loop's last completion.
class DoneLatch {
 public:
  void Signal();
  void Wait();
  bool done() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// Where the asynchronous loops run: HttpClient::executor() (its I/O
// threads) in the runner, a fake-time event queue in tests.
class LoopExecutor {
 public:
  virtual ~LoopExecutor() = default;
  virtual const Clock& clock() const = 0;
  // Calls `fn` on an executor thread at `t` (as soon as it can when t has
  // passed); never inline.
  virtual void RunAt(SteadyTime t, std::function<void()> fn) = 0;
  // Blocks the caller (not an executor thread) until `latch` is signalled.
  virtual void Wait(DoneLatch& latch) = 0;
};

// Closed loop over `total` requests: each of `connections` connections has
// one request outstanding and sends the next from the previous one's
// completion. Latency = response time - send time. Same results and stop
// rules as RunClosedLoop; `concurrency` = connections.
void RunAsyncClosedLoop(int connections, std::int64_t total, LoopExecutor& executor, const AsyncSendFn& send,
                        PhaseMeasurement& out, Progress* progress = nullptr,
                        std::optional<SteadyTime> deadline = std::nullopt);

// Open loop: request i is released at start + offsets[i] by an executor
// timer, on a free connection of the `connections` the caller opened (at
// most that many in flight); when none is free it waits for the first to
// free up and goes out late. latencies_ms = response time - scheduled time;
// service_ms = response time - actual send; sends more than
// `late_threshold` after their schedule count as late.
void RunAsyncOpenLoop(const std::vector<Nanoseconds>& offsets, int connections, Nanoseconds late_threshold,
                      LoopExecutor& executor, const AsyncSendFn& send, PhaseMeasurement& out,
                      Progress* progress = nullptr);

}  // namespace clipserve::bench
