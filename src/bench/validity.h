// Is this phase's measurement trustworthy? (issue 12, item 4) A pure check
// of what one phase recorded: CPU taken by other processes on the host, the
// runner's own saturation, late sends in the open loop, Little's law for
// the closed loop, drift of the median across the phase, and server-side
// work the runner did not send. Each finding is a sentence; the numbers go
// to the JSON as they are.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench/measurement.h"

namespace clipserve::bench {

struct ValidityThresholds {
  double other_cpu_share = 0.10;     // of the host's cores
  double runner_core_share = 0.80;   // of one client thread's core
  double late_share = 0.01;          // open loop
  double littles_law_tolerance = 0.20;
  double p50_drift = 0.25;           // (max - min) / median of the window p50s
};

struct PhaseValidity {
  std::optional<double> host_busy_cores;   // average cores busy on the host
  std::optional<double> runner_cores;      // this process
  std::optional<double> server_cores;      // only for a server the runner launched
  std::optional<double> other_cores;       // host - runner (- server when known)
  bool other_includes_server = false;      // the server was not launched by the runner
  std::optional<double> other_share;       // other_cores / logical cores
  std::optional<double> late_share;        // open loop: late sends / scheduled
  std::optional<double> littles_law_ratio; // closed loop: measured rps / (concurrency / mean latency)
  std::vector<double> window_p50_ms;       // three windows in completion order
  std::optional<double> p50_drift;
  std::optional<std::int64_t> unsent_server_requests;  // server requests - runner's, when > 0
  std::vector<std::string> warnings;
};

PhaseValidity AssessPhase(const PhaseMeasurement& m, int logical_cores, int client_threads,
                          const ValidityThresholds& t = {});

}  // namespace clipserve::bench
