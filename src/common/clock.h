// Injected clocks: code that decides on time (the batcher, the open-loop
// scheduler) takes a Clock so tests can drive time without sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace clipserve {

using SteadyTime = std::chrono::steady_clock::time_point;
using Microseconds = std::chrono::microseconds;
using Nanoseconds = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime Now() const = 0;
};

class RealClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  static const RealClock& Instance() {
    static const RealClock clock;
    return clock;
  }
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SteadyTime start = SteadyTime{}) : now_ns_(start.time_since_epoch().count()) {}
  SteadyTime Now() const override {
    return SteadyTime(SteadyTime::duration(now_ns_.load(std::memory_order_acquire)));
  }
  void Advance(Nanoseconds d) { now_ns_.fetch_add(std::chrono::duration_cast<SteadyTime::duration>(d).count()); }
  void Set(SteadyTime t) { now_ns_.store(t.time_since_epoch().count()); }

 private:
  std::atomic<SteadyTime::duration::rep> now_ns_;
};

// Microseconds between two time points, as an integer.
inline long long ElapsedUs(SteadyTime from, SteadyTime to) {
  return std::chrono::duration_cast<Microseconds>(to - from).count();
}

}  // namespace clipserve
