// A latch for tests that hold work in flight: Pass() counts the caller in
// `entered` and blocks until Release(). The destructor releases, so a failed
// assertion never leaves a server or engine thread blocked forever.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "common/status.h"

namespace clipserve::testing {

struct Gate {
  std::atomic<int> entered{0};
  std::promise<void> release;
  std::shared_future<void> released{release.get_future().share()};

  ~Gate() { Release(); }
  void Pass() {
    entered.fetch_add(1);
    released.wait();
  }
  void Release() {
    try {
      release.set_value();
    } catch (const std::future_error&) {  // already released
    }
  }
  // Waits (bounded, 10 s, no sleeps) until `n` callers have passed in.
  bool WaitEntered(int n) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (entered.load() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  // Holds a FakeEngine (anything with set_hook(int -> Status)) inside Embed.
  template <typename Engine>
  void Install(Engine* e) {
    e->set_hook([this](int) {
      Pass();
      return Status::Ok();
    });
  }
};

}  // namespace clipserve::testing
