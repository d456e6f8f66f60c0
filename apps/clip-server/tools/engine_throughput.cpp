// clip-engine-throughput: the engine's in-process speed, the reference the
// server's HTTP numbers are compared with (docs/perf/server.md).
//
// For each batch size: warm-up runs, then timed Embed calls on one engine;
// prints per-call p50 and images/s, and the best images/s over all sizes.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/engine.h"

int main(int argc, char** argv) {
  namespace engine = clipserve::engine;
  CLI::App app{"clip-engine-throughput: in-process Engine::Embed timing per batch size"};
  engine::EngineOptions o;
  std::string precision = "auto";
  std::string device = "cpu";
  std::vector<int> batch_sizes = {1, 4, 8, 16, 32};
  int iterations = 10;
  app.add_option("--model", o.model, "Built-in ViT config (default ViT-B-32)");
  app.add_option("--weights", o.weights, "Weights file or random:SEED (default random:0)");
  app.add_option("--precision", precision, "auto | fp32 | bf16 | fp16 (default auto)");
  app.add_option("--device", device, "cpu | cuda | cuda:N (default cpu)");
  app.add_option("--threads", o.threads, "Intra-op threads; 0 = all cores (default 0)");
  app.add_option("--batch-sizes", batch_sizes, "Batch sizes (default 1,4,8,16,32)")->delimiter(',');
  app.add_option("--iterations", iterations, "Timed calls per batch size (default 10)");
  std::string engine_kind = "torch";
  app.add_option("--engine", engine_kind, "torch | null (default torch; null: no model, a fixed unit vector)")
      ->check(CLI::IsMember({"torch", "null"}));
  CLI11_PARSE(app, argc, argv);
  auto p = engine::ParsePrecision(precision);
  if (!p.ok()) {
    std::fprintf(stderr, "%s\n", p.status().message().c_str());
    return 2;
  }
  o.precision = *p;
  if (auto colon = device.find(':'); colon != std::string::npos) {
    o.device_index = std::atoi(device.c_str() + colon + 1);
    device.resize(colon);
  }
  auto d = engine::ParseDeviceKind(device);
  if (!d.ok()) {
    std::fprintf(stderr, "%s\n", d.status().message().c_str());
    return 2;
  }
  o.device = *d;
  o.null_engine = engine_kind == "null";
  auto e = engine::CreateEngine(o);
  if (!e.ok()) {
    std::fprintf(stderr, "%s\n", e.status().message().c_str());
    return 1;
  }
  const auto& info = (*e)->info();
  std::printf("engine: %s %s (requested %s) %s threads=%d image=%d dim=%d\ncpu: %s, %s\ncompute: %s\n",
              info.model_name.c_str(), std::string(engine::PrecisionName(info.precision)).c_str(),
              std::string(engine::PrecisionName(info.requested_precision)).c_str(),
              std::string(engine::DeviceKindName(info.device)).c_str(), info.threads, info.image_size, info.embed_dim,
              info.cpu_model.c_str(), info.cpu_isa.c_str(), info.compute.c_str());
  double best = 0;
  int best_batch = 0;
  for (int b : batch_sizes) {
    std::vector<float> pixels(3ull * info.image_size * info.image_size * b, 0.5f);
    std::vector<float> out(static_cast<size_t>(info.embed_dim) * b);
    for (int i = 0; i < 2; ++i) (void)(*e)->Embed(pixels, b, out);
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      auto st = (*e)->Embed(pixels, b, out);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!st.ok()) {
        std::fprintf(stderr, "Embed failed: %s\n", st.message().c_str());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    const double p50 = ms[ms.size() / 2];
    const double ips = b * 1000.0 / p50;
    std::printf("batch %2d: p50 %8.2f ms  min %8.2f ms  %7.1f images/s\n", b, p50, ms.front(), ips);
    if (ips > best) {
      best = ips;
      best_batch = b;
    }
  }
  std::printf("best: %.1f images/s at batch %d\n", best, best_batch);
  return 0;
}
