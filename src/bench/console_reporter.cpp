#include "bench/console_reporter.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "bench/analysis.h"
#include "bench/compare.h"

namespace clipserve::bench {

using nlohmann::json;

namespace {

std::string F(const json& v, int prec = 2) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v.get<double>());
  return buf;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void PhaseRow(const std::string& name, const json& p, std::ostream& out) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-12s %6s %5s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", name.c_str(),
                F(p.value("count", json()), 0).c_str(), F(p.value("errors", json(0)), 0).c_str(),
                F(p.value("mean_ms", json())).c_str(), F(p.value("p50_ms", json())).c_str(),
                F(p.value("p90_ms", json())).c_str(), F(p.value("p95_ms", json())).c_str(),
                F(p.value("p99_ms", json())).c_str(), F(p.value("p999_ms", json())).c_str(),
                F(p.value("min_ms", json())).c_str(), F(p.value("max_ms", json())).c_str(),
                F(p.value("images_per_sec", json()), 1).c_str());
  out << buf;
}

}  // namespace

void PrintBackendSection(const std::string& backend, const json& d, std::ostream& out) {
  out << "\n" << std::string(78, '=') << "\n" << Upper(backend) << " RESULTS";
  if (d.contains("protocol")) out << "  (" << d.value("protocol", "") << ", " << d.value("url", "") << ")";
  out << "\n" << std::string(78, '=') << "\n";
  if (d.contains("cold_start")) {
    const json& c = d["cold_start"];
    out << "Cold start: first request " << F(c.value("first_request_ms", json())) << " ms";
    if (c.value("warm_server", false)) out << " (warm server: it was already running)";
    if (c.contains("exec_to_ready_ms") && c["exec_to_ready_ms"].is_number()) {
      out << "; exec->live " << F(c["exec_to_live_ms"]) << " ms, exec->ready " << F(c["exec_to_ready_ms"]) << " ms";
    }
    if (c.contains("error") && c["error"].is_string()) out << "  [error: " << c["error"].get<std::string>() << "]";
    out << "\n";
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-12s %6s %5s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "phase", "count", "err",
                "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "min_ms", "max_ms", "img/s");
  out << buf;
  std::vector<std::string> phases = {"single"};
  for (int n : BatchSizesOf(d)) phases.push_back("batch_" + std::to_string(n));
  phases.push_back("concurrent");
  phases.push_back("open_loop");
  for (const auto& name : phases) {
    if (d.contains(name) && d[name].is_object()) PhaseRow(name, d[name], out);
  }
  if (d.contains("concurrent") && d["concurrent"].is_object()) {
    const json& c = d["concurrent"];
    out << "concurrent: " << F(c.value("throughput_rps", json())) << " req/s with " << F(c.value("concurrency", json()), 0)
        << " clients, " << F(c.value("successful", json()), 0) << "/" << F(c.value("total_requests", json()), 0)
        << " ok in " << F(c.value("wall_time_s", json()), 3) << " s\n";
    if (c.contains("gpu_util") && c["gpu_util"].value("available", false)) {
      out << "GPU during concurrent: util mean " << F(c["gpu_util"]["util_mean_pct"], 1) << "% max "
          << F(c["gpu_util"]["util_max_pct"], 1) << "%, memory max " << F(c["gpu_util"]["memory_used_max_mib"], 0) << " MiB\n";
    }
  }
  if (d.contains("open_loop") && d["open_loop"].is_object()) {
    const json& o = d["open_loop"];
    out << "open loop: " << F(o.value("request_rate", json()), 1) << " req/s offered (" << o.value("arrival", "")
        << "), achieved " << F(o.value("throughput_rps", json())) << " req/s; late sends " << F(o.value("late_sends", json()), 0)
        << "/" << F(o.value("scheduled", json()), 0) << "; latency from scheduled send time\n";
  }
  bool server_header = false;
  for (const auto& name : phases) {
    if (!d.contains(name) || !d[name].is_object() || !d[name].contains("server") || !d[name]["server"].is_object()) continue;
    const json& s = d[name]["server"];
    if (!server_header) {
      std::snprintf(buf, sizeof buf, "server side (per request) %-8s %8s %8s %9s %10s %10s %10s %10s\n", "source",
                    "requests", "execs", "avg_batch", "queue_us", "input_us", "infer_us", "output_us");
      out << buf;
      server_header = true;
    }
    std::snprintf(buf, sizeof buf, "  %-23s %-8s %8s %8s %9s %10s %10s %10s %10s\n", name.c_str(),
                  s.value("source", "").c_str(), F(s["requests"], 0).c_str(), F(s["executions"], 0).c_str(),
                  F(s["avg_batch_size"]).c_str(), F(s["queue_us_per_request"], 0).c_str(),
                  F(s["compute_input_us_per_request"], 0).c_str(), F(s["compute_infer_us_per_request"], 0).c_str(),
                  F(s["compute_output_us_per_request"], 0).c_str());
    out << buf;
  }
  if (d.contains("server_metrics") && d["server_metrics"].is_object()) {
    const json& m = d["server_metrics"];
    out << "server_metrics (cumulative since server start): success " << F(m.value("inference_request_success", json()), 0)
        << ", queue " << F(m.value("queue_duration_us", json()), 0) << " us, compute input/infer/output "
        << F(m.value("compute_input_duration_us", json()), 0) << "/" << F(m.value("compute_infer_duration_us", json()), 0)
        << "/" << F(m.value("compute_output_duration_us", json()), 0) << " us\n";
  }
  if (d.contains("client_cpu") && d["client_cpu"].is_object()) {
    out << "runner CPU: " << F(d["client_cpu"].value("cpu_us_per_request", json()), 1) << " us per request\n";
  }
  for (const auto& [name, p] : d.items()) {
    if (!p.is_object() || !p.contains("validity") || !p["validity"].is_object()) continue;
    for (const auto& w : p["validity"].value("warnings", json::array())) {
      if (w.is_string()) out << "VALIDITY: " << w.get<std::string>() << "\n";
    }
  }
  if (d.contains("failures") && d["failures"].is_array()) {
    for (const auto& f : d["failures"]) out << "FAILURE: " << f.get<std::string>() << "\n";
  }
}

void PrintRunReport(const json& doc, std::ostream& out) {
  for (const char* b : {"triton", "pytorch"}) {
    if (doc.contains(b) && doc[b].is_object()) PrintBackendSection(b, doc[b], out);
  }
  auto views = CollectBackends({{"run", &doc}});
  if (views.size() > 1) {
    out << "\n" << std::string(78, '=') << "\nCOMPARISON SUMMARY\n" << std::string(78, '=') << "\n";
    PrintCompareTable(BuildCompareTable(views), out);
  }
  if (doc.contains("parity") && doc["parity"].is_object()) {
    const json& p = doc["parity"];
    out << "\nParity (cosine of probe embeddings, flag < " << p.value("threshold", kParityThreshold)
        << "): " << p.value("status", "") << "\n";
    for (const auto& c : p.value("comparisons", json::array())) {
      out << "  " << c.value("a", "") << " vs " << c.value("b", "") << ": min " << F(c["min_cosine"], 6) << " mean "
          << F(c["mean_cosine"], 6) << " over " << c.value("probes_compared", 0) << " probes"
          << (c["flagged"].is_boolean() && c["flagged"].get<bool>() ? "  <-- MISMATCH" : "") << "\n";
    }
  }
  if (doc.contains("cost") && doc["cost"].is_object()) {
    const json& c = doc["cost"];
    out << "\nCost at $" << F(c["price_per_hour_usd"]) << "/hour:\n";
    for (const char* b : {"triton", "pytorch"}) {
      if (c.contains(b)) out << "  " << b << ": $" << F(c[b]["cost_per_1m_images_usd"], 4) << " per 1M images at "
                             << F(c[b]["images_per_sec"], 1) << " img/s\n";
    }
  }
  if (doc.contains("tradeoffs") && doc["tradeoffs"].is_array() && !doc["tradeoffs"].empty()) {
    out << "\nTrade-offs (from the measured numbers):\n";
    for (const auto& t : doc["tradeoffs"]) out << "  - " << t.get<std::string>() << "\n";
  }
  if (doc.contains("results_file")) out << "\nResults saved to " << doc["results_file"].get<std::string>() << "\n";
}

void PrintProtocolComparison(const nlohmann::json& summary, std::ostream& out) {
  const nlohmann::json rows = summary.value("protocol_comparison", nlohmann::json::array());
  if (rows.empty()) return;
  auto num = [](const nlohmann::json& r, const char* k) {
    return r.contains(k) && r[k].is_number() ? r[k].get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  auto cell = [](double v, int prec) {
    if (!std::isfinite(v)) return std::string("-");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return std::string(buf);
  };
  const int largest = rows[0].value("largest_batch", 0);
  const std::string batch_col = "batch_" + std::to_string(largest) + " mean ms";
  char line[256];
  out << "Protocol comparison (triton backend, one server, runs one after another)\n";
  std::snprintf(line, sizeof line, "  %-12s %-9s %14s %14s %18s %16s %16s\n", "input", "protocol", "single p50 ms",
                "single p99 ms", batch_col.c_str(), "concurrent rps", "client us/req");
  out << line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "  %-12s %-9s %14s %14s %18s %16s %16s%s\n", r.value("input", "").c_str(),
                  r.value("protocol", "").c_str(), cell(num(r, "single_p50_ms"), 2).c_str(),
                  cell(num(r, "single_p99_ms"), 2).c_str(), cell(num(r, "batch_mean_ms"), 2).c_str(),
                  cell(num(r, "concurrent_rps"), 1).c_str(), cell(num(r, "client_cpu_us_per_request"), 0).c_str(),
                  r.value("failures", 0) > 0 ? "  (failures: see its results file)" : "");
    out << line;
  }
  // Ratios against the first protocol of the same input.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (rows[j].value("input", "") != rows[i].value("input", "")) continue;
      auto ratio = [&](const char* k) { return num(rows[i], k) / num(rows[j], k); };
      std::snprintf(line, sizeof line,
                    "  %s, %s / %s: single p50 x%s, batch_%d x%s, concurrent throughput x%s\n",
                    rows[i].value("input", "").c_str(), rows[i].value("protocol", "").c_str(),
                    rows[j].value("protocol", "").c_str(), cell(ratio("single_p50_ms"), 2).c_str(), largest,
                    cell(ratio("batch_mean_ms"), 2).c_str(), cell(ratio("concurrent_rps"), 2).c_str());
      out << line;
      break;
    }
  }
}

}  // namespace clipserve::bench
