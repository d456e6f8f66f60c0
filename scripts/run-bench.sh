#!/usr/bin/env bash
# Runs the micro-benchmarks (the commands behind docs/PERFORMANCE.md §1-2 and
# docs/perf/batching.md) from a build directory, one after another so they do
# not disturb each other. Usage: scripts/run-bench.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
for b in image/image_bench forward/forward_bench batching/batching_bench; do
  [ -x "$build/bench/$b" ] || { echo "run-bench: $build/bench/$b not built (make build)" >&2; exit 1; }
done
echo "== load: $(uptime)"
echo "== image pipeline (1920x1080 JPEG -> model tensor, one thread)"
"$build/bench/image/image_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
echo "== forward vs measured GEMM peak (ViT-B-32, 2 threads)"
"$build/bench/forward/forward_bench" --threads 2 --batches 1,4,8,16,32 --dtypes fp32,bf16 \
  --backends onednn,aten --min-seconds 2
echo "== batcher overhead (no-op engine)"
"$build/bench/batching/batching_bench" --benchmark_min_time=0.2
