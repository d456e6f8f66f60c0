#include "bench/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace clipserve::bench {

using nlohmann::json;

namespace {

std::string ConfigString(const json& doc, const char* key) {
  auto c = doc.find("config");
  if (c == doc.end() || !c->is_object() || !c->contains(key)) return "(absent)";
  const json& v = (*c)[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string GpuName(const json& doc) {
  auto g = doc.find("gpu_specs");
  if (g == doc.end() || !g->is_object() || !g->contains("name") || !(*g)["name"].is_string()) return "(unknown)";
  return (*g)["name"].get<std::string>();
}

std::string CpuModel(const json& doc) {
  auto c = doc.find("context");
  if (c == doc.end() || !c->is_object()) return "(unknown)";
  const json& h = c->value("host", json::object());
  return h.is_object() ? h.value("cpu_model", "(unknown)") : "(unknown)";
}

std::string HostCpuIsa(const json& doc) {
  auto c = doc.find("context");
  if (c == doc.end() || !c->is_object()) return "(unknown)";
  const json& h = c->value("host", json::object());
  return h.is_object() && h.contains("cpu_isa") && h["cpu_isa"].is_string() ? h["cpu_isa"].get<std::string>()
                                                                             : "(unknown)";
}

// A fact the server reported about its compute (json_reporter's
// server_compute): "(unknown)" when absent or null.
std::string ServerFact(const json& backend, const char* key) {
  const json sc = backend.value("server_compute", json::object());
  if (!sc.is_object() || !sc.contains(key) || !sc[key].is_string()) return "(unknown)";
  return sc[key].get<std::string>();
}

std::string Cell(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) >= 1000 ? "%.0f" : "%.2f", v);
  return buf;
}

}  // namespace

std::vector<std::string> FairnessWarnings(const std::vector<BackendView>& views) {
  std::vector<std::string> w;
  // Per backend: what each server computed with. Two backends in one file
  // can differ here too.
  auto check_views = [&](const std::string& what, const char* key) {
    std::set<std::string> seen;
    std::string detail;
    for (const auto& v : views) {
      const std::string val = ServerFact(*v.data, key);
      seen.insert(val);
      detail += (detail.empty() ? "" : ", ") + v.label + "=" + val;
    }
    if (seen.size() > 1) w.push_back(what + " differ: " + detail);
  };
  if (views.size() >= 2) {
    check_views("Server precisions", "precision");
    check_views("Server CPU ISAs", "cpu_isa");
    // HTTP against gRPC is a different setting: the transport's cost is in
    // every latency. Results from before the field existed were HTTP.
    std::set<std::string> seen;
    std::string detail;
    for (const auto& v : views) {
      const std::string t = v.data->value("transport", "http");
      seen.insert(t);
      detail += (detail.empty() ? "" : ", ") + v.label + "=" + t;
    }
    // Background load: the largest share of the host's cores other
    // processes took in any phase of each backend.
    std::vector<double> loads;
    std::string load_detail;
    for (const auto& v : views) {
      double worst = -1;
      for (const auto& [name, p] : v.data->items()) {
        if (!p.is_object() || !p.contains("validity") || !p["validity"].is_object()) continue;
        const json& val = p["validity"];
        if (val.value("other_includes_server", true)) continue;  // the server's CPU is in it
        const json share = val.value("other_share", json());
        if (share.is_number()) worst = std::max(worst, share.get<double>());
      }
      if (worst < 0) continue;
      loads.push_back(worst);
      load_detail += (load_detail.empty() ? "" : ", ") + v.label + "=" + Cell(100 * worst) + "%";
    }
    if (loads.size() >= 2 && *std::max_element(loads.begin(), loads.end()) - *std::min_element(loads.begin(), loads.end()) > 0.10) {
      w.push_back("Background load differs (other processes' share of the host's cores, worst phase: " + load_detail +
                  "): the busier run's numbers are not the backend's alone");
    }
    if (seen.size() > 1) {
      w.push_back("Transports differ (" + detail + "): latencies include each protocol's own cost, so this is not "
                  "the same setting");
    }
  }
  std::set<const json*> docs;
  for (const auto& v : views) docs.insert(v.doc);
  if (docs.size() < 2) return w;
  auto check = [&](const std::string& what, auto getter) {
    std::set<std::string> seen;
    std::string detail;
    std::set<const json*> done;
    for (const auto& v : views) {
      if (!done.insert(v.doc).second) continue;
      const std::string val = getter(*v.doc);
      seen.insert(val);
      detail += (detail.empty() ? "" : ", ") + v.label + "=" + val;
    }
    if (seen.size() > 1) w.push_back(what + " differ: " + detail);
  };
  check("GPU models", [](const json& d) { return GpuName(d); });
  check("Host CPUs", [](const json& d) { return CpuModel(d); });
  check("Host CPU ISAs", [](const json& d) { return HostCpuIsa(d); });
  check("--batch-sizes", [](const json& d) { return ConfigString(d, "batch_sizes"); });
  check("--iterations", [](const json& d) { return ConfigString(d, "iterations"); });
  check("--concurrency", [](const json& d) { return ConfigString(d, "concurrency"); });
  check("--concurrent-requests", [](const json& d) { return ConfigString(d, "concurrent_requests"); });
  return w;
}

CompareTable BuildCompareTable(const std::vector<BackendView>& views) {
  CompareTable t;
  for (const auto& v : views) t.columns.push_back(v.label);
  auto add = [&](const std::string& metric, bool lower) {
    CompareRow r{metric, lower, {}};
    bool any = false;
    for (const auto& v : views) {
      r.values.push_back(MetricOf(*v.data, metric));
      any |= std::isfinite(r.values.back());
    }
    if (any) t.rows.push_back(std::move(r));
  };
  add("cold_start.first_request_ms", true);
  add("cold_start.exec_to_ready_ms", true);
  for (const char* k : {"p50_ms", "p95_ms", "p99_ms", "mean_ms"}) add(std::string("single.") + k, true);
  std::set<int> sizes;
  for (const auto& v : views)
    for (int n : BatchSizesOf(*v.data)) sizes.insert(n);
  for (int n : sizes) {
    add("batch_" + std::to_string(n) + ".mean_ms", true);
    add("batch_" + std::to_string(n) + ".images_per_sec", false);
  }
  add("concurrent.throughput_rps", false);
  add("concurrent.images_per_sec", false);
  add("concurrent.p50_ms", true);
  add("concurrent.p95_ms", true);
  add("concurrent.p99_ms", true);
  add("concurrent.server.avg_batch_size", false);
  add("open_loop.throughput_rps", false);
  add("open_loop.p50_ms", true);
  add("open_loop.p99_ms", true);
  add("open_loop.late_sends", true);
  add("client_cpu.cpu_us_per_request", true);
  t.warnings = FairnessWarnings(views);
  return t;
}

void PrintCompareTable(const CompareTable& t, std::ostream& out) {
  auto banner = [&] {
    for (const auto& w : t.warnings) out << "!!! WARNING: " << w << " - do not compare these numbers directly\n";
  };
  banner();
  std::size_t mw = 6;
  for (const auto& r : t.rows) mw = std::max(mw, r.metric.size());
  std::size_t cw = 12;
  for (const auto& c : t.columns) cw = std::max(cw, c.size());
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-*s", static_cast<int>(mw), "metric");
  out << buf;
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    std::snprintf(buf, sizeof buf, "  %*s", static_cast<int>(cw), t.columns[i].c_str());
    out << buf;
    if (i > 0) {
      std::snprintf(buf, sizeof buf, "  %9s", "delta");
      out << buf;
    }
  }
  out << "\n";
  for (const auto& r : t.rows) {
    std::snprintf(buf, sizeof buf, "%-*s", static_cast<int>(mw), r.metric.c_str());
    out << buf;
    for (std::size_t i = 0; i < r.values.size(); ++i) {
      std::snprintf(buf, sizeof buf, "  %*s", static_cast<int>(cw), Cell(r.values[i]).c_str());
      out << buf;
      if (i > 0) {
        std::snprintf(buf, sizeof buf, "  %9s", DeltaPercent(r.values[0], r.values[i]).c_str());
        out << buf;
      }
    }
    out << "\n";
  }
  if (t.columns.size() > 1) out << "(delta = change against the first column; metrics ending in _ms: lower is better)\n";
  banner();
}

ValidationReport ValidateResult(const json& doc) {
  ValidationReport r;
  if (!doc.is_object()) {
    r.missing.push_back("document is not a JSON object");
    return r;
  }
  for (const char* k : {"timestamp", "config"}) {
    if (!doc.contains(k)) r.missing.push_back(k);
  }
  if (!doc.contains("results_file")) r.warnings.push_back("results_file absent (older runner)");
  if (!doc.contains("gpu_specs")) {
    r.missing.push_back("gpu_specs");
  } else if (doc["gpu_specs"].is_object() && doc["gpu_specs"].value("available", true) == false) {
    r.warnings.push_back("gpu_specs: GPU not available on this machine (" +
                         doc["gpu_specs"].value("reason", std::string("no reason recorded")) + ")");
  }
  // Our runner records the CPU it ran on and what each server computed with
  // (the original script's files have no context: nothing to require).
  if (doc.contains("context") && doc["context"].is_object()) {
    if (HostCpuIsa(doc) == "(unknown)") r.missing.push_back("context.host.cpu_isa");
  } else {
    r.warnings.push_back("context absent (original script's file?): CPU ISA and precision unknown");
  }
  std::vector<std::string> backends;
  const std::string cfg_backend = doc.contains("config") && doc["config"].is_object()
                                      ? doc["config"].value("backend", std::string()) : std::string();
  if (cfg_backend == "both") backends = {"triton", "pytorch"};
  else if (cfg_backend == "triton" || cfg_backend == "pytorch") backends = {cfg_backend};
  else {
    for (const char* b : {"triton", "pytorch"})
      if (doc.contains(b)) backends.push_back(b);
    if (backends.empty()) r.missing.push_back("pytorch or triton section");
  }
  std::vector<int> expected_sizes;
  if (doc.contains("config") && doc["config"].is_object() && doc["config"].contains("batch_sizes")) {
    const json& bs = doc["config"]["batch_sizes"];
    std::string csv = bs.is_string() ? bs.get<std::string>() : "";
    std::size_t pos = 0;
    while (pos < csv.size()) {
      std::size_t c = csv.find(',', pos);
      if (c == std::string::npos) c = csv.size();
      try {
        expected_sizes.push_back(std::stoi(csv.substr(pos, c - pos)));
      } catch (...) {
      }
      pos = c + 1;
    }
  }
  static const char* kPhaseKeys[] = {"mean_ms", "p50_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "count"};
  static const char* kConcurrentKeys[] = {"wall_time_s", "throughput_rps", "concurrency", "total_requests", "successful"};
  for (const auto& b : backends) {
    if (!doc.contains(b) || !doc[b].is_object()) {
      r.missing.push_back(b);
      continue;
    }
    const json& bj = doc[b];
    if (doc.contains("context")) {
      if (!bj.contains("server_compute")) {
        r.missing.push_back(b + ".server_compute");
      } else {
        for (const char* k : {"precision", "cpu_isa"}) {
          if (ServerFact(bj, k) == "(unknown)") {
            r.warnings.push_back(b + ".server_compute." + k + ": the server did not report it (not a clip-server?)");
          }
        }
      }
    }
    if (std::isnan(NumberAt(bj, "cold_start.first_request_ms"))) r.missing.push_back(b + ".cold_start.first_request_ms");
    auto check_phase = [&](const std::string& name, bool concurrent) {
      if (!bj.contains(name) || !bj[name].is_object()) {
        r.missing.push_back(b + "." + name);
        return;
      }
      const json& p = bj[name];
      for (const char* k : kPhaseKeys)
        if (!p.contains(k)) r.missing.push_back(b + "." + name + "." + k);
      if (concurrent)
        for (const char* k : kConcurrentKeys)
          if (!p.contains(k)) r.missing.push_back(b + "." + name + "." + k);
      const double count = NumberAt(p, "count");
      if (!(count > 0)) r.missing.push_back(b + "." + name + ": no successful request");
      const double errors = NumberAt(p, "errors");
      if (errors > 0) r.warnings.push_back(b + "." + name + ": " + std::to_string(static_cast<long long>(errors)) + " failed requests");
    };
    // Every phase's validity findings (issue 12): is the run trustworthy?
    for (const auto& [name, p] : bj.items()) {
      if (!p.is_object() || !p.contains("validity") || !p["validity"].is_object()) continue;
      for (const auto& w : p["validity"].value("warnings", json::array())) {
        if (w.is_string()) r.warnings.push_back(b + "." + name + " validity: " + w.get<std::string>());
      }
    }
    check_phase("single", false);
    check_phase("concurrent", true);
    auto present = BatchSizesOf(bj);
    if (present.empty()) r.missing.push_back(b + ".batch_*");
    for (int n : expected_sizes) {
      // The original script measured batch size 1 only as the single phase.
      if (n == 1 && !bj.contains("batch_1")) continue;
      check_phase("batch_" + std::to_string(n), false);
    }
    if (b == "triton" && !bj.contains("server_metrics")) {
      if (bj.contains("server_metrics_error")) {
        r.warnings.push_back("triton.server_metrics absent: " + bj["server_metrics_error"].get<std::string>());
      } else {
        r.missing.push_back("triton.server_metrics");
      }
    }
    if (b == "triton" && bj.contains("server_metrics")) {
      for (const char* k : {"inference_request_success", "queue_duration_us", "compute_input_duration_us",
                            "compute_infer_duration_us", "compute_output_duration_us"}) {
        if (!bj["server_metrics"].contains(k)) r.missing.push_back(std::string("triton.server_metrics.") + k);
      }
    }
  }
  return r;
}

}  // namespace clipserve::bench
