#include "bench/json_reporter.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bench/statistics.h"
#include "bench/validity.h"

namespace clipserve::bench {

using nlohmann::json;

json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

namespace {

json Opt(const std::optional<double>& v) { return v ? Num(*v) : json(nullptr); }

json SummaryJson(const std::vector<double>& samples_ms) {
  json j;
  auto s = Summarize(samples_ms);
  j["mean_ms"] = s ? Num(s->mean) : json(nullptr);
  j["p50_ms"] = s ? Num(s->p50) : json(nullptr);
  j["p90_ms"] = s ? Num(s->p90) : json(nullptr);
  j["p95_ms"] = s ? Num(s->p95) : json(nullptr);
  j["p99_ms"] = s ? Num(s->p99) : json(nullptr);
  j["p999_ms"] = s ? Num(s->p999) : json(nullptr);
  j["min_ms"] = s ? Num(s->min) : json(nullptr);
  j["max_ms"] = s ? Num(s->max) : json(nullptr);
  j["stddev_ms"] = s ? Num(s->stddev) : json(nullptr);
  j["count"] = samples_ms.size();
  return j;
}

json HistogramJson(const std::vector<double>& samples_ms) {
  LogHistogram h;
  for (double ms : samples_ms) h.Record(std::llround(ms * 1000.0));
  json buckets = json::array();
  for (const auto& b : h.Buckets()) buckets.push_back({b.lower, b.upper, b.count});
  return {{"unit", "us"},
          {"scheme", "log-linear: powers of two split into " + std::to_string(LogHistogram::kSubBuckets) +
                         " equal sub-buckets (<= 6.25% relative width)"},
          {"bucket_format", {"lower_us_inclusive", "upper_us_exclusive", "count"}},
          {"total_count", h.total_count()},
          {"buckets", std::move(buckets)}};
}

json ServerDeltaJson(const ServerDelta& d, const std::string& source) {
  return {{"source", source},
          {"requests", Opt(d.requests)},
          {"failures", Opt(d.failures)},
          {"inferences", Opt(d.inferences)},
          {"executions", Opt(d.executions)},
          {"avg_batch_size", Opt(d.avg_batch_size)},
          {"request_us_per_request", Opt(d.request_us_per_request)},
          {"queue_us_per_request", Opt(d.queue_us_per_request)},
          {"compute_input_us_per_request", Opt(d.compute_input_us_per_request)},
          {"compute_infer_us_per_request", Opt(d.compute_infer_us_per_request)},
          {"compute_output_us_per_request", Opt(d.compute_output_us_per_request)}};
}

json GpuUtilJson(const GpuUtilSummary& g) {
  if (!g.available) return {{"available", false}, {"reason", g.reason}};
  return {{"available", true},       {"samples", g.samples},
          {"interval_ms", g.interval_ms}, {"util_mean_pct", Num(g.util_mean_pct)},
          {"util_max_pct", Num(g.util_max_pct)}, {"memory_used_mean_mib", Num(g.mem_used_mean_mib)},
          {"memory_used_max_mib", Num(g.mem_used_max_mib)}};
}

json CpuJson(const CpuTimes& cpu, std::int64_t requests) {
  return {{"user_s", Num(cpu.user_s)},
          {"system_s", Num(cpu.system_s)},
          {"requests", requests},
          {"cpu_us_per_request", requests > 0 ? Num(cpu.total() * 1e6 / static_cast<double>(requests)) : json(nullptr)}};
}

json GpuSpecsJson(const GpuSpecs& s) {
  json j = {{"available", s.available}};
  if (!s.available) {
    j["reason"] = s.reason;
    j["name"] = nullptr;
    j["vram_total"] = nullptr;
    j["driver_version"] = nullptr;
    return j;
  }
  const GpuSpec& g = s.gpus.front();
  j["name"] = g.name;
  j["vram_total"] = Num(g.vram_total_mib);
  j["vram_total_unit"] = "MiB";
  j["driver_version"] = g.driver_version;
  j["gpu_count"] = s.gpus.size();
  json all = json::array();
  for (const auto& x : s.gpus) all.push_back({{"name", x.name}, {"vram_total_mib", Num(x.vram_total_mib)}, {"driver_version", x.driver_version}});
  j["gpus"] = std::move(all);
  return j;
}

json GpuStateJson(const GpuState& s) {
  json j = {{"available", s.available}};
  if (!s.available) {
    j["reason"] = s.reason;
    return j;
  }
  json all = json::array();
  for (const auto& g : s.gpus) {
    all.push_back({{"name", g.name},
                   {"utilization_pct", Num(g.utilization_pct)},
                   {"memory_used_mib", Num(g.memory_used_mib)},
                   {"memory_total_mib", Num(g.memory_total_mib)},
                   {"temperature_c", Opt(g.temperature_c)},
                   {"power_w", Opt(g.power_w)}});
  }
  j.update(all.front());  // first GPU flattened, for quick reads
  j["gpus"] = std::move(all);
  return j;
}

// What the server computes with, from the metadata it reported: clip-server's
// REST /model-info fields, or its v2 model config "parameters" (Triton's
// {"key": {"string_value": ...}} form). null for a server that says nothing
// (a real Triton), so compare/validate can tell "unknown" from "equal".
json ServerComputeJson(const json& info) {
  json out = {{"precision", nullptr}, {"requested_precision", nullptr}, {"cpu_isa", nullptr}, {"compute", nullptr}};
  for (const auto& [path, body] : info.items()) {
    if (!body.is_object()) continue;
    const json* params = body.contains("parameters") && body["parameters"].is_object() ? &body["parameters"] : nullptr;
    for (auto& [key, value] : out.items()) {
      if (!value.is_null()) continue;
      if (body.contains(key) && body[key].is_string()) {
        value = body[key];
      } else if (params && params->contains(key) && (*params)[key].is_object() &&
                 (*params)[key].contains("string_value")) {
        value = (*params)[key]["string_value"];
      }
    }
  }
  return out;
}

json CountersJson(const TritonModelCounters& c) {
  // The first five keys are the original script's; the rest are ours.
  return {{"inference_request_success", Opt(c.request_success)},
          {"queue_duration_us", Opt(c.queue_duration_us)},
          {"compute_input_duration_us", Opt(c.compute_input_duration_us)},
          {"compute_infer_duration_us", Opt(c.compute_infer_duration_us)},
          {"compute_output_duration_us", Opt(c.compute_output_duration_us)},
          {"inference_request_failure", Opt(c.request_failure)},
          {"inference_count", Opt(c.inference_count)},
          {"execution_count", Opt(c.exec_count)},
          {"request_duration_us", Opt(c.request_duration_us)},
          {"cumulative", true},
          {"note", "counters since server start (not per run); per-phase deltas are under <phase>.server"}};
}

}  // namespace

json PhaseJson(const PhaseMeasurement& m) {
  json j = SummaryJson(m.latencies_ms);
  const auto ok = static_cast<std::int64_t>(m.latencies_ms.size());
  j["errors"] = m.errors.total;
  j["errors_by_kind"] = m.errors.by_key;
  j["first_error"] = m.errors.first_detail.empty() ? json(nullptr) : json(m.errors.first_detail);
  j["attempted"] = m.attempted;
  j["not_sent"] = std::max<std::int64_t>(0, m.planned - m.attempted);
  j["aborted"] = m.aborted;
  j["images_per_request"] = m.images_per_request;
  j["wall_time_s"] = Num(m.wall_time_s);
  j["client_cpu"] = CpuJson(m.client_cpu, m.attempted);
  j["server"] = m.server_delta ? ServerDeltaJson(*m.server_delta, m.server_delta_source) : json(nullptr);
  j["error"] = m.error.empty() ? json(nullptr) : json(m.error);
  const bool loaded = m.name == "concurrent" || m.name == "open_loop";
  if (!loaded) {
    j["warmup"] = m.warmup;
    // Sequential phases: one request in flight, so img/s = images / mean latency.
    const json mean = j["mean_ms"];
    j["images_per_sec"] = mean.is_number() && mean.get<double>() > 0
                              ? Num(m.images_per_request * 1000.0 / mean.get<double>()) : json(nullptr);
    return j;
  }
  const double rps = m.wall_time_s > 0 ? static_cast<double>(ok) / m.wall_time_s : 0.0;
  j["throughput_rps"] = Num(rps);
  j["images_per_sec"] = Num(rps * m.images_per_request);
  j["concurrency"] = m.concurrency;
  j["connections_opened"] = m.connections_opened;
  j["total_requests"] = std::max(m.planned, m.attempted);
  j["successful"] = ok;
  j["histogram"] = HistogramJson(m.latencies_ms);
  if (m.gpu_util) j["gpu_util"] = GpuUtilJson(*m.gpu_util);
  if (m.open_loop) {
    const OpenLoopInfo& o = *m.open_loop;
    j["request_rate"] = Num(o.request_rate_per_s);
    j["duration_s"] = Num(o.duration_s);
    j["arrival"] = o.arrival;
    j["scheduled"] = o.scheduled;
    j["late_sends"] = o.late_sends;
    j["late_threshold_ms"] = Num(o.late_threshold_ms);
    j["latency_measured_from"] = "scheduled send time";
    j["send_lag"] = SummaryJson(o.send_lag_ms);
    j["service_time"] = SummaryJson(o.service_ms);
    j["workers"] = m.concurrency;
  }
  return j;
}

json ValidityJson(const PhaseValidity& v) {
  auto opt = [](const std::optional<double>& x) { return x ? Num(*x) : json(nullptr); };
  return {{"host_busy_cores", opt(v.host_busy_cores)},
          {"runner_cores", opt(v.runner_cores)},
          {"server_cores", opt(v.server_cores)},
          {"other_cores", opt(v.other_cores)},
          {"other_includes_server", v.other_includes_server},
          {"other_share", opt(v.other_share)},
          {"late_share", opt(v.late_share)},
          {"littles_law_ratio", opt(v.littles_law_ratio)},
          {"window_p50_ms", v.window_p50_ms},
          {"p50_drift", opt(v.p50_drift)},
          {"unsent_server_requests", v.unsent_server_requests ? json(*v.unsent_server_requests) : json(nullptr)},
          {"warnings", v.warnings}};
}

json BuildResultJson(const RunResult& r) {
  const BenchConfig& c = r.config;
  json doc;
  doc["timestamp"] = r.timestamp;
  doc["config"] = {{"backend", c.backend},
                   {"pytorch_url", c.pytorch_url},
                   {"triton_url", c.triton_url},
                   {"triton_metrics_url", c.triton_metrics_url},
                   {"iterations", c.iterations},
                   {"concurrency", c.concurrency},
                   {"concurrent_requests", c.concurrent_requests},
                   {"batch_sizes", c.batch_sizes},
                   {"output", c.output},
                   {"warmup", c.warmup},
                   {"triton_model", c.triton_model},
                   {"triton_input", c.triton_input},
                   {"triton_protocol", c.triton_protocol},
                   {"triton_grpc_url", c.triton_grpc_url},
                   {"protocols", c.protocols.empty() ? json(nullptr) : json(c.protocols)},
                   {"pytorch_input", c.pytorch_input},
                   {"images", c.images_dir.empty() ? json(nullptr) : json(c.images_dir)},
                   {"seed", c.seed},
                   {"image_size", c.image_size},
                   {"jpeg_quality", c.jpeg_quality},
                   {"server_cmd", c.server_cmd.empty() ? json(nullptr) : json(c.server_cmd)},
                   {"request_rate", Num(c.request_rate)},
                   {"duration", Num(c.duration_s)},
                   {"arrival", c.arrival},
                   {"open_loop_workers", c.open_loop_workers},
                   {"client_threads", c.client_threads},
                   {"late_threshold_ms", Num(c.late_threshold_ms)},
                   {"server_log", c.server_log.empty() ? json(nullptr) : json(c.server_log)},
                   {"server_ready_timeout", Num(c.server_ready_timeout_s)},
                   {"parity_reference", c.parity_reference.empty() ? json(nullptr) : json(c.parity_reference)},
                   {"price_per_hour", Num(c.price_per_hour)},
                   {"timeout", Num(c.timeout_s)},
                   {"image_pool", c.image_pool},
                   {"probe_images", c.probe_images}};
  doc["gpu_specs"] = GpuSpecsJson(r.gpu_specs);
  doc["gpu_before"] = GpuStateJson(r.gpu_before);
  doc["gpu_after"] = GpuStateJson(r.gpu_after);
  json failures = json::array();
  json server_compute = json::object();
  for (const BackendRun& b : r.backends) {
    json bj;
    bj["url"] = b.url;
    bj["protocol"] = b.protocol;
    bj["transport"] = b.transport;
    if (!b.model.empty()) bj["model"] = b.model;
    bj["cold_start"] = {{"first_request_ms", Opt(b.cold_start.first_request_ms)},
                        {"warm_server", b.cold_start.warm_server},
                        {"exec_to_live_ms", Opt(b.cold_start.exec_to_live_ms)},
                        {"exec_to_ready_ms", Opt(b.cold_start.exec_to_ready_ms)},
                        {"first_request_includes", "TCP connect + first embed request"},
                        {"error", b.cold_start.error.empty() ? json(nullptr) : json(b.cold_start.error)}};
    for (const PhaseMeasurement& m : b.phases) {
      bj[m.name] = PhaseJson(m);
      bj[m.name]["validity"] = ValidityJson(AssessPhase(m, r.host.logical_cores, c.client_threads));
    }
    if (b.backend == "triton") {
      if (b.server_metrics) bj["server_metrics"] = CountersJson(*b.server_metrics);
      if (!b.server_metrics_error.empty()) bj["server_metrics_error"] = b.server_metrics_error;
    }
    json info = json::object();
    for (const auto& [path, body] : b.server_info) {
      json parsed = json::parse(body, nullptr, false);
      info[path] = parsed.is_discarded() ? json(body) : parsed;
    }
    bj["server_compute"] = ServerComputeJson(info);
    server_compute[b.backend] = bj["server_compute"];
    bj["server_info"] = std::move(info);
    json probes = {{"ids", b.probes.ids}, {"embeddings", json::array()},
                   {"error", b.probes.error.empty() ? json(nullptr) : json(b.probes.error)}};
    for (const auto& e : b.probes.embeddings) {
      json row = json::array();
      for (float v : e) row.push_back(Num(v));
      probes["embeddings"].push_back(std::move(row));
    }
    probes["dim"] = b.probes.embeddings.empty() ? 0 : b.probes.embeddings.front().size();
    bj["parity_probes"] = std::move(probes);
    bj["client_cpu"] = CpuJson(b.client_cpu_total, b.requests_total);
    bj["failures"] = b.failures;
    if (!b.server_exit.empty()) bj["server_exit"] = b.server_exit;
    bool any_ok = false;
    for (const auto& m : b.phases) any_ok |= !m.latencies_ms.empty();
    bj["status"] = b.failures.empty() ? "ok" : (any_ok ? "partial" : "failed");
    for (const auto& f : b.failures) failures.push_back(b.backend + " " + f);
    doc[b.backend] = std::move(bj);
  }
  doc["results_file"] = c.output;
  doc["failures"] = std::move(failures);
  const HostInfo& h = r.host;
  doc["context"] = {{"json_schema_version", kJsonSchemaVersion},
                    {"runner", "benchmark_backends"},
                    {"runner_version", RunnerVersion()},
                    {"git_sha", RunnerGitSha().empty() ? json(nullptr) : json(RunnerGitSha())},
                    {"host", {{"cpu_model", h.cpu_model}, {"cpu_isa", h.cpu_isa}, {"logical_cores", h.logical_cores},
                              {"os", h.os}, {"hostname", h.hostname}}},
                    {"server_compute", server_compute},
                    {"image_source", r.image_source},
                    {"inputs", r.inputs_description},
                    {"percentile_method", "linear interpolation between closest ranks (numpy default, type 7)"},
                    {"stddev", "population (ddof=0)"},
                    {"latency_unit", "ms, client-side, request sent -> response fully read"}};
  return doc;
}

Status WriteJsonFile(const json& doc, const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) return UnavailableError("cannot create directory for '" + path + "': " + ec.message());
  std::ofstream out(path, std::ios::trunc);
  if (!out) return UnavailableError("cannot write '" + path + "'");
  out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  if (!out) return UnavailableError("error while writing '" + path + "'");
  return Status::Ok();
}

StatusOr<json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open '" + path + "'");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return InvalidArgumentError("'" + path + "' is not valid JSON");
  return j;
}

}  // namespace clipserve::bench
