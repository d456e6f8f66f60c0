// Load generation: closed loop (N workers, each sending its next request as
// soon as the previous answered) and open loop (requests released on a
// precomputed arrival schedule; latency counted from the *scheduled* send
// time, so a slow server cannot hide queueing — no coordinated omission).
//
// The loops are generic over a `send` callback so unit tests drive them with
// a FakeClock and fake sends; the runner passes HTTP sessions. Workers keep
// their own sample vectors (no lock on the hot path) merged at the end.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
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
// Blocks until `t` (returns at once when t is not in the future).
using SleepUntilFn = std::function<void(SteadyTime t)>;

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

// Open loop: request i is due at start + offsets[i]; up to `workers`
// requests are in flight. latencies_ms = response time - scheduled time.
// Sends more than `late_threshold` after their schedule count as late.
void RunOpenLoop(const std::vector<Nanoseconds>& offsets, int workers, Nanoseconds late_threshold,
                 const Clock& clock, const SleepUntilFn& sleep_until, const SendFn& send,
                 PhaseMeasurement& out, Progress* progress = nullptr);

// SleepUntil for the real steady clock.
void RealSleepUntil(SteadyTime t);

}  // namespace clipserve::bench
