// Batcher overhead with an engine that does nothing: what the queue, the
// worker hand-off, gather/scatter and the stats cost per request.
//
//   build/bench/batching/batching_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstring>

#include "batching/batcher.h"
#include "metrics/model_stats.h"

namespace clipserve::batching {
namespace {

// Writes a constant row per image: no compute, so the timings are the
// batcher's own.
class NoopEngine final : public engine::Engine {
 public:
  explicit NoopEngine(int image_size) {
    info_.image_size = image_size;
    info_.embed_dim = 512;
  }
  const engine::EngineInfo& info() const override { return info_; }
  Status Embed(std::span<const float>, int, std::span<float> out) override {
    std::memset(out.data(), 0, out.size_bytes());
    return Status::Ok();
  }

 private:
  engine::EngineInfo info_;
};

std::unique_ptr<Batcher> MakeBatcher(int image_size, metrics::ModelStats* stats, int instances = 1) {
  BatcherOptions options;
  options.config.max_batch_size = 32;
  options.config.instance_count = instances;
  options.stats = stats;
  std::vector<std::unique_ptr<engine::Engine>> engines;
  for (int i = 0; i < instances; ++i) engines.push_back(std::make_unique<NoopEngine>(image_size));
  return std::move(Batcher::Create(std::move(options), std::move(engines))).value();
}

void BM_DecideBatch(benchmark::State& state) {
  BatcherConfig config;
  config.preferred_batch_sizes = {4, 8, 16, 32};
  config.max_queue_delay = Microseconds(10000);
  std::vector<PendingRequestView> queue(static_cast<std::size_t>(state.range(0)));
  for (auto& r : queue) r.images = 1;
  const SteadyTime now{};
  for (auto _ : state) benchmark::DoNotOptimize(DecideBatch(config, queue, now));
}
BENCHMARK(BM_DecideBatch)->Arg(1)->Arg(7)->Arg(64);

// The pixel buffer a caller hands over: allocation + fill, measured alone so
// it can be subtracted from the Submit benchmarks below.
void BM_PixelBufferOnly(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::vector<float> px(3ull * s * s, 0.5f);
    benchmark::DoNotOptimize(px.data());
  }
}
BENCHMARK(BM_PixelBufferOnly)->Arg(8)->Arg(224);

// One request at a time: Submit, then wait for the result. Includes the
// wake-up of the worker thread and of the waiting caller.
void BM_SubmitSequential(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  metrics::ModelStats stats("m", "1", 32);
  auto batcher = MakeBatcher(s, state.range(1) ? &stats : nullptr);
  for (auto _ : state) {
    auto r = batcher->Submit(std::vector<float>(3ull * s * s, 0.5f), 1).get();
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
  }
  state.counters["stats"] = static_cast<double>(state.range(1));
}
BENCHMARK(BM_SubmitSequential)->Args({8, 0})->Args({8, 1})->Args({224, 1})->UseRealTime();

// Many callers at once on one batcher (threads share it through a static).
std::unique_ptr<Batcher> g_shared;
metrics::ModelStats g_stats("m", "1", 32);

void BM_SubmitConcurrent(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  if (state.thread_index() == 0) g_shared = MakeBatcher(s, &g_stats);
  // Threads start together after the setup above (benchmark barrier).
  std::uint64_t before_exec = 0;
  if (state.thread_index() == 0) before_exec = g_stats.Snapshot().execution_count;
  const std::uint64_t before_images = g_stats.Snapshot().inference_count;
  for (auto _ : state) {
    auto r = g_shared->Submit(std::vector<float>(3ull * s * s, 0.5f), 1).get();
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const auto snap = g_stats.Snapshot();
    const double execs = static_cast<double>(snap.execution_count - before_exec);
    state.counters["mean_batch"] = execs > 0 ? static_cast<double>(snap.inference_count - before_images) / execs : 0;
    (void)g_shared->Shutdown(Microseconds(1000000));
    g_shared.reset();
  }
}
BENCHMARK(BM_SubmitConcurrent)->Arg(8)->Arg(224)->Threads(1)->Threads(4)->Threads(16)->UseRealTime();

}  // namespace
}  // namespace clipserve::batching

BENCHMARK_MAIN();
