// RunResult -> the results JSON (DESIGN §3): every key of the original
// script, plus what we add (p90/p99.9/stddev, errors by kind, histograms,
// per-phase server deltas, machine context). Non-finite numbers become null.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bench/runner.h"
#include "common/status.h"

namespace clipserve::bench {

inline constexpr int kJsonSchemaVersion = 1;

nlohmann::json BuildResultJson(const RunResult& result);

// One phase's JSON object (exposed for tests).
nlohmann::json PhaseJson(const PhaseMeasurement& m);

// A finite double, or null.
nlohmann::json Num(double v);

// Writes `doc` (pretty, 2-space indent), creating parent directories.
Status WriteJsonFile(const nlohmann::json& doc, const std::string& path);
StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace clipserve::bench
