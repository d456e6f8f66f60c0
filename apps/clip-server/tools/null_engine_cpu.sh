#!/usr/bin/env bash
# Server CPU per request with --engine null (the server path without a
# model): v2 FP32 [1,3,32,32] binary tensors (test-tiny sizes), 8 closed-loop
# clients of benchmark_backends; CPU from /proc/PID/stat (10 ms ticks).
# Usage: null_engine_cpu.sh [BUILD_DIR] [REQUESTS]
set -euo pipefail
B=${1:-build}; N=${2:-4000}
out=$(mktemp)
$B/apps/clip-server/clip-server --engine null --model test-tiny --api kserve --http-port 0 --grpc-port -1 --metrics-port -1 \
  --access-log off --background-warmup off --threads 1 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until grep -q "ready in" "$out"; do sleep 0.05; done
port=$(grep -o "http=[^ ]*" "$out" | cut -d: -f2)
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
$B/apps/benchmark_backends/benchmark_backends --backend triton --triton-url http://127.0.0.1:$port \
  --image-size 32 --iterations 1 --batch-sizes 1 --concurrency 8 --concurrent-requests $N \
  --output /tmp/null_cpu.json > /tmp/null_cpu.txt 2>&1 || true
t1=$(ticks)
reqs=$(/usr/bin/python3 -c "import json; d=json.load(open('/tmp/null_cpu.json')); c=d['triton']['concurrent']; print(c['successful'], round(c['throughput_rps'],1), c['p50_ms'])")
echo "server CPU ticks $((t1 - t0)) at $hz Hz over the whole run; concurrent: successful, rps, p50 = $reqs"
/usr/bin/python3 -c "
t=$((t1 - t0)); hz=$hz; n=$N + 1 + 1 + 20
print(f'server CPU per request (all phases, {n} requests): {t/hz/n*1e6:.0f} us')"
