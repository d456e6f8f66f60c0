// Cost of the non-finite check on FP32 request tensors (clip-server runs it
// on every v2 FP32 input): bytes per second over a finite tensor, the case
// every valid request pays for.
//   build/bench/common/finite_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <vector>

#include "common/finite.h"

namespace {

void BM_FirstNonFinite(benchmark::State& state) {
  // Images of [3, 224, 224] floats: 602 KB each.
  std::vector<float> v(static_cast<std::size_t>(state.range(0)) * 3 * 224 * 224, 0.5f);
  for (auto _ : state) benchmark::DoNotOptimize(clipserve::FirstNonFinite(v));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(v.size() * sizeof(float)));
}
BENCHMARK(BM_FirstNonFinite)->Arg(1)->Arg(32);

}  // namespace

BENCHMARK_MAIN();
