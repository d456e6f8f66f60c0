#include "metrics/registry.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace clipserve::metrics {
namespace {

struct TritonCounter {
  const char* name;
  const char* help;
};

// Triton's own HELP strings, so dashboards and diff tools see the same text.
constexpr TritonCounter kSuccess = {"nv_inference_request_success",
                                    "Number of successful inference requests, all batch sizes"};
constexpr TritonCounter kFailure = {"nv_inference_request_failure",
                                    "Number of failed inference requests, all batch sizes"};
constexpr TritonCounter kCount = {"nv_inference_count",
                                  "Number of inferences performed (does not include cached requests)"};
constexpr TritonCounter kExecCount = {
    "nv_inference_exec_count", "Number of model executions performed (does not include cached requests)"};
constexpr TritonCounter kRequestDuration = {
    "nv_inference_request_duration_us",
    "Cumulative inference request duration in microseconds (includes cached requests)"};
constexpr TritonCounter kQueueDuration = {
    "nv_inference_queue_duration_us",
    "Cumulative inference queuing duration in microseconds (includes cached requests)"};
constexpr TritonCounter kInputDuration = {
    "nv_inference_compute_input_duration_us",
    "Cumulative compute input duration in microseconds (does not include cached requests)"};
constexpr TritonCounter kInferDuration = {
    "nv_inference_compute_infer_duration_us",
    "Cumulative compute inference duration in microseconds (does not include cached requests)"};
constexpr TritonCounter kOutputDuration = {
    "nv_inference_compute_output_duration_us",
    "Cumulative inference compute output duration in microseconds (does not include cached requests)"};
constexpr TritonCounter kPending = {
    "nv_inference_pending_request_count",
    "Instantaneous number of pending requests awaiting execution per-model."};

void AppendHeader(std::string* out, std::string_view name, std::string_view help,
                  std::string_view type) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += EscapeHelp(help);
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value) {
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    *out += labels;
    *out += '}';
  }
  *out += ' ';
  *out += FormatValue(value);
  *out += '\n';
}

std::string ModelLabels(const ModelStatsSnapshot& s) {
  return "model=\"" + EscapeLabelValue(s.name) + "\",version=\"" + EscapeLabelValue(s.version) + "\"";
}

double Us(std::uint64_t ns) { return static_cast<double>(ns / 1000); }

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::fabs(value) < 9007199254740992.0 && value == std::trunc(value)) {
    return std::to_string(static_cast<long long>(value));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(value);
}

void AppendHistogramSeries(std::string_view name, std::string_view labels,
                           const HistogramSnapshot& h, std::string* out) {
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  for (std::size_t i = 0; i < h.cumulative_counts.size(); ++i) {
    const std::string le = i < h.upper_bounds.size() ? FormatValue(h.upper_bounds[i]) : "+Inf";
    AppendSample(out, std::string(name) + "_bucket", prefix + "le=\"" + le + "\"",
                 static_cast<double>(h.cumulative_counts[i]));
  }
  AppendSample(out, std::string(name) + "_sum", labels, h.sum);
  AppendSample(out, std::string(name) + "_count", labels, static_cast<double>(h.count));
}

StatusOr<ProcessStats> ReadProcessStats() {
  ProcessStats p;
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return UnavailableError("cannot read /proc/self/stat");
  // Field 2 (comm) may hold spaces and parentheses: parse after the last ')'.
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return DataLossError("malformed /proc/self/stat");
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After comm: state is field 3; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && rest >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) stime = std::stoull(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  p.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
  std::ifstream statm("/proc/self/statm");
  unsigned long long size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return UnavailableError("cannot read /proc/self/statm");
  p.resident_bytes = resident_pages * static_cast<unsigned long long>(sysconf(_SC_PAGESIZE));
  return p;
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void CounterFamily::Increment(const std::vector<std::string>& label_values, std::uint64_t by) {
  if (label_values.size() != label_names_.size()) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::lock_guard lock(mu_);
  series_[label_values] += by;
}

std::uint64_t CounterFamily::Value(const std::vector<std::string>& label_values) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(label_values);
  return it == series_.end() ? 0 : it->second;
}

void CounterFamily::AppendText(std::string* out) const {
  AppendHeader(out, name_, help_, "counter");
  std::lock_guard lock(mu_);
  for (const auto& [values, count] : series_) {
    std::string labels;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) labels += ',';
      labels += label_names_[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
    }
    AppendSample(out, name_, labels, static_cast<double>(count));
  }
}

StatusOr<ModelStats*> Registry::AddModel(const std::string& name, const std::string& version,
                                         int max_batch_size) {
  std::lock_guard lock(mu_);
  for (const auto& m : models_) {
    if (m->name() == name && m->version() == version) {
      return Status(StatusCode::kAlreadyExists,
                    "model " + name + " version " + version + " is already registered");
    }
  }
  models_.push_back(std::make_unique<ModelStats>(name, version, max_batch_size));
  return models_.back().get();
}

ModelStats* Registry::FindModel(std::string_view name, std::string_view version) const {
  std::lock_guard lock(mu_);
  for (const auto& m : models_) {
    if (m->name() == name && m->version() == version) return m.get();
  }
  return nullptr;
}

std::vector<ModelStats*> Registry::Models() const {
  std::lock_guard lock(mu_);
  std::vector<ModelStats*> out;
  for (const auto& m : models_) out.push_back(m.get());
  return out;
}

StatusOr<CounterFamily*> Registry::AddCounterFamily(const std::string& name, const std::string& help,
                                                    std::vector<std::string> label_names) {
  if (!IsValidMetricName(name)) return InvalidArgumentError("invalid metric name '" + name + "'");
  for (const auto& l : label_names) {
    if (!IsValidLabelName(l)) return InvalidArgumentError("invalid label name '" + l + "' for " + name);
  }
  std::lock_guard lock(mu_);
  for (const auto& c : counters_) {
    if (c->name() == name) {
      return Status(StatusCode::kAlreadyExists, "metric " + name + " is already registered");
    }
  }
  counters_.push_back(std::make_unique<CounterFamily>(name, help, std::move(label_names)));
  return counters_.back().get();
}

std::string Registry::RenderText() const {
  std::vector<ModelStatsSnapshot> snaps;
  std::vector<const CounterFamily*> counters;
  {
    std::lock_guard lock(mu_);
    for (const auto& m : models_) snaps.push_back(m->Snapshot());
    for (const auto& c : counters_) counters.push_back(c.get());
  }
  std::string out;
  out.reserve(4096 + snaps.size() * 8192);

  auto family = [&](const TritonCounter& c, const char* type, auto value_of) {
    AppendHeader(&out, c.name, c.help, type);
    for (const auto& s : snaps) AppendSample(&out, c.name, ModelLabels(s), value_of(s));
  };
  family(kSuccess, "counter", [](const ModelStatsSnapshot& s) { return double(s.success.count); });
  AppendHeader(&out, kFailure.name, kFailure.help, "counter");
  for (const auto& s : snaps) {
    for (int r = 0; r < kNumFailureReasons; ++r) {
      const std::string labels = "model=\"" + EscapeLabelValue(s.name) + "\",reason=\"" +
                                 std::string(FailureReasonLabel(static_cast<FailureReason>(r))) +
                                 "\",version=\"" + EscapeLabelValue(s.version) + "\"";
      AppendSample(&out, kFailure.name, labels, static_cast<double>(s.fail_by_reason[r]));
    }
  }
  family(kCount, "counter", [](const ModelStatsSnapshot& s) { return double(s.inference_count); });
  family(kExecCount, "counter", [](const ModelStatsSnapshot& s) { return double(s.execution_count); });
  // As in Triton, only successful requests add to the duration counters.
  family(kRequestDuration, "counter", [](const ModelStatsSnapshot& s) { return Us(s.success.ns); });
  family(kQueueDuration, "counter", [](const ModelStatsSnapshot& s) { return Us(s.queue.ns); });
  family(kInputDuration, "counter", [](const ModelStatsSnapshot& s) { return Us(s.compute_input.ns); });
  family(kInferDuration, "counter", [](const ModelStatsSnapshot& s) { return Us(s.compute_infer.ns); });
  family(kOutputDuration, "counter", [](const ModelStatsSnapshot& s) { return Us(s.compute_output.ns); });
  family(kPending, "gauge", [](const ModelStatsSnapshot& s) { return double(s.pending_request_count); });

  struct Hist {
    const char* name;
    const char* help;
    const HistogramSnapshot ModelStatsSnapshot::*member;
  };
  const Hist hists[] = {
      {"clipserve_request_duration_us", "Request duration from enqueue to result, in microseconds",
       &ModelStatsSnapshot::request_duration_us},
      {"clipserve_queue_duration_us", "Time a request waited in the batcher queue, in microseconds",
       &ModelStatsSnapshot::queue_duration_us},
      {"clipserve_compute_infer_duration_us", "Engine forward time per batch, in microseconds",
       &ModelStatsSnapshot::compute_infer_duration_us},
      {"clipserve_batch_size", "Images per engine execution", &ModelStatsSnapshot::batch_size},
  };
  for (const Hist& h : hists) {
    AppendHeader(&out, h.name, h.help, "histogram");
    for (const auto& s : snaps) AppendHistogramSeries(h.name, ModelLabels(s), s.*h.member, &out);
  }

  for (const CounterFamily* c : counters) c->AppendText(&out);

  if (process_metrics_.load()) {
    StatusOr<ProcessStats> p = ReadProcessStats();
    if (p.ok()) {
      AppendHeader(&out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   "counter");
      AppendSample(&out, "process_cpu_seconds_total", "", p->cpu_seconds);
      AppendHeader(&out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
      AppendSample(&out, "process_resident_memory_bytes", "", static_cast<double>(p->resident_bytes));
    }
  }
  return out;
}

}  // namespace clipserve::metrics
