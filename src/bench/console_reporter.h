// Human output on stdout, from the result document: one section per backend
// (the original's tables, plus p90/p99.9/errors and server-side deltas),
// the comparison summary, parity, cost and trade-off notes.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

namespace clipserve::bench {

void PrintBackendSection(const std::string& backend, const nlohmann::json& data, std::ostream& out);
void PrintRunReport(const nlohmann::json& doc, std::ostream& out);
// The --protocols summary: one row per (input, protocol), and per input the
// ratio of every other protocol to the first.
void PrintProtocolComparison(const nlohmann::json& summary, std::ostream& out);

}  // namespace clipserve::bench
