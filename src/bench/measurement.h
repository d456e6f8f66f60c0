// What a phase measured, before any aggregation: raw latency samples of the
// successful requests, failures tallied by kind, wall time and the runner's
// own CPU time. The reporters turn this into statistics and JSON.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/prometheus.h"
#include "bench/request.h"

namespace clipserve::bench {

struct ErrorTally {
  std::map<std::string, std::int64_t> by_key;  // "http_503", "timeout", "connection", "bad_response"
  std::int64_t total = 0;
  std::string first_detail;                    // the first failure's message, for humans

  void Add(FailureKind kind, int http_status, const std::string& detail);
  void Merge(const ErrorTally& other);
};

// Process CPU time (all threads) from getrusage(RUSAGE_SELF).
struct CpuTimes {
  double user_s = 0;
  double system_s = 0;
  static CpuTimes Now();
  double total() const { return user_s + system_s; }
};

struct OpenLoopInfo {
  double request_rate_per_s = 0;
  double duration_s = 0;
  std::string arrival;                  // "poisson" | "constant"
  std::int64_t scheduled = 0;
  std::int64_t late_sends = 0;          // sent more than late_threshold after schedule
  double late_threshold_ms = 0;
  std::vector<double> send_lag_ms;      // actual send - scheduled, every request
  std::vector<double> service_ms;       // actual send -> response, successes
  double achieved_rps = 0;
};

struct GpuUtilSummary {
  bool available = false;
  std::string reason;                   // why unavailable
  int samples = 0;
  double util_mean_pct = 0, util_max_pct = 0;
  double mem_used_mean_mib = 0, mem_used_max_mib = 0;
  double interval_ms = 200;
};

// The machine around one phase, for its validity check: the host's CPU
// time over the phase's window and, when the runner launched the server,
// the server's (with a server found running, its CPU is in "other").
struct HostWindow {
  double wall_s = 0;
  double host_busy_s = 0;               // all CPUs
  double host_total_s = 0;              // all CPUs, busy + idle
  double runner_cpu_s = 0;              // this process, same window
  std::optional<double> server_cpu_s;
};

struct PhaseMeasurement {
  std::string name;                     // "single", "batch_8", "concurrent", "open_loop"
  int images_per_request = 1;
  std::vector<double> latencies_ms;     // successes only, in completion order
  ErrorTally errors;
  std::int64_t attempted = 0;           // requests actually sent
  std::int64_t planned = 0;             // requests the phase meant to send
  bool aborted = false;                 // stopped early: the server stopped answering
  double wall_time_s = 0;
  CpuTimes client_cpu;                  // runner CPU consumed during the phase
  int concurrency = 1;
  // Loaded phases: TCP connections the client opened while timed (beyond the
  // `concurrency` it opened before): a server that closes keep-alive
  // connections, or failures. 0 when every connection was kept.
  std::int64_t connections_opened = 0;
  int warmup = 0;
  std::optional<OpenLoopInfo> open_loop;
  std::optional<ServerDelta> server_delta;
  std::string server_delta_source;      // "stats" | "metrics" | "" (none)
  std::optional<GpuUtilSummary> gpu_util;
  std::optional<HostWindow> host;       // nullopt where /proc is not readable
  std::string error;                    // phase-level failure; empty when it ran
};

}  // namespace clipserve::bench
