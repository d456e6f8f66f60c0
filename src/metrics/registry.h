// Registry: every metric the server exposes, rendered as Prometheus text
// exposition format 0.0.4 (Content-Type: "text/plain; version=0.0.4;
// charset=utf-8", see kPrometheusContentType).
//
// Rendered families, in this order (Triton's names, HELP and TYPE lines;
// labels sorted by name as Triton's prometheus-cpp writes them):
//   nv_inference_request_success{model,version}            counter
//   nv_inference_request_failure{model,reason,version}     counter
//   nv_inference_count / nv_inference_exec_count           counter
//   nv_inference_request_duration_us, nv_inference_queue_duration_us,
//   nv_inference_compute_{input,infer,output}_duration_us  counter (cumulative us)
//   nv_inference_pending_request_count                     gauge
//   clipserve_request_duration_us, clipserve_queue_duration_us,
//   clipserve_compute_infer_duration_us, clipserve_batch_size  histogram
//   every CounterFamily added, in order of addition
//   process_cpu_seconds_total (counter), process_resident_memory_bytes (gauge)
//
// Ownership: the Registry owns the ModelStats and CounterFamily objects it
// creates; references stay valid for the Registry's lifetime.
// Thread safety: Add* take a mutex (call them at start-up); recording goes
// straight to the returned objects (lock-free); RenderText() may run
// concurrently with recording and Add*.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "metrics/model_stats.h"

namespace clipserve::metrics {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A counter family with a fixed set of label names, one series per distinct
// label-value tuple, e.g. clipserve_http_requests_total{api,path,code}.
// Increment finds or creates the series under a short mutex (no I/O, no
// inference wait); callers should keep label cardinality bounded (e.g. the
// route pattern, not the raw URL).
class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);

  const std::string& name() const { return name_; }
  // label_values.size() must equal label_names().size() (else ignored and
  // counted in dropped()).
  void Increment(const std::vector<std::string>& label_values, std::uint64_t by = 1);
  std::uint64_t Value(const std::vector<std::string>& label_values) const;  // 0 if absent
  const std::vector<std::string>& label_names() const { return label_names_; }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  void AppendText(std::string* out) const;  // HELP, TYPE, series in label order

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::uint64_t> series_;
  std::atomic<std::uint64_t> dropped_{0};
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // AlreadyExists if (name, version) is registered.
  StatusOr<ModelStats*> AddModel(const std::string& name, const std::string& version,
                                 int max_batch_size);
  ModelStats* FindModel(std::string_view name, std::string_view version) const;  // null if absent
  std::vector<ModelStats*> Models() const;  // in order of registration

  // InvalidArgument on a bad metric/label name; AlreadyExists on a duplicate.
  StatusOr<CounterFamily*> AddCounterFamily(const std::string& name, const std::string& help,
                                            std::vector<std::string> label_names);

  // Whether RenderText() appends process_* metrics (on by default).
  void set_process_metrics(bool on) { process_metrics_ = on; }

  std::string RenderText() const;

 private:
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<ModelStats>> models_;
  std::deque<std::unique_ptr<CounterFamily>> counters_;
  std::atomic<bool> process_metrics_{true};
};

// ---- Exposition helpers (exposed for tests and other renderers) ----

// Label value escaping per the text format: backslash -> \\, double quote
// -> \", line feed -> \n.
std::string EscapeLabelValue(std::string_view value);
// HELP text escaping: backslash -> \\, line feed -> \n.
std::string EscapeHelp(std::string_view help);
// [a-zA-Z_:][a-zA-Z0-9_:]* ; label names: [a-zA-Z_][a-zA-Z0-9_]* and not "__"-prefixed.
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);
// A sample value: integers without exponent or fraction when exact
// (|v| < 2^53), else shortest round-trip form; "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

// Appends the histogram's _bucket{...,le="..."} / _sum / _count lines (no
// HELP/TYPE). `labels` is the pre-rendered `a="x",b="y"` (may be empty).
void AppendHistogramSeries(std::string_view name, std::string_view labels,
                           const HistogramSnapshot& h, std::string* out);

// Process facts read from /proc/self/stat and /proc/self/statm.
struct ProcessStats {
  double cpu_seconds = 0;          // utime + stime
  std::uint64_t resident_bytes = 0;
};
StatusOr<ProcessStats> ReadProcessStats();

}  // namespace clipserve::metrics
