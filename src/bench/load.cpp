#include "bench/load.h"

#include "bench/interrupt.h"

#include <sys/resource.h>

#include <algorithm>
#include <deque>
#include <thread>

namespace clipserve::bench {

void ErrorTally::Add(FailureKind kind, int http_status, const std::string& detail) {
  ++by_key[FailureKey(kind, http_status)];
  ++total;
  if (first_detail.empty()) first_detail = detail.empty() ? FailureKey(kind, http_status) : detail;
}

void ErrorTally::Merge(const ErrorTally& other) {
  for (const auto& [k, v] : other.by_key) by_key[k] += v;
  total += other.total;
  if (first_detail.empty()) first_detail = other.first_detail;
}

CpuTimes CpuTimes::Now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  CpuTimes t;
  t.user_s = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec * 1e-6;
  t.system_s = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec * 1e-6;
  return t;
}

const char* ArrivalName(Arrival a) { return a == Arrival::kPoisson ? "poisson" : "constant"; }

void DoneLatch::Signal() {
  // Notified under the lock: the waiter may destroy the latch as soon as it
  // sees done_.
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

void DoneLatch::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
}

bool DoneLatch::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

namespace {

struct WorkerResult {
  std::vector<double> latencies_ms;
  std::vector<double> send_lag_ms;
  std::vector<double> service_ms;
  std::int64_t late = 0;
  std::int64_t attempted = 0;
  ErrorTally errors;
};

double Ms(Nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <typename Body>
std::vector<WorkerResult> RunWorkers(int workers, Body body) {
  workers = std::max(workers, 1);
  std::vector<WorkerResult> results(static_cast<std::size_t>(workers));
  if (workers == 1) {
    body(0, results[0]);
    return results;
  }
  std::vector<std::thread> threads;
  threads.reserve(results.size());
  for (int w = 0; w < workers; ++w) threads.emplace_back([&, w] { body(w, results[static_cast<std::size_t>(w)]); });
  for (auto& t : threads) t.join();
  return results;
}

void Merge(std::vector<WorkerResult>& results, PhaseMeasurement& out) {
  for (auto& r : results) {
    out.latencies_ms.insert(out.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    out.errors.Merge(r.errors);
    if (out.open_loop) {
      out.open_loop->send_lag_ms.insert(out.open_loop->send_lag_ms.end(), r.send_lag_ms.begin(), r.send_lag_ms.end());
      out.open_loop->service_ms.insert(out.open_loop->service_ms.end(), r.service_ms.begin(), r.service_ms.end());
      out.open_loop->late_sends += r.late;
    }
  }
}

// The bookkeeping every load loop ends with: wall and client CPU time since
// the start, attempts, the abort flag, and the workers' samples merged.
// `planned` < 0 means "as many as were attempted" (a deadline ended the loop).
void Finish(std::vector<WorkerResult>& results, const Clock& clock, SteadyTime start, const CpuTimes& cpu0,
            std::int64_t planned, bool aborted, int workers, PhaseMeasurement& out) {
  out.wall_time_s = std::chrono::duration<double>(clock.Now() - start).count();
  const auto cpu1 = CpuTimes::Now();
  out.client_cpu = {cpu1.user_s - cpu0.user_s, cpu1.system_s - cpu0.system_s};
  out.attempted = 0;
  for (const auto& r : results) out.attempted += r.attempted;
  out.planned = planned < 0 ? out.attempted : planned;
  out.aborted = aborted;
  out.concurrency = std::max(workers, 1);
  Merge(results, out);
}

// Consecutive connection failures across all workers; any success resets it.
class AbortTracker {
 public:
  void Record(FailureKind kind) {
    if (kind == FailureKind::kConnection) {
      if (++consecutive_ >= kAbortAfterConsecutiveConnectionFailures) aborted_ = true;
    } else {
      consecutive_ = 0;
    }
  }
  bool aborted() const { return aborted_.load(std::memory_order_relaxed) || Interrupted(); }

 private:
  std::atomic<int> consecutive_{0};
  std::atomic<bool> aborted_{false};
};

}  // namespace

void RunClosedLoop(int workers, std::int64_t total, const Clock& clock, const SendFn& send,
                   PhaseMeasurement& out, Progress* progress, std::optional<SteadyTime> deadline) {
  std::atomic<std::int64_t> next{0};
  AbortTracker abort;
  if (progress) progress->total = total;
  const auto cpu0 = CpuTimes::Now();
  const SteadyTime start = clock.Now();
  auto results = RunWorkers(workers, [&](int w, WorkerResult& r) {
    r.latencies_ms.reserve(static_cast<std::size_t>(std::min<std::int64_t>(total / std::max(workers, 1) + 1, 1 << 20)));
    for (std::int64_t i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
      const SteadyTime t0 = clock.Now();
      if ((deadline && t0 >= *deadline) || abort.aborted()) break;
      ++r.attempted;
      SendOutcome o = send(w, i);
      const SteadyTime t1 = o.response_time.value_or(clock.Now());
      abort.Record(o.failure);
      if (o.failure == FailureKind::kNone) {
        r.latencies_ms.push_back(Ms(t1 - t0));
      } else {
        r.errors.Add(o.failure, o.http_status, o.detail);
      }
      if (progress) progress->done.fetch_add(1, std::memory_order_relaxed);
    }
  });
  Finish(results, clock, start, cpu0, deadline ? -1 : total, abort.aborted(), workers, out);
}

std::vector<Nanoseconds> MakeArrivalOffsets(double rate_per_s, double duration_s, Arrival arrival,
                                            std::uint64_t seed) {
  std::vector<Nanoseconds> out;
  if (rate_per_s <= 0 || duration_s <= 0) return out;
  const double end_ns = duration_s * 1e9;
  if (arrival == Arrival::kConstant) {
    const double gap_ns = 1e9 / rate_per_s;
    for (std::int64_t i = 0;; ++i) {
      const double t = static_cast<double>(i) * gap_ns;  // multiply, not accumulate: no drift
      if (t >= end_ns) break;
      out.emplace_back(static_cast<std::int64_t>(t));
    }
    return out;
  }
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate_per_s);
  double t_ns = 0;
  while (true) {
    t_ns += gap(rng) * 1e9;
    if (t_ns >= end_ns) break;
    out.emplace_back(static_cast<std::int64_t>(t_ns));
  }
  return out;
}

namespace {

// Per-connection state of the asynchronous loops. A connection's fields are
// touched by one request at a time (its send, then its completion), and the
// next request on it happens after that completion: no lock needed.
struct alignas(64) ConnectionSlot {
  WorkerResult result;
  SteadyTime sent{};
  SteadyTime due{};
};

class AsyncClosedLoop {
 public:
  AsyncClosedLoop(int connections, std::int64_t total, LoopExecutor& executor, const AsyncSendFn& send,
                  Progress* progress, std::optional<SteadyTime> deadline)
      : slots_(static_cast<std::size_t>(connections)), total_(total), clock_(executor.clock()), executor_(executor),
        send_(send), progress_(progress), deadline_(deadline), active_(connections) {}

  void Run(PhaseMeasurement& out) {
    if (progress_) progress_->total = total_;
    const auto cpu0 = CpuTimes::Now();
    const SteadyTime start = clock_.Now();
    const int n = static_cast<int>(slots_.size());
    for (auto& s : slots_) {
      s.result.latencies_ms.reserve(static_cast<std::size_t>(std::min<std::int64_t>(total_ / n + 1, 1 << 20)));
    }
    for (int c = 0; c < n; ++c) StartNext(c);
    executor_.Wait(latch_);
    std::vector<WorkerResult> results;
    results.reserve(slots_.size());
    for (auto& s : slots_) results.push_back(std::move(s.result));
    Finish(results, clock_, start, cpu0, deadline_ ? -1 : total_, abort_.aborted(), n, out);
  }

 private:
  void StartNext(int c) {
    ConnectionSlot& s = slots_[static_cast<std::size_t>(c)];
    const std::int64_t i = next_.fetch_add(1);
    const SteadyTime t0 = clock_.Now();
    if (i >= total_ || (deadline_ && t0 >= *deadline_) || abort_.aborted()) {
      if (active_.fetch_sub(1) == 1) latch_.Signal();
      return;
    }
    ++s.result.attempted;
    s.sent = t0;
    send_(c, i, [this, c](SendOutcome o) { OnDone(c, std::move(o)); });
  }

  void OnDone(int c, SendOutcome o) {
    ConnectionSlot& s = slots_[static_cast<std::size_t>(c)];
    const SteadyTime t1 = o.response_time.value_or(clock_.Now());
    abort_.Record(o.failure);
    if (o.failure == FailureKind::kNone) {
      s.result.latencies_ms.push_back(Ms(t1 - s.sent));
    } else {
      s.result.errors.Add(o.failure, o.http_status, o.detail);
    }
    if (progress_) progress_->done.fetch_add(1, std::memory_order_relaxed);
    StartNext(c);
  }

  std::vector<ConnectionSlot> slots_;
  const std::int64_t total_;
  const Clock& clock_;
  LoopExecutor& executor_;
  const AsyncSendFn& send_;
  Progress* progress_;
  const std::optional<SteadyTime> deadline_;
  std::atomic<std::int64_t> next_{0};
  std::atomic<int> active_;  // connections still sending
  AbortTracker abort_;
  DoneLatch latch_;
};

class AsyncOpenLoop {
 public:
  AsyncOpenLoop(const std::vector<Nanoseconds>& offsets, int connections, Nanoseconds late_threshold,
                LoopExecutor& executor, const AsyncSendFn& send, Progress* progress)
      : offsets_(offsets), total_(static_cast<std::int64_t>(offsets.size())),
        slots_(static_cast<std::size_t>(connections)), late_threshold_(late_threshold), clock_(executor.clock()),
        executor_(executor), send_(send), progress_(progress), remaining_(total_) {
    for (int c = connections - 1; c >= 0; --c) free_.push_back(c);
  }

  void Run(PhaseMeasurement& out) {
    if (progress_) progress_->total = total_;
    const auto cpu0 = CpuTimes::Now();
    start_ = clock_.Now();
    if (total_ == 0) latch_.Signal();
    else executor_.RunAt(start_ + offsets_[0], [this] { Release(); });
    executor_.Wait(latch_);
    std::vector<WorkerResult> results;
    results.reserve(slots_.size());
    for (auto& s : slots_) results.push_back(std::move(s.result));
    Finish(results, clock_, start_, cpu0, total_, abort_.aborted(), static_cast<int>(slots_.size()), out);
  }

 private:
  SteadyTime Due(std::int64_t i) const { return start_ + offsets_[static_cast<std::size_t>(i)]; }

  // The release chain: one timer at a time, each releasing every request
  // now due and arming the next.
  void Release() {
    if (abort_.aborted()) {
      bool finished = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        remaining_ -= (total_ - next_release_) + static_cast<std::int64_t>(waiting_.size());
        next_release_ = total_;
        waiting_.clear();
        finished = remaining_ == 0;
      }
      if (finished) latch_.Signal();
      return;
    }
    const SteadyTime now = clock_.Now();
    while (next_release_ < total_ && Due(next_release_) <= now) Dispatch(next_release_++);
    if (next_release_ < total_) executor_.RunAt(Due(next_release_), [this] { Release(); });
  }

  void Dispatch(std::int64_t i) {
    int c = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_.empty()) {
        waiting_.push_back(i);  // every connection busy: goes out late
      } else {
        c = free_.back();
        free_.pop_back();
      }
    }
    if (c >= 0) Launch(c, i);
  }

  void Launch(int c, std::int64_t i) {
    ConnectionSlot& s = slots_[static_cast<std::size_t>(c)];
    s.due = Due(i);
    s.sent = clock_.Now();
    const Nanoseconds lag = std::max(Nanoseconds(0), std::chrono::duration_cast<Nanoseconds>(s.sent - s.due));
    s.result.send_lag_ms.push_back(Ms(lag));
    if (lag > late_threshold_) ++s.result.late;
    ++s.result.attempted;
    send_(c, i, [this, c](SendOutcome o) { OnDone(c, std::move(o)); });
  }

  void OnDone(int c, SendOutcome o) {
    ConnectionSlot& s = slots_[static_cast<std::size_t>(c)];
    const SteadyTime done = o.response_time.value_or(clock_.Now());
    abort_.Record(o.failure);
    if (o.failure == FailureKind::kNone) {
      s.result.latencies_ms.push_back(Ms(done - s.due));  // from the schedule, not from the send
      s.result.service_ms.push_back(Ms(done - s.sent));
    } else {
      s.result.errors.Add(o.failure, o.http_status, o.detail);
    }
    if (progress_) progress_->done.fetch_add(1, std::memory_order_relaxed);
    std::int64_t next = -1;
    bool finished = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --remaining_;
      if (abort_.aborted()) {
        remaining_ -= static_cast<std::int64_t>(waiting_.size());
        waiting_.clear();
      }
      if (waiting_.empty()) {
        free_.push_back(c);
      } else {
        next = waiting_.front();
        waiting_.pop_front();
      }
      finished = remaining_ == 0;
    }
    if (next >= 0) Launch(c, next);
    if (finished) latch_.Signal();
  }

  const std::vector<Nanoseconds>& offsets_;
  const std::int64_t total_;
  std::vector<ConnectionSlot> slots_;
  const Nanoseconds late_threshold_;
  const Clock& clock_;
  LoopExecutor& executor_;
  const AsyncSendFn& send_;
  Progress* progress_;
  SteadyTime start_{};
  std::int64_t next_release_ = 0;  // touched by the release chain only (one timer at a time)
  AbortTracker abort_;
  DoneLatch latch_;
  std::mutex mu_;                  // guards the three below
  std::vector<int> free_;          // idle connections
  std::deque<std::int64_t> waiting_;  // due, no free connection yet
  std::int64_t remaining_;         // neither finished nor dropped
};

}  // namespace

void RunAsyncClosedLoop(int connections, std::int64_t total, LoopExecutor& executor, const AsyncSendFn& send,
                        PhaseMeasurement& out, Progress* progress, std::optional<SteadyTime> deadline) {
  AsyncClosedLoop(std::max(connections, 1), total, executor, send, progress, deadline).Run(out);
}

void RunAsyncOpenLoop(const std::vector<Nanoseconds>& offsets, int connections, Nanoseconds late_threshold,
                      LoopExecutor& executor, const AsyncSendFn& send, PhaseMeasurement& out, Progress* progress) {
  if (!out.open_loop) out.open_loop.emplace();
  out.open_loop->scheduled = static_cast<std::int64_t>(offsets.size());
  out.open_loop->late_threshold_ms = Ms(late_threshold);
  AsyncOpenLoop(offsets, std::max(connections, 1), late_threshold, executor, send, progress).Run(out);
  const auto ok = static_cast<double>(out.latencies_ms.size());
  out.open_loop->achieved_rps = out.wall_time_s > 0 ? ok / out.wall_time_s : 0;
}

}  // namespace clipserve::bench
