#include "bench/interrupt.h"

#include <signal.h>

#include <atomic>
#include <mutex>

namespace clipserve::bench {
namespace {

constexpr int kMaxLaunched = 16;
std::atomic<pid_t> g_launched[kMaxLaunched];
std::atomic<int> g_signals{0};

extern "C" void OnInterrupt(int sig) {
  if (g_signals.fetch_add(1) == 0) return;  // first: the run winds down on its own
  for (auto& slot : g_launched) {
    const pid_t pg = slot.load();
    if (pg > 0) kill(-pg, SIGTERM);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void InstallInterruptHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  });
}

bool Interrupted() { return g_signals.load(std::memory_order_relaxed) > 0; }

void RegisterLaunchedGroup(pid_t pgid) {
  for (auto& slot : g_launched) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pgid)) return;
  }
}

void UnregisterLaunchedGroup(pid_t pgid) {
  for (auto& slot : g_launched) {
    pid_t expected = pgid;
    slot.compare_exchange_strong(expected, 0);
  }
}

}  // namespace clipserve::bench
