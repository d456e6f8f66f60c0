#include "bench/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

namespace clipserve::bench {

using nlohmann::json;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Fmt(double v, int prec = 1) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}
}  // namespace

std::vector<BackendView> CollectBackends(const std::vector<std::pair<std::string, const json*>>& docs) {
  std::vector<BackendView> out;
  for (const auto& [name, doc] : docs) {
    if (!doc || !doc->is_object()) continue;
    for (const char* b : {"triton", "pytorch"}) {
      auto it = doc->find(b);
      if (it == doc->end() || !it->is_object()) continue;
      BackendView v;
      v.backend = b;
      v.label = docs.size() > 1 ? std::string(b) + " (" + name + ")" : std::string(b);
      v.data = &*it;
      v.doc = doc;
      out.push_back(v);
    }
  }
  return out;
}

std::vector<int> BatchSizesOf(const json& backend) {
  std::vector<int> out;
  if (!backend.is_object()) return out;
  for (const auto& [k, v] : backend.items()) {
    if (k.rfind("batch_", 0) != 0 || !v.is_object()) continue;
    try {
      out.push_back(std::stoi(k.substr(6)));
    } catch (...) {
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

double NumberAt(const json& j, const std::string& dotted) {
  const json* cur = &j;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!cur->is_object()) return kNaN;
    auto it = cur->find(part);
    if (it == cur->end()) return kNaN;
    cur = &*it;
  }
  return cur->is_number() ? cur->get<double>() : kNaN;
}

double MetricOf(const json& backend, const std::string& dotted) {
  const double direct = NumberAt(backend, dotted);
  if (std::isfinite(direct)) return direct;
  const auto dot = dotted.find('.');
  if (dot == std::string::npos) return direct;
  const std::string phase = dotted.substr(0, dot), field = dotted.substr(dot + 1);
  if (phase == "batch_1" && !backend.contains("batch_1")) return MetricOf(backend, "single." + field);
  if (phase == "single" && field == "images_per_sec") {
    const double mean = NumberAt(backend, "single.mean_ms");
    return mean > 0 ? 1000.0 / mean : kNaN;
  }
  if (phase.rfind("batch_", 0) == 0 && field == "images_per_sec") {
    const double mean = NumberAt(backend, phase + ".mean_ms");
    try {
      const int n = std::stoi(phase.substr(6));
      return mean > 0 ? n * 1000.0 / mean : kNaN;
    } catch (...) {
      return kNaN;
    }
  }
  if (phase == "concurrent" && field == "images_per_sec") return NumberAt(backend, "concurrent.throughput_rps");
  return direct;
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return kNaN;
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return kNaN;
  return dot / std::sqrt(na * nb);
}

std::string DeltaPercent(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b) || a == 0) return "n/a";
  const double d = (b - a) / std::fabs(a) * 100.0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", d);
  return buf;
}

namespace {

std::map<std::string, std::vector<float>> ProbesOf(const json& backend) {
  std::map<std::string, std::vector<float>> out;
  auto p = backend.find("parity_probes");
  if (p == backend.end() || !p->is_object()) return out;
  const auto& ids = p->value("ids", json::array());
  const auto& embs = p->value("embeddings", json::array());
  for (std::size_t i = 0; i < ids.size() && i < embs.size(); ++i) {
    std::vector<float> v;
    for (const auto& x : embs[i]) v.push_back(x.is_number() ? x.get<float>() : 0.0f);
    out[ids[i].get<std::string>()] = std::move(v);
  }
  return out;
}

json CompareProbeSets(const std::string& a_label, const json& a, const std::string& b_label, const json& b) {
  auto pa = ProbesOf(a), pb = ProbesOf(b);
  json c = {{"a", a_label}, {"b", b_label}};
  std::vector<double> cos;
  json per = json::array();
  for (const auto& [id, va] : pa) {
    auto it = pb.find(id);
    if (it == pb.end()) continue;
    const double v = Cosine(va, it->second);
    cos.push_back(v);
    per.push_back({{"id", id}, {"cosine", std::isfinite(v) ? json(v) : json(nullptr)}});
  }
  c["probes_compared"] = cos.size();
  c["per_probe"] = std::move(per);
  if (cos.empty()) {
    c["min_cosine"] = nullptr;
    c["mean_cosine"] = nullptr;
    c["flagged"] = nullptr;
    c["note"] = "no common probe images (different probe sets or probes failed)";
    return c;
  }
  double mn = 1e9, sum = 0;
  bool bad = false;
  for (double v : cos) {
    if (!std::isfinite(v)) bad = true;
    else {
      mn = std::min(mn, v);
      sum += v;
    }
  }
  c["min_cosine"] = bad ? json(nullptr) : json(mn);
  c["mean_cosine"] = bad ? json(nullptr) : json(sum / cos.size());
  c["flagged"] = bad || mn < kParityThreshold;
  return c;
}

}  // namespace

json ComputeParity(const json& run, const json* reference, const std::string& reference_label) {
  json out = {{"threshold", kParityThreshold}, {"comparisons", json::array()}};
  const bool has_t = run.contains("triton"), has_p = run.contains("pytorch");
  if (has_t && has_p) out["comparisons"].push_back(CompareProbeSets("triton", run["triton"], "pytorch", run["pytorch"]));
  if (reference && reference->is_object()) {
    for (const char* mine : {"triton", "pytorch"}) {
      if (!run.contains(mine)) continue;
      for (const char* theirs : {"triton", "pytorch"}) {
        if (!reference->contains(theirs)) continue;
        out["comparisons"].push_back(CompareProbeSets(std::string(mine) + " (this run)", run[mine],
                                                      std::string(theirs) + " (" + reference_label + ")",
                                                      (*reference)[theirs]));
      }
    }
  }
  bool flagged = false, compared = false;
  for (const auto& c : out["comparisons"]) {
    if (c["flagged"].is_boolean()) {
      compared = true;
      flagged |= c["flagged"].get<bool>();
    }
  }
  out["status"] = !compared ? "not_compared" : (flagged ? "MISMATCH" : "ok");
  if (!compared) out["note"] = "parity needs both backends in one run or --parity-reference OTHER.json";
  return out;
}

json ComputeCost(const json& run, double price_per_hour_usd) {
  json out = {{"price_per_hour_usd", price_per_hour_usd}, {"basis", "concurrent.images_per_sec"}};
  for (const char* b : {"triton", "pytorch"}) {
    if (!run.contains(b)) continue;
    const double ips = NumberAt(run[b], "concurrent.images_per_sec");
    json c = {{"images_per_sec", std::isfinite(ips) ? json(ips) : json(nullptr)}};
    c["cost_per_1m_images_usd"] = std::isfinite(ips) && ips > 0 ? json(price_per_hour_usd / (ips * 3600.0) * 1e6) : json(nullptr);
    out[b] = std::move(c);
  }
  return out;
}

std::vector<std::string> DeriveTradeoffs(const std::vector<BackendView>& views) {
  std::vector<std::string> notes;
  for (const auto& v : views) {
    const json& d = *v.data;
    // Batch scaling.
    auto sizes = BatchSizesOf(d);
    if (sizes.size() >= 2) {
      const double first = MetricOf(d, "batch_" + std::to_string(sizes.front()) + ".images_per_sec");
      const double last = MetricOf(d, "batch_" + std::to_string(sizes.back()) + ".images_per_sec");
      if (std::isfinite(first) && std::isfinite(last) && first > 0) {
        notes.push_back(v.label + ": batching scales from " + Fmt(first) + " img/s (batch " + std::to_string(sizes.front()) +
                        ") to " + Fmt(last) + " img/s (batch " + std::to_string(sizes.back()) + "), x" +
                        Fmt(last / first, 2) + (last / first < 1.3 ? " - little gain from client-side batching" : ""));
      }
    }
    // Concurrency vs sequential.
    const double single_mean = MetricOf(d, "single.mean_ms");
    const double rps = MetricOf(d, "concurrent.throughput_rps");
    const double conc = MetricOf(d, "concurrent.concurrency");
    if (std::isfinite(single_mean) && single_mean > 0 && std::isfinite(rps)) {
      const double seq_rps = 1000.0 / single_mean;
      notes.push_back(v.label + ": " + Fmt(conc, 0) + " concurrent clients reach " + Fmt(rps) + " req/s vs " +
                      Fmt(seq_rps) + " req/s one at a time (x" + Fmt(rps / seq_rps, 2) + "); concurrent p95 " +
                      Fmt(MetricOf(d, "concurrent.p95_ms")) + " ms vs single p95 " + Fmt(MetricOf(d, "single.p95_ms")) + " ms");
    }
    // Dynamic batching evidence from server-side deltas.
    const double avg_batch = MetricOf(d, "concurrent.server.avg_batch_size");
    const double queue_us = MetricOf(d, "concurrent.server.queue_us_per_request");
    const double infer_us = MetricOf(d, "concurrent.server.compute_infer_us_per_request");
    if (std::isfinite(avg_batch)) {
      std::string n = v.label + ": under concurrency the server ran batches of " + Fmt(avg_batch, 2) + " requests on average";
      if (std::isfinite(queue_us) && std::isfinite(infer_us) && queue_us + infer_us > 0) {
        n += "; each request waited " + Fmt(queue_us / 1000.0, 2) + " ms in queue vs " + Fmt(infer_us / 1000.0, 2) +
             " ms compute (" + Fmt(100.0 * queue_us / (queue_us + infer_us), 0) + "% of server time queued)";
      }
      notes.push_back(n);
    }
    // Failures.
    double errs = 0;
    for (const auto& [k, ph] : d.items()) {
      if (ph.is_object() && ph.contains("errors") && ph["errors"].is_number()) errs += ph["errors"].get<double>();
    }
    if (errs > 0) notes.push_back(v.label + ": " + Fmt(errs, 0) + " requests failed - latency figures cover successes only");
    // Runner overhead at the concurrent rate: the concurrent phase's own CPU
    // per request (the run's average is dominated by large batch payloads).
    double cpu_us = MetricOf(d, "concurrent.client_cpu.cpu_us_per_request");
    if (!std::isfinite(cpu_us)) cpu_us = MetricOf(d, "client_cpu.cpu_us_per_request");
    if (std::isfinite(cpu_us) && std::isfinite(rps) && rps > 0) {
      const double core_pct = cpu_us * rps / 1e4;
      notes.push_back(v.label + ": the runner spent " + Fmt(cpu_us, 0) + " us CPU per request, " + Fmt(core_pct, 1) +
                      "% of one core at the concurrent rate" +
                      (core_pct > 50 ? " - WARNING: the runner may have limited this throughput; run it on more cores"
                                     : ", so it was not the bottleneck"));
    }
  }
  // Pairwise: every view against the first.
  for (std::size_t i = 1; i < views.size(); ++i) {
    const auto& a = views[0];
    const auto& b = views[i];
    auto cmp = [&](const std::string& key, const std::string& what, bool lower_better) {
      const double x = MetricOf(*a.data, key), y = MetricOf(*b.data, key);
      if (!std::isfinite(x) || !std::isfinite(y) || x <= 0 || y <= 0) return;
      const bool b_better = lower_better ? y < x : y > x;
      const double ratio = lower_better ? std::max(x, y) / std::min(x, y) : std::max(x, y) / std::min(x, y);
      notes.push_back(what + ": " + (b_better ? b.label : a.label) + " is x" + Fmt(ratio, 2) + " better (" + a.label + " " +
                      Fmt(x, 2) + " vs " + b.label + " " + Fmt(y, 2) + ")");
    };
    cmp("cold_start.first_request_ms", "First request (ms)", true);
    cmp("single.p50_ms", "Single-image p50 (ms)", true);
    cmp("single.p95_ms", "Single-image p95 (ms)", true);
    cmp("concurrent.throughput_rps", "Concurrent throughput (req/s)", false);
    cmp("concurrent.p95_ms", "Concurrent p95 (ms)", true);
    auto sa = BatchSizesOf(*a.data);
    if (!sa.empty()) {
      const std::string k = "batch_" + std::to_string(sa.back()) + ".images_per_sec";
      cmp(k, "Batch " + std::to_string(sa.back()) + " throughput (img/s)", false);
    }
  }
  return notes;
}

}  // namespace clipserve::bench
