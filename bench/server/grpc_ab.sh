#!/usr/bin/env bash
# grpc_ab.sh A_BIN B_BIN [ROUNDS]: two clip-server binaries alternating
# (--engine null ViT-B-32, KServe v2 over gRPC): server CPU per
# single-image request (3000 at concurrency 8) and batch-32 FP32 latency
# and server CPU (20 requests), from the runner over gRPC. The A/B of the
# gRPC zero-copy tensor path (docs/PERFORMANCE.md §11).
set -euo pipefail
A=$(readlink -f "$1"); B=$(readlink -f "$2"); ROUNDS=${3:-3}
BENCH=${BENCH:-$(cd "$(dirname "$0")/../.." && pwd)/build/apps/benchmark_backends/benchmark_backends}
OUT=$(mktemp -d)
hz=$(getconf CLK_TCK)
echo "load: $(uptime)"
for round in $(seq "$ROUNDS"); do for label in A B; do
  bin=$A; [ "$label" = B ] && bin=$B
  "$bin" --api kserve --engine null --model ViT-B-32 --http-port 0 --grpc-port 0 --metrics-port -1 \
    --access-log off >"$OUT/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q 'ready in' "$OUT/log" && break; sleep 0.1; done
  g=$(grep -o 'grpc=[^ ]*' "$OUT/log" | cut -d= -f2)
  common=(--backend triton -i grpc --triton-grpc-url "$g" --triton-metrics-url '' --probe-images 0 --no-progress)
  c0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  "$BENCH" "${common[@]}" --iterations 1 --warmup 0 --batch-sizes 1 --concurrency 8 --concurrent-requests 3000 \
    --output "$OUT/single.json" >/dev/null
  c1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  "$BENCH" "${common[@]}" --iterations 20 --batch-sizes 32 --concurrent-requests 0 --output "$OUT/b32.json" >/dev/null
  c2=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  /usr/bin/python3 - "$OUT" "$label" "$c0" "$c1" "$c2" "$hz" <<'PY'
import json, sys
out, label, c0, c1, c2, hz = sys.argv[1:]
a = json.load(open(f"{out}/single.json"))["triton"]
b = json.load(open(f"{out}/b32.json"))["triton"]
n1 = 3000 + 1 + 1      # the concurrent phase, the single phase (1, no warm-up), the first request
n2 = 1 + 23 + 23       # the first request, single and batch_32 phases with 3 warm-ups each
tick = 1.0 / float(hz)
print(f"{label} single-image server CPU {(float(c1) - float(c0)) * tick * 1e6 / n1:.0f} us/req, "
      f"concurrent {a['concurrent']['throughput_rps']:.0f} rps | batch-32 server CPU "
      f"{(float(c2) - float(c1)) * tick * 1e3 / n2:.2f} ms/req, mean {b['batch_32']['mean_ms']:.1f} ms "
      f"(p50 {b['batch_32']['p50_ms']:.1f})")
PY
done; done
echo "load: $(uptime)"
rm -rf "$OUT"
