// `report`: one self-contained HTML file (inline CSS and SVG; no scripts,
// fonts or other external resources) from one or more result documents.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace clipserve::bench {

// docs: (label, document) pairs; labels name the source file.
std::string RenderHtmlReport(const std::vector<std::pair<std::string, const nlohmann::json*>>& docs);

// Escapes &, <, >, " and ' for HTML text and attributes.
std::string HtmlEscape(const std::string& s);

}  // namespace clipserve::bench
