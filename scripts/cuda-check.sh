#!/usr/bin/env bash
# GPU checks, on a machine with an NVIDIA GPU and an official CUDA LibTorch
# (for example the one inside a pip-installed torch, or a libtorch zip):
#   1. build clipserve against it (build-cuda/),
#   2. run the CUDA engine tests (GPU vs CPU embeddings, every precision),
#   3. time the engine in process per batch size on the GPU,
#   4. run the whole checklist against clip-server on the GPU.
#
#   scripts/cuda-check.sh [OUT_DIR]
#
# Environment:
#   TORCH_PREFIX   LibTorch's cmake prefix (default: python3's torch.utils.cmake_prefix_path)
#   EXTRA_PREFIX   more CMAKE_PREFIX_PATH entries (';'-separated)
#   PRECISION      engine precision on the GPU (default fp16)
#   ITERATIONS, CONCURRENCY, CONCURRENT_REQUESTS   checklist settings (default 50, 16, 200:
#                  the checklist's recommended baseline)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-cuda_results}
mkdir -p "$out"
torch_prefix=${TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')}
precision=${PRECISION:-fp16}
build=build-cuda
jobs=$(nproc)
status=0

echo "== configure against $torch_prefix"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;${EXTRA_PREFIX:-}" \
  -DCLIPSERVE_ONEDNN=OFF -DCLIPSERVE_BUILD_BENCH=OFF \
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" \
  > "$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }

echo "== build"
cmake --build "$build" -j "$jobs" --target clip-server benchmark_backends clip-engine-throughput \
  cuda_engine_test engine_test > "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -40; exit 1; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.csv"

echo "== CUDA engine tests"
# A failing test is reported, and the timing steps still run.
"$build/tests/cuda/cuda_engine_test" 2>&1 | tee "$out/cuda_engine_test.txt" || status=1
"$build/tests/engine/engine_test" --gtest_brief=1 2>&1 | tail -5 | tee "$out/engine_test.txt" || status=1

echo "== in-process engine throughput"
for p in fp32 "$precision"; do
  "$build/apps/clip-server/clip-engine-throughput" --device cuda --precision "$p" \
    --batch-sizes 1,4,8,16,32,64 --iterations 50 2>&1 | tee "$out/engine_throughput_$p.txt" || status=1
done

echo "== checklist on the GPU"
bash scripts/run-checklist.sh --no-build --build-dir "$build" --device cuda --precision "$precision" \
  --iterations "${ITERATIONS:-50}" --concurrency "${CONCURRENCY:-16}" \
  --concurrent-requests "${CONCURRENT_REQUESTS:-200}" --out "$out/checklist" 2>&1 | tee "$out/checklist.txt" || status=1
exit $status
