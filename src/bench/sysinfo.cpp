#include "bench/sysinfo.h"

#include "common/cpu_features.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/git_sha.h"  // generated at build time
#ifndef CLIPSERVE_VERSION
#define CLIPSERVE_VERSION "0.0.0"
#endif

namespace clipserve::bench {
namespace {

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) out.push_back(Trim(field));
  return out;
}

std::optional<double> ToDouble(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return std::nullopt;  // "[N/A]", "[Not Supported]"
  return v;
}

constexpr const char* kSpecQuery =
    "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits";
constexpr const char* kStateQuery =
    "nvidia-smi --query-gpu=name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw "
    "--format=csv,noheader,nounits";
constexpr const char* kSampleQuery =
    "nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits";

}  // namespace

std::optional<HostCpuSample> ParseProcStat(const std::string& text, double ticks_per_s) {
  std::istringstream in(text);
  std::string cpu;
  in >> cpu;
  if (cpu != "cpu" || ticks_per_s <= 0) return std::nullopt;
  double v[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // user nice system idle iowait irq softirq steal
  for (double& x : v) {
    if (!(in >> x)) return std::nullopt;
  }
  HostCpuSample h;
  h.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks_per_s;
  h.total_s = h.busy_s + (v[3] + v[4]) / ticks_per_s;
  return h;
}

std::optional<ProcStat> ParseProcPidStat(const std::string& text, double ticks_per_s) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // fields are counted from the last ')'. ppid is field 4, utime and stime
  // are fields 14 and 15.
  const auto close = text.rfind(')');
  if (close == std::string::npos || ticks_per_s <= 0) return std::nullopt;
  std::istringstream in(text.substr(close + 1));
  std::string field;
  ProcStat st;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    if (!(in >> field)) return std::nullopt;
    if (i == 4) st.ppid = std::atoi(field.c_str());
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  st.cpu_s = (utime + stime) / ticks_per_s;
  return st;
}

namespace {
std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

std::optional<HostCpuSample> ReadHostCpu() {
  auto text = ReadSmallFile("/proc/stat");
  if (!text) return std::nullopt;
  return ParseProcStat(*text, static_cast<double>(sysconf(_SC_CLK_TCK)));
}

std::optional<double> ReadProcessTreeCpuSeconds(int root) {
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::map<int, ProcStat> procs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    auto text = ReadSmallFile(e.path().string() + "/stat");
    if (!text) continue;  // exited meanwhile
    if (auto st = ParseProcPidStat(*text, hz)) procs[std::atoi(name.c_str())] = *st;
  }
  if (!procs.count(root)) return std::nullopt;
  std::map<int, std::vector<int>> children;
  for (const auto& [pid, st] : procs) children[st.ppid].push_back(pid);
  double total = 0;
  std::vector<int> todo = {root};
  while (!todo.empty()) {
    const int pid = todo.back();
    todo.pop_back();
    total += procs[pid].cpu_s;
    for (int c : children[pid]) todo.push_back(c);
  }
  return total;
}

HostInfo QueryHost() {
  HostInfo h;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      h.cpu_model = Trim(line.substr(line.find(':') + 1));
      break;
    }
  }
  h.cpu_isa = HostCpuFeatures().Describe();
  h.logical_cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  utsname u{};
  if (uname(&u) == 0) {
    h.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
    h.hostname = u.nodename;
  }
  std::ifstream osr("/etc/os-release");
  while (std::getline(osr, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
      h.os += " (" + v + ")";
    }
  }
  return h;
}

std::string RunnerVersion() { return CLIPSERVE_VERSION; }
std::string RunnerGitSha() { return CLIPSERVE_GIT_SHA; }

StatusOr<std::string> RunCommand(const std::string& command) {
  const std::string cmd = command + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return UnavailableError("cannot run: " + command);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int rc = pclose(pipe);
  if (rc != 0) return UnavailableError("'" + command + "' exited with status " + std::to_string(rc));
  return out;
}

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<GpuSpec> ParseGpuSpecsCsv(const std::string& csv) {
  std::vector<GpuSpec> out;
  std::stringstream ss(csv);
  std::string line;
  while (std::getline(ss, line)) {
    auto f = SplitCsv(line);
    if (f.size() < 3) continue;
    out.push_back({f[0], ToDouble(f[1]).value_or(0), f[2]});
  }
  return out;
}

std::vector<GpuSnapshot> ParseGpuStateCsv(const std::string& csv) {
  std::vector<GpuSnapshot> out;
  std::stringstream ss(csv);
  std::string line;
  while (std::getline(ss, line)) {
    auto f = SplitCsv(line);
    if (f.size() < 4) continue;
    GpuSnapshot g;
    g.name = f[0];
    g.utilization_pct = ToDouble(f[1]).value_or(0);
    g.memory_used_mib = ToDouble(f[2]).value_or(0);
    g.memory_total_mib = ToDouble(f[3]).value_or(0);
    if (f.size() > 4) g.temperature_c = ToDouble(f[4]);
    if (f.size() > 5) g.power_w = ToDouble(f[5]);
    out.push_back(g);
  }
  return out;
}

GpuSpecs QueryGpuSpecs() {
  GpuSpecs s;
  if (!OnPath("nvidia-smi")) {
    s.reason = "nvidia-smi not found on PATH";
    return s;
  }
  auto out = RunCommand(kSpecQuery);
  if (!out.ok()) {
    s.reason = out.status().message();
    return s;
  }
  s.gpus = ParseGpuSpecsCsv(*out);
  s.available = !s.gpus.empty();
  if (!s.available) s.reason = "nvidia-smi listed no GPU";
  return s;
}

GpuState QueryGpuState() {
  GpuState s;
  if (!OnPath("nvidia-smi")) {
    s.reason = "nvidia-smi not found on PATH";
    return s;
  }
  auto out = RunCommand(kStateQuery);
  if (!out.ok()) {
    s.reason = out.status().message();
    return s;
  }
  s.gpus = ParseGpuStateCsv(*out);
  s.available = !s.gpus.empty();
  if (!s.available) s.reason = "nvidia-smi listed no GPU";
  return s;
}

void GpuSampler::Start() {
  samples_.clear();
  reason_.clear();
  stopped_ = false;
  if (!OnPath("nvidia-smi")) {
    reason_ = "nvidia-smi not found on PATH";
    return;
  }
  running_ = true;
  thread_ = std::thread([this] {
    auto next = std::chrono::steady_clock::now();
    while (running_.load()) {
      auto out = RunCommand(kSampleQuery);
      if (out.ok()) {
        double util = 0, mem = 0;
        int n = 0;
        std::stringstream ss(*out);
        std::string line;
        while (std::getline(ss, line)) {
          auto f = SplitCsv(line);
          if (f.size() < 2) continue;
          util += ToDouble(f[0]).value_or(0);
          mem += ToDouble(f[1]).value_or(0);
          ++n;
        }
        if (n > 0) samples_.emplace_back(util / n, mem);
      } else if (reason_.empty()) {
        reason_ = out.status().message();
      }
      next += std::chrono::milliseconds(interval_ms_);
      const auto now = std::chrono::steady_clock::now();
      if (next < now) next = now;  // a slow nvidia-smi call stretches the interval
      while (running_.load() && std::chrono::steady_clock::now() < next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
}

GpuUtilSummary GpuSampler::Stop() {
  if (stopped_) return result_;
  stopped_ = true;
  running_ = false;
  if (thread_.joinable()) thread_.join();
  GpuUtilSummary s;
  s.interval_ms = interval_ms_;
  s.samples = static_cast<int>(samples_.size());
  s.available = !samples_.empty();
  s.reason = s.available ? "" : (reason_.empty() ? "no samples taken" : reason_);
  for (const auto& [u, m] : samples_) {
    s.util_mean_pct += u / samples_.size();
    s.mem_used_mean_mib += m / samples_.size();
    s.util_max_pct = std::max(s.util_max_pct, u);
    s.mem_used_max_mib = std::max(s.mem_used_max_mib, m);
  }
  result_ = s;
  return s;
}

}  // namespace clipserve::bench
