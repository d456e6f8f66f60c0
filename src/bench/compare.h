// `compare` and `validate` over result documents (ours or the original
// script's), and the comparison table the console and HTML reports share.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "bench/analysis.h"

namespace clipserve::bench {

struct CompareRow {
  std::string metric;               // "single.p50_ms"
  bool lower_is_better = true;
  std::vector<double> values;       // one per view (NaN when absent)
};

struct CompareTable {
  std::vector<std::string> columns; // view labels
  std::vector<CompareRow> rows;
  std::vector<std::string> warnings;  // fairness problems (checklist §0/§4)
};

CompareTable BuildCompareTable(const std::vector<BackendView>& views);

// Differences that make a comparison unfair: GPU model, host CPU, and the
// benchmark parameters the checklist says to keep equal.
std::vector<std::string> FairnessWarnings(const std::vector<BackendView>& views);

// Text rendering: warnings (prominent), the table with Δ% against column 1,
// warnings again at the bottom.
void PrintCompareTable(const CompareTable& table, std::ostream& out);

struct ValidationReport {
  std::vector<std::string> missing;   // fatal: sections checklist §4 expects
  std::vector<std::string> warnings;  // worth knowing, not fatal
  bool ok() const { return missing.empty(); }
};

ValidationReport ValidateResult(const nlohmann::json& doc);

}  // namespace clipserve::bench
