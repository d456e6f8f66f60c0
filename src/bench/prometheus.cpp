#include "bench/prometheus.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace clipserve::bench {
namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

void SkipSpaces(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

// Prometheus spells special values +Inf, -Inf, NaN (case-insensitive in practice).
std::optional<double> ParseValue(std::string_view tok) {
  if (tok.empty()) return std::nullopt;
  std::string lower(tok);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "+inf" || lower == "inf") return std::numeric_limits<double>::infinity();
  if (lower == "-inf") return -std::numeric_limits<double>::infinity();
  if (lower == "nan") return std::numeric_limits<double>::quiet_NaN();
  // strtod: from_chars for double is missing in some libstdc++ versions we build with.
  std::string buf(tok);
  char* end = nullptr;
  const double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size()) return std::nullopt;
  return v;
}

// Parses `{a="x",b="y"}` starting at s[i] == '{'. Leaves i after '}'.
bool ParseLabels(std::string_view s, std::size_t& i, std::map<std::string, std::string>& out) {
  ++i;  // '{'
  while (true) {
    SkipSpaces(s, i);
    if (i < s.size() && s[i] == '}') { ++i; return true; }
    const std::size_t start = i;
    while (i < s.size() && IsNameChar(s[i])) ++i;
    if (i == start) return false;
    std::string key(s.substr(start, i - start));
    SkipSpaces(s, i);
    if (i >= s.size() || s[i] != '=') return false;
    ++i;
    SkipSpaces(s, i);
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    std::string value;
    while (true) {
      if (i >= s.size()) return false;
      const char c = s[i++];
      if (c == '"') break;
      if (c == '\\') {
        if (i >= s.size()) return false;
        const char e = s[i++];
        value.push_back(e == 'n' ? '\n' : e);  // \\ -> \, \" -> ", \n -> newline
      } else {
        value.push_back(c);
      }
    }
    out.emplace(std::move(key), std::move(value));
    SkipSpaces(s, i);
    if (i < s.size() && s[i] == ',') { ++i; continue; }
    if (i < s.size() && s[i] == '}') { ++i; return true; }
    return false;
  }
}

std::optional<PromSample> ParseLine(std::string_view line) {
  std::size_t i = 0;
  SkipSpaces(line, i);
  const std::size_t start = i;
  if (i >= line.size() || !IsNameStart(line[i])) return std::nullopt;
  while (i < line.size() && IsNameChar(line[i])) ++i;
  PromSample sample;
  sample.name = std::string(line.substr(start, i - start));
  SkipSpaces(line, i);
  if (i < line.size() && line[i] == '{') {
    if (!ParseLabels(line, i, sample.labels)) return std::nullopt;
  }
  SkipSpaces(line, i);
  const std::size_t vstart = i;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
  auto value = ParseValue(line.substr(vstart, i - vstart));
  if (!value) return std::nullopt;
  sample.value = *value;
  SkipSpaces(line, i);
  if (i < line.size()) {  // optional integer timestamp (ms)
    std::string_view ts = line.substr(i);
    while (!ts.empty() && (ts.back() == ' ' || ts.back() == '\t')) ts.remove_suffix(1);
    long long t = 0;
    auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
    if (ec != std::errc() || p != ts.data() + ts.size()) return std::nullopt;
  }
  return sample;
}

}  // namespace

PromParseResult ParsePrometheusText(std::string_view text) {
  PromParseResult result;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t i = 0;
    SkipSpaces(line, i);
    if (i == line.size() || line[i] == '#') {
      if (nl == text.size()) break;
      continue;
    }
    if (auto s = ParseLine(line)) {
      result.samples.push_back(std::move(*s));
    } else {
      ++result.malformed_lines;
    }
    if (nl == text.size()) break;
  }
  return result;
}

std::optional<double> SumMetric(const std::vector<PromSample>& samples, std::string_view name,
                                const std::map<std::string, std::string>& match) {
  std::optional<double> sum;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) { ok = false; break; }
    }
    if (ok) sum = sum.value_or(0.0) + s.value;
  }
  return sum;
}

TritonModelCounters ExtractTritonCounters(const std::vector<PromSample>& samples,
                                          const std::string& model) {
  const std::map<std::string, std::string> m{{"model", model}};
  TritonModelCounters c;
  c.request_success = SumMetric(samples, "nv_inference_request_success", m);
  c.request_failure = SumMetric(samples, "nv_inference_request_failure", m);
  c.inference_count = SumMetric(samples, "nv_inference_count", m);
  c.exec_count = SumMetric(samples, "nv_inference_exec_count", m);
  c.request_duration_us = SumMetric(samples, "nv_inference_request_duration_us", m);
  c.queue_duration_us = SumMetric(samples, "nv_inference_queue_duration_us", m);
  c.compute_input_duration_us = SumMetric(samples, "nv_inference_compute_input_duration_us", m);
  c.compute_infer_duration_us = SumMetric(samples, "nv_inference_compute_infer_duration_us", m);
  c.compute_output_duration_us = SumMetric(samples, "nv_inference_compute_output_duration_us", m);
  return c;
}

namespace {
std::optional<double> Sub(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b) return std::nullopt;
  return *b - *a;
}
std::optional<double> Ratio(const std::optional<double>& num, const std::optional<double>& den) {
  if (!num || !den || *den <= 0) return std::nullopt;
  return *num / *den;
}
}  // namespace

ServerDelta DiffCounters(const TritonModelCounters& before, const TritonModelCounters& after) {
  ServerDelta d;
  d.requests = Sub(before.request_success, after.request_success);
  d.failures = Sub(before.request_failure, after.request_failure);
  d.inferences = Sub(before.inference_count, after.inference_count);
  d.executions = Sub(before.exec_count, after.exec_count);
  d.avg_batch_size = Ratio(d.inferences, d.executions);
  d.request_us_per_request = Ratio(Sub(before.request_duration_us, after.request_duration_us), d.requests);
  d.queue_us_per_request = Ratio(Sub(before.queue_duration_us, after.queue_duration_us), d.requests);
  d.compute_input_us_per_request =
      Ratio(Sub(before.compute_input_duration_us, after.compute_input_duration_us), d.requests);
  d.compute_infer_us_per_request =
      Ratio(Sub(before.compute_infer_duration_us, after.compute_infer_duration_us), d.requests);
  d.compute_output_us_per_request =
      Ratio(Sub(before.compute_output_duration_us, after.compute_output_duration_us), d.requests);
  return d;
}

}  // namespace clipserve::bench
