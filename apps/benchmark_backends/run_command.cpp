#include <algorithm>
#include <fstream>
#include <iostream>

#include "bench/analysis.h"
#include "bench/compare.h"
#include "bench/console_reporter.h"
#include "bench/html_report.h"
#include "bench/interrupt.h"
#include "bench/inputs.h"
#include "bench/json_reporter.h"
#include "bench/runner.h"
#include "bench/sysinfo.h"
#include "commands.h"

namespace clipserve::bench::app {

using nlohmann::json;

namespace {

// One benchmark run over the selected backends: the results document, with
// the report printed. Its "failures" are empty when every phase ran.
json RunOnce(const BenchConfig& config, const RunInputs* inputs, const std::string& inputs_description,
             const std::string& inputs_error) {
  RunResult result;
  result.config = config;
  result.timestamp = IsoTimestampNow();
  result.host = QueryHost();
  result.gpu_specs = QueryGpuSpecs();
  result.gpu_before = QueryGpuState();
  result.image_source = config.images_dir.empty() ? "synthetic" : config.images_dir;
  result.inputs_description = inputs_description;
  if (inputs) {
    for (const auto& backend : SelectedBackends(config)) {
      const bool grpc = backend == "triton" && config.triton_protocol == "grpc";
      std::cout << "running " << backend << " against "
                << (backend == "triton" ? (grpc ? "grpc://" + config.triton_grpc_url : config.triton_url)
                                        : config.pytorch_url)
                << "\n";
      result.backends.push_back(RunBackend(config, backend, *inputs, std::cout));
    }
  }
  result.gpu_after = QueryGpuState();

  json doc = BuildResultJson(result);
  if (!inputs_error.empty()) doc["failures"].push_back("inputs: " + inputs_error);
  if (Interrupted()) doc["failures"].push_back("run interrupted by a signal: later phases skipped");
  std::optional<json> reference;
  if (!config.parity_reference.empty()) {
    auto ref = ReadJsonFile(config.parity_reference);
    if (ref.ok()) reference = std::move(*ref);
    else doc["failures"].push_back("parity_reference: " + ref.status().message());
  }
  doc["parity"] = ComputeParity(doc, reference ? &*reference : nullptr, config.parity_reference);
  if (config.price_per_hour > 0) doc["cost"] = ComputeCost(doc, config.price_per_hour);
  doc["tradeoffs"] = DeriveTradeoffs(CollectBackends({{"run", &doc}}));
  PrintRunReport(doc, std::cout);
  return doc;
}

// Writes `doc` to `path`; on failure prints it to stdout (never lose results).
bool WriteOrPrint(const json& doc, const std::string& path) {
  if (Status st = WriteJsonFile(doc, path); !st.ok()) {
    std::cerr << "benchmark_backends: " << st.message() << "\n";
    std::cout << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return false;
  }
  return true;
}

std::string WithSuffix(const std::string& path, const std::string& suffix) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + suffix;
  return path.substr(0, dot) + suffix + path.substr(dot);
}

// The protocol comparison (--protocols http,grpc): the triton backend over
// each protocol, with FP32 tensors and with JPEG bytes, against the same
// server; one ordinary results file per run, and a summary document that
// puts single-image latency, the largest batch's latency and concurrent
// throughput side by side.
int RunProtocolComparison(const BenchConfig& base, const RunInputs* inputs, const std::string& inputs_description,
                          const std::string& inputs_error) {
  const auto protocols = *ParseProtocols(base.protocols);
  const auto sizes = *ParseBatchSizes(base.batch_sizes);
  const int largest = *std::max_element(sizes.begin(), sizes.end());
  json rows = json::array();
  bool all_ok = true;
  for (const char* input : {"tensor", "image-bytes"}) {
    for (Transport t : protocols) {
      BenchConfig c = base;
      c.backend = "triton";
      c.triton_input = input;
      c.triton_protocol = TransportName(t);
      c.output = WithSuffix(base.output, std::string("_") + TransportName(t) + "_" + input);
      std::cout << "\n=== protocol " << TransportName(t) << ", input " << input << " ===\n";
      json doc = RunOnce(c, inputs, inputs_description, inputs_error);
      all_ok &= WriteOrPrint(doc, c.output) && doc["failures"].empty();
      const json& b = doc.value("triton", json::object());
      rows.push_back({{"protocol", TransportName(t)},
                      {"input", input},
                      {"results_file", c.output},
                      {"wire", b.value("protocol", "")},
                      {"single_p50_ms", MetricOf(b, "single.p50_ms")},
                      {"single_p99_ms", MetricOf(b, "single.p99_ms")},
                      {"largest_batch", largest},
                      {"batch_mean_ms", MetricOf(b, "batch_" + std::to_string(largest) + ".mean_ms")},
                      {"concurrent_rps", MetricOf(b, "concurrent.throughput_rps")},
                      {"client_cpu_us_per_request", MetricOf(b, "client_cpu.cpu_us_per_request")},
                      {"failures", doc["failures"].size()}});
    }
  }
  json summary = {{"timestamp", IsoTimestampNow()},
                  {"protocol_comparison", rows},
                  {"config", {{"protocols", base.protocols},
                              {"triton_url", base.triton_url},
                              {"triton_grpc_url", base.triton_grpc_url},
                              {"triton_model", base.triton_model},
                              {"iterations", base.iterations},
                              {"batch_sizes", base.batch_sizes},
                              {"concurrency", base.concurrency},
                              {"concurrent_requests", base.concurrent_requests}}},
                  {"note", "one server, runs one after another; each row's full results are in its results_file"}};
  std::cout << "\n";
  PrintProtocolComparison(summary, std::cout);
  all_ok &= WriteOrPrint(summary, base.output);
  std::cout.flush();
  return all_ok ? 0 : 2;
}

}  // namespace

int RunBenchmarkCommand(BenchConfig config) {
  ResolveDefaults(config);
  if (Status st = ValidateConfig(config); !st.ok()) {
    std::cerr << "benchmark_backends: " << st.message() << "\n";
    return 1;
  }
  InstallInterruptHandlers();  // Ctrl-C: stop sending, still write the JSON
  std::cout << "benchmark_backends: backend=" << config.backend << " iterations=" << config.iterations
            << " batch_sizes=" << config.batch_sizes << " concurrency=" << config.concurrency
            << " concurrent_requests=" << config.concurrent_requests << "\n";
  std::string description, error;
  auto inputs = MakeRunInputs(config, &description);
  if (!inputs.ok()) {
    error = inputs.status().message();
    std::cout << "  ! inputs: " << error << "\n";
  } else {
    std::cout << "inputs: " << description << "\n";
  }
  const RunInputs* in = inputs.ok() ? &*inputs : nullptr;
  if (!config.protocols.empty()) return RunProtocolComparison(config, in, description, error);
  json doc = RunOnce(config, in, description, error);
  if (!WriteOrPrint(doc, config.output)) return 1;
  std::cout.flush();
  return doc["failures"].empty() ? 0 : 2;
}

namespace {
std::vector<json> LoadAll(const std::vector<std::string>& files, bool& ok) {
  std::vector<json> docs;
  ok = true;
  for (const auto& f : files) {
    auto d = ReadJsonFile(f);
    if (!d.ok()) {
      std::cerr << "benchmark_backends: " << d.status().message() << "\n";
      ok = false;
      docs.emplace_back(json::object());
    } else {
      docs.push_back(std::move(*d));
    }
  }
  return docs;
}

std::vector<std::pair<std::string, const json*>> Named(const std::vector<std::string>& files, const std::vector<json>& docs) {
  std::vector<std::pair<std::string, const json*>> out;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto slash = files[i].find_last_of('/');
    out.emplace_back(slash == std::string::npos ? files[i] : files[i].substr(slash + 1), &docs[i]);
  }
  return out;
}
}  // namespace

int CompareCommand(const std::vector<std::string>& files) {
  bool ok = false;
  auto docs = LoadAll(files, ok);
  if (!ok) return 1;
  auto views = CollectBackends(Named(files, docs));
  if (views.empty()) {
    std::cerr << "benchmark_backends compare: no pytorch/triton results in these files\n";
    return 1;
  }
  PrintCompareTable(BuildCompareTable(views), std::cout);
  std::cout << "\nTrade-offs (from the measured numbers):\n";
  for (const auto& t : DeriveTradeoffs(views)) std::cout << "  - " << t << "\n";
  return 0;
}

int ValidateCommand(const std::vector<std::string>& files) {
  bool all_ok = true;
  for (const auto& f : files) {
    auto d = ReadJsonFile(f);
    if (!d.ok()) {
      std::cout << f << ": INVALID - " << d.status().message() << "\n";
      all_ok = false;
      continue;
    }
    ValidationReport r = ValidateResult(*d);
    std::cout << f << ": " << (r.ok() ? "OK" : "INVALID") << "\n";
    for (const auto& m : r.missing) std::cout << "  missing: " << m << "\n";
    for (const auto& w : r.warnings) std::cout << "  warning: " << w << "\n";
    all_ok &= r.ok();
  }
  return all_ok ? 0 : 1;
}

int ReportCommand(const std::vector<std::string>& files, const std::string& html_path) {
  bool ok = false;
  auto docs = LoadAll(files, ok);
  if (!ok) return 1;
  const std::string html = RenderHtmlReport(Named(files, docs));
  std::ofstream out(html_path, std::ios::trunc);
  if (!out || !(out << html)) {
    std::cerr << "benchmark_backends report: cannot write '" << html_path << "'\n";
    return 1;
  }
  std::cout << "wrote " << html_path << " (" << html.size() << " bytes)\n";
  return 0;
}

}  // namespace clipserve::bench::app
