// The measuring half of benchmark_backends: for one backend, launch (or
// find) the server, build every payload, then run the phases — cold start,
// single, batch_N, concurrent, open loop — scraping server counters around
// each. Failures are recorded in the result, never thrown: a run that loses
// its server still returns everything it measured.
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bench/config.h"
#include "bench/measurement.h"
#include "bench/protocol.h"
#include "bench/sysinfo.h"

namespace clipserve::bench {

struct ColdStart {
  bool warm_server = true;                  // no --server-cmd: the server was already up
  std::optional<double> exec_to_live_ms;    // launched servers only
  std::optional<double> exec_to_ready_ms;
  std::optional<double> first_request_ms;   // fresh connection, first embed request
  std::string error;
};

struct ProbeResult {
  std::vector<std::string> ids;             // content hashes of the probe images
  std::vector<std::vector<float>> embeddings;
  std::string error;
};

struct BackendRun {
  std::string backend;                      // "pytorch" | "triton"
  std::string url;
  std::string protocol;                     // Protocol::Describe()
  std::string transport;                    // "http" | "grpc"
  std::string model;                        // v2 model name, "" for REST
  ColdStart cold_start;
  std::vector<PhaseMeasurement> phases;
  std::optional<TritonModelCounters> server_metrics;  // cumulative, end of run (metrics URL)
  std::string server_metrics_error;
  std::map<std::string, std::string> server_info;     // metadata path -> raw JSON body
  ProbeResult probes;
  std::vector<std::string> failures;        // "phase: message"
  CpuTimes client_cpu_total;                // all phases
  std::int64_t requests_total = 0;          // every request sent in timed phases
  std::string server_exit;                  // launched server: how it ended
};

struct RunInputs {
  std::vector<InputImage> images;           // the pool requests cycle through
  std::vector<InputImage> probes;           // parity probes (fixed set)
};

// Everything the JSON reporter needs.
struct RunResult {
  BenchConfig config;
  std::string timestamp;                    // ISO 8601 local time, like the original
  HostInfo host;
  GpuSpecs gpu_specs;
  GpuState gpu_before, gpu_after;
  std::vector<BackendRun> backends;
  std::string inputs_description;
  std::string image_source;                 // "synthetic" | directory
};

// Runs all phases for `backend` ("pytorch" | "triton"). `log` receives
// one-line notes about phases and failures (the app passes stdout).
BackendRun RunBackend(const BenchConfig& config, const std::string& backend, const RunInputs& inputs,
                      std::ostream& log);

std::string IsoTimestampNow();

}  // namespace clipserve::bench
