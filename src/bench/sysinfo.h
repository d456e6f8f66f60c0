// The machine the run happened on: host CPU/OS, runner build, and the GPU
// as nvidia-smi reports it. A missing nvidia-smi is a fact to record
// ("unavailable"), not an error.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/measurement.h"
#include "common/status.h"

namespace clipserve::bench {

struct HostInfo {
  std::string cpu_model;
  std::string cpu_isa;    // CpuFeatures::Describe() of the runner's host, e.g. "avx2+fma"
  int logical_cores = 0;
  std::string os;         // "Linux 6.1.0 x86_64"
  std::string hostname;
};
HostInfo QueryHost();

// CPU time of the whole host, all CPUs, since boot (/proc/stat), seconds:
// busy = user + nice + system + irq + softirq + steal; total adds idle and
// iowait. nullopt where /proc/stat cannot be read.
struct HostCpuSample {
  double busy_s = 0;
  double total_s = 0;
};
std::optional<HostCpuSample> ReadHostCpu();
// utime + stime of a process and all its descendants (/proc/PID/stat),
// seconds: a server launched through `sh -c` is the shell's child. nullopt
// when the process is gone.
std::optional<double> ReadProcessTreeCpuSeconds(int pid);
// The pure parsers behind them (unit-tested).
std::optional<HostCpuSample> ParseProcStat(const std::string& text, double ticks_per_s);
struct ProcStat {
  int ppid = 0;
  double cpu_s = 0;  // utime + stime
};
std::optional<ProcStat> ParseProcPidStat(const std::string& text, double ticks_per_s);

std::string RunnerVersion();
std::string RunnerGitSha();  // empty when built outside git

// Runs `command` through /bin/sh, returns stdout (stderr discarded).
// Unavailable when it cannot run or exits non-zero.
StatusOr<std::string> RunCommand(const std::string& command);

// True when an executable named `name` is on PATH.
bool OnPath(const std::string& name);

struct GpuSpec {
  std::string name;
  double vram_total_mib = 0;
  std::string driver_version;
};
struct GpuSnapshot {
  std::string name;
  double utilization_pct = 0;
  double memory_used_mib = 0;
  double memory_total_mib = 0;
  std::optional<double> temperature_c;
  std::optional<double> power_w;
};

struct GpuSpecs {
  bool available = false;
  std::string reason;               // when unavailable
  std::vector<GpuSpec> gpus;
};
struct GpuState {
  bool available = false;
  std::string reason;
  std::vector<GpuSnapshot> gpus;
};

GpuSpecs QueryGpuSpecs();
GpuState QueryGpuState();

// Parsers for nvidia-smi's csv,noheader,nounits output (exposed for tests).
std::vector<GpuSpec> ParseGpuSpecsCsv(const std::string& csv);
std::vector<GpuSnapshot> ParseGpuStateCsv(const std::string& csv);

// Samples GPU utilization and memory every `interval_ms` on its own thread
// between Start() and Stop(). Averages over all GPUs per sample.
class GpuSampler {
 public:
  explicit GpuSampler(int interval_ms = 200) : interval_ms_(interval_ms) {}
  ~GpuSampler() { Stop(); }
  void Start();
  GpuUtilSummary Stop();

 private:
  int interval_ms_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::vector<std::pair<double, double>> samples_;  // (util %, mem MiB)
  std::string reason_;
  GpuUtilSummary result_;
  bool stopped_ = true;
};

}  // namespace clipserve::bench
