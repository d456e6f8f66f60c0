// Prometheus text exposition (bench/prometheus): ParsePrometheusText on a
// scrape, then the Triton counters the runner extracts and diffs.
#include <algorithm>
#include <cmath>

#include "bench/prometheus.h"
#include "fuzz_support.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::AsText(data, size);
  const bench::PromParseResult result = bench::ParsePrometheusText(text);
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  FUZZ_CHECK(result.malformed_lines >= 0);
  FUZZ_CHECK(result.samples.size() + static_cast<std::size_t>(result.malformed_lines) <= lines);
  for (const auto& sample : result.samples) FUZZ_CHECK(!sample.name.empty());
  const auto counters = bench::ExtractTritonCounters(result.samples, "openclip_vit_b32");
  (void)bench::DiffCounters(counters, counters);
  (void)bench::SumMetric(result.samples, "nv_inference_count", {{"model", "openclip_vit_b32"}});
  return 0;
}
