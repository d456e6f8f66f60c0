// Numbers derived from result documents (ours or the original script's):
// parity between backends, cost per million images, trade-off notes, and
// the backend "views" that compare/report/console iterate over. Pure
// functions on JSON, so they work on files from any run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clipserve::bench {

inline constexpr double kParityThreshold = 0.999;

// One backend's results inside one document.
struct BackendView {
  std::string label;         // "triton" or "triton (file.json)"
  std::string backend;       // "pytorch" | "triton"
  const nlohmann::json* data = nullptr;  // doc[backend]
  const nlohmann::json* doc = nullptr;   // whole document
};

// Backends present in each document, in document order (triton, pytorch).
// Labels carry the source name when there is more than one document.
std::vector<BackendView> CollectBackends(const std::vector<std::pair<std::string, const nlohmann::json*>>& docs);

// Batch sizes present as batch_<N> keys, ascending.
std::vector<int> BatchSizesOf(const nlohmann::json& backend);

// A number at a dotted path ("concurrent.p95_ms"), or NaN.
double NumberAt(const nlohmann::json& j, const std::string& dotted);

// Like NumberAt, with fallbacks for files that predate a key (the original
// script's): batch_N.images_per_sec = N * 1000 / batch_N.mean_ms;
// batch_1.* falls back to single.*; concurrent.images_per_sec =
// concurrent.throughput_rps.
double MetricOf(const nlohmann::json& backend, const std::string& dotted);

double Cosine(const std::vector<float>& a, const std::vector<float>& b);

// Parity of probe embeddings: between the backends of `run`, and between
// each backend of `run` and each backend of `reference` (when given).
// Probes are matched by id (content hash), so only identical images compare.
nlohmann::json ComputeParity(const nlohmann::json& run, const nlohmann::json* reference,
                             const std::string& reference_label);

// Cost per 1M images at each backend's measured concurrent throughput.
nlohmann::json ComputeCost(const nlohmann::json& run, double price_per_hour_usd);

// Plain-language notes computed from the numbers (no boilerplate): each
// note quotes the figures it rests on.
std::vector<std::string> DeriveTradeoffs(const std::vector<BackendView>& views);

// "+12.3%" relative change of b against a, or "n/a".
std::string DeltaPercent(double a, double b);

}  // namespace clipserve::bench
