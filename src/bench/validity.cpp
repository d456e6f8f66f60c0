#include "bench/validity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/statistics.h"

namespace clipserve::bench {

namespace {

std::string Fmt(double v, int prec) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return PercentileLinear(v, 50.0);
}

}  // namespace

PhaseValidity AssessPhase(const PhaseMeasurement& m, int logical_cores, int client_threads,
                          const ValidityThresholds& t) {
  PhaseValidity v;
  const bool loaded = m.name == "concurrent" || m.name == "open_loop";
  if (m.host && m.host->wall_s > 0) {
    const HostWindow& h = *m.host;
    v.host_busy_cores = h.host_busy_s / h.wall_s;
    v.runner_cores = h.runner_cpu_s / h.wall_s;
    double other = h.host_busy_s - h.runner_cpu_s;
    if (h.server_cpu_s) {
      v.server_cores = *h.server_cpu_s / h.wall_s;
      other -= *h.server_cpu_s;
    } else {
      v.other_includes_server = true;
    }
    // /proc/stat ticks and getrusage differ in resolution: never below 0.
    v.other_cores = std::max(0.0, other / h.wall_s);
    if (logical_cores > 0) v.other_share = *v.other_cores / logical_cores;
    // Only where it can be told apart: with the server's CPU inside "other",
    // a busy server would read as a busy machine.
    if (v.other_share && !v.other_includes_server && *v.other_share > t.other_cpu_share) {
      v.warnings.push_back("other processes used " + Fmt(*v.other_cores, 2) + " of " + std::to_string(logical_cores) +
                           " cores (" + Fmt(100 * *v.other_share, 0) + "%) during " + m.name +
                           ": the machine was not quiet");
    }
    if (loaded && client_threads > 0 && *v.runner_cores > t.runner_core_share * client_threads) {
      v.warnings.push_back("the runner used " + Fmt(*v.runner_cores, 2) + " cores with " +
                           std::to_string(client_threads) + " client thread(s) during " + m.name +
                           ": it may have been the bottleneck (--client-threads)");
    }
  }
  if (m.open_loop && m.open_loop->scheduled > 0) {
    v.late_share = static_cast<double>(m.open_loop->late_sends) / static_cast<double>(m.open_loop->scheduled);
    if (*v.late_share > t.late_share) {
      v.warnings.push_back(Fmt(100 * *v.late_share, 1) + "% of open-loop sends left more than " +
                           Fmt(m.open_loop->late_threshold_ms, 1) + " ms late: the offered rate was not the one planned");
    }
  }
  const auto ok = static_cast<double>(m.latencies_ms.size());
  if (m.name == "concurrent" && ok > 0 && m.wall_time_s > 0 && m.concurrency > 0) {
    double sum = 0;
    for (double x : m.latencies_ms) sum += x;
    const double mean_s = sum / ok / 1000.0;
    if (mean_s > 0) {
      v.littles_law_ratio = (ok / m.wall_time_s) / (m.concurrency / mean_s);
      if (std::fabs(*v.littles_law_ratio - 1.0) > t.littles_law_tolerance) {
        v.warnings.push_back("Little's law does not hold in " + m.name + " (measured rate / concurrency-over-latency = " +
                             Fmt(*v.littles_law_ratio, 2) + "): time passed outside the measured requests");
      }
    }
  }
  if (m.latencies_ms.size() >= 60) {  // 20 a window: fewer make the median itself noise
    const std::size_t n = m.latencies_ms.size();
    for (int w = 0; w < 3; ++w) {
      std::vector<double> part(m.latencies_ms.begin() + static_cast<std::ptrdiff_t>(n * w / 3),
                               m.latencies_ms.begin() + static_cast<std::ptrdiff_t>(n * (w + 1) / 3));
      v.window_p50_ms.push_back(Median(std::move(part)));
    }
    const auto [lo, hi] = std::minmax_element(v.window_p50_ms.begin(), v.window_p50_ms.end());
    const double mid = Median(v.window_p50_ms);
    if (mid > 0) {
      v.p50_drift = (*hi - *lo) / mid;
      if (*v.p50_drift > t.p50_drift) {
        v.warnings.push_back("the median latency drifted " + Fmt(100 * *v.p50_drift, 0) + "% across " + m.name +
                             " (window p50s " + Fmt(v.window_p50_ms[0], 2) + ", " + Fmt(v.window_p50_ms[1], 2) + ", " +
                             Fmt(v.window_p50_ms[2], 2) + " ms): not a steady state");
      }
    }
  }
  if (m.server_delta && m.server_delta->requests) {
    const double counted = *m.server_delta->requests + m.server_delta->failures.value_or(0.0);
    const auto extra = static_cast<std::int64_t>(std::llround(counted)) - m.attempted;
    if (extra > 0) {
      v.unsent_server_requests = extra;
      v.warnings.push_back("the server counted " + std::to_string(extra) + " more requests than the runner sent during " +
                           m.name + ": another client, or a warm-up, shared the server");
    }
  }
  return v;
}

}  // namespace clipserve::bench
