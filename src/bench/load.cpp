#include "bench/load.h"

#include "bench/interrupt.h"

#include <sys/resource.h>

#include <algorithm>
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

void RealSleepUntil(SteadyTime t) { std::this_thread::sleep_until(t); }

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

void RunOpenLoop(const std::vector<Nanoseconds>& offsets, int workers, Nanoseconds late_threshold,
                 const Clock& clock, const SleepUntilFn& sleep_until, const SendFn& send,
                 PhaseMeasurement& out, Progress* progress) {
  if (!out.open_loop) out.open_loop.emplace();
  out.open_loop->scheduled = static_cast<std::int64_t>(offsets.size());
  out.open_loop->late_threshold_ms = Ms(late_threshold);
  const auto total = static_cast<std::int64_t>(offsets.size());
  if (progress) progress->total = total;
  std::atomic<std::int64_t> next{0};
  AbortTracker abort;
  const auto cpu0 = CpuTimes::Now();
  const SteadyTime start = clock.Now();
  auto results = RunWorkers(workers, [&](int w, WorkerResult& r) {
    for (std::int64_t i = next.fetch_add(1); i < total && !abort.aborted(); i = next.fetch_add(1)) {
      ++r.attempted;
      const SteadyTime due = start + offsets[static_cast<std::size_t>(i)];
      if (clock.Now() < due) sleep_until(due);
      const SteadyTime sent = clock.Now();
      const Nanoseconds lag = std::max(Nanoseconds(0), std::chrono::duration_cast<Nanoseconds>(sent - due));
      r.send_lag_ms.push_back(Ms(lag));
      if (lag > late_threshold) ++r.late;
      SendOutcome o = send(w, i);
      const SteadyTime done = o.response_time.value_or(clock.Now());
      abort.Record(o.failure);
      if (o.failure == FailureKind::kNone) {
        r.latencies_ms.push_back(Ms(done - due));  // from the schedule, not from the send
        r.service_ms.push_back(Ms(done - sent));
      } else {
        r.errors.Add(o.failure, o.http_status, o.detail);
      }
      if (progress) progress->done.fetch_add(1, std::memory_order_relaxed);
    }
  });
  Finish(results, clock, start, cpu0, total, abort.aborted(), workers, out);
  const auto ok = static_cast<double>(out.latencies_ms.size());
  out.open_loop->achieved_rps = out.wall_time_s > 0 ? ok / out.wall_time_s : 0;
}

}  // namespace clipserve::bench
