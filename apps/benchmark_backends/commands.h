// Subcommand entry points of benchmark_backends (thin: parse, call src/bench, print).
#pragma once

#include <string>
#include <vector>

#include "bench/config.h"

namespace clipserve::bench::app {

// The benchmark itself. Returns the process exit code: 0 all phases ran,
// 2 the run recorded failures (the JSON is still written), 1 bad usage.
int RunBenchmarkCommand(BenchConfig config);

int CompareCommand(const std::vector<std::string>& files);
int ValidateCommand(const std::vector<std::string>& files);
int ReportCommand(const std::vector<std::string>& files, const std::string& html_path);

struct LoopbackOptions {
  int connections = 1;        // closed loop (and wrk); 0 skips both
  double duration_s = 5;
  std::string server_cpus;    // pin the trivial server to these CPUs ("1", "1-7"; empty: leave)
  int server_threads = 1;
  int server_delay_ms = 0;    // every answer waits this long (for many requests in flight)
  int client_threads = 1;     // the runner's I/O threads (and wrk -t)
  bool run_wrk = true;
  double serve_seconds = 0;   // > 0: only serve the trivial endpoint this long (no measurement)
  std::string request_path = "/embed";
  bool get = false;           // GET request_path instead of a 20-byte JSON POST
  double rate = 0;            // > 0: then an open loop at this rate (requests/s, Poisson)
  int in_flight = 1000;       // open-loop connections, opened before timing
  std::string url;            // measure this server instead of starting the trivial one
};
// Measures the runner's own ceiling against a trivial loopback server and,
// when wrk is installed, wrk against the same server in the same run; with
// a rate, the open loop holding it.
int LoopbackCommand(const LoopbackOptions& options);

}  // namespace clipserve::bench::app
