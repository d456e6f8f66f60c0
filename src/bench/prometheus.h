// Prometheus text exposition format (0.0.4) parser, and the Triton model
// counters the runner reads from it. No I/O.
//
// Accepts what real exporters emit: # HELP / # TYPE / other comments, blank
// lines, metrics without labels, any extra labels (Triton adds gpu_uuid on
// some versions), escaped label values (\\, \", \n), values in exponent
// form, +Inf/-Inf/NaN, and an optional trailing timestamp. Malformed lines
// are skipped and counted, never fatal: a scrape is best-effort evidence.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clipserve::bench {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromParseResult {
  std::vector<PromSample> samples;
  int malformed_lines = 0;
};

PromParseResult ParsePrometheusText(std::string_view text);

// Sum of every sample named `name` whose labels include all of `match`
// (e.g. {{"model","openclip_vit_b32"}}), across any other labels such as
// version or gpu_uuid. nullopt when no sample matches.
std::optional<double> SumMetric(const std::vector<PromSample>& samples, std::string_view name,
                                const std::map<std::string, std::string>& match);

// Triton's per-model cumulative counters (DESIGN §3), summed over versions.
// A field is nullopt when the exporter does not publish it.
struct TritonModelCounters {
  std::optional<double> request_success, request_failure, inference_count, exec_count;
  std::optional<double> request_duration_us, queue_duration_us, compute_input_duration_us,
      compute_infer_duration_us, compute_output_duration_us;
};

TritonModelCounters ExtractTritonCounters(const std::vector<PromSample>& samples,
                                          const std::string& model);

// What changed between two scrapes, normalised per request.
struct ServerDelta {
  std::optional<double> requests, failures, inferences, executions, avg_batch_size;
  std::optional<double> request_us_per_request, queue_us_per_request, compute_input_us_per_request,
      compute_infer_us_per_request, compute_output_us_per_request;
};

ServerDelta DiffCounters(const TritonModelCounters& before, const TritonModelCounters& after);

}  // namespace clipserve::bench
