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

int RunBenchmarkCommand(BenchConfig config) {
  ResolveDefaults(config);
  if (Status st = ValidateConfig(config); !st.ok()) {
    std::cerr << "benchmark_backends: " << st.message() << "\n";
    return 1;
  }
  InstallInterruptHandlers();  // Ctrl-C: stop sending, still write the JSON
  RunResult result;
  result.config = config;
  result.timestamp = IsoTimestampNow();
  result.host = QueryHost();
  result.gpu_specs = QueryGpuSpecs();
  result.gpu_before = QueryGpuState();
  result.image_source = config.images_dir.empty() ? "synthetic" : config.images_dir;
  std::cout << "benchmark_backends: backend=" << config.backend << " iterations=" << config.iterations
            << " batch_sizes=" << config.batch_sizes << " concurrency=" << config.concurrency
            << " concurrent_requests=" << config.concurrent_requests << "\n";
  std::vector<std::string> setup_failures;
  auto inputs = MakeRunInputs(config, &result.inputs_description);
  if (!inputs.ok()) {
    setup_failures.push_back("inputs: " + inputs.status().message());
    std::cout << "  ! inputs: " << inputs.status().message() << "\n";
  } else {
    std::cout << "inputs: " << result.inputs_description << "\n";
    for (const auto& backend : SelectedBackends(config)) {
      std::cout << "running " << backend << " against "
                << (backend == "triton" ? config.triton_url : config.pytorch_url) << "\n";
      result.backends.push_back(RunBackend(config, backend, *inputs, std::cout));
    }
  }
  result.gpu_after = QueryGpuState();

  json doc = BuildResultJson(result);
  for (const auto& f : setup_failures) doc["failures"].push_back(f);
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
  if (Status st = WriteJsonFile(doc, config.output); !st.ok()) {
    std::cerr << "benchmark_backends: " << st.message() << "\n";
    std::cout << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";  // never lose the results
    return 1;
  }
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
