#!/usr/bin/env bash
# grpc_vs_http.sh [ROUNDS] [ENGINE]: KServe v2 over HTTP against KServe v2
# over gRPC on one clip-server (issue 11), the two protocols alternating in
# one run, ROUNDS times (default 3). ENGINE: null (default; the server path
# alone) or torch (ViT-B/32 with built-in random weights: the model's cost
# as well). Per protocol and round, two runner invocations:
#   - latency: benchmark_backends with single / batch_32 / concurrent
#     phases (FP32 tensors), its JSON kept;
#   - server CPU: a phase of single-image requests at concurrency 8; the
#     server's utime+stime (/proc) over the requests it counted
#     (nv_inference_request_success), so warm-ups and probes are included
#     on both sides alike.
# One SUMMARY line per protocol and round. Server and runner are unpinned;
# the runner and the server share the machine's CPUs.
set -euo pipefail
ROUNDS=${1:-3}
ENGINE=${2:-null}
BUILD=${BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SERVER=$BUILD/apps/clip-server/clip-server
BENCH=$BUILD/apps/benchmark_backends/benchmark_backends
OUT=${OUT:-/tmp/grpc_vs_http}
mkdir -p "$OUT"
if [ "$ENGINE" = null ]; then
  ITER=30; CREQ=2000; CPU_REQ=4000
else
  ITER=6; CREQ=64; CPU_REQ=64
fi
log=$OUT/server.log
"$SERVER" --api kserve --host 127.0.0.1 --http-port 0 --grpc-port 0 --metrics-port 0 --engine "$ENGINE" \
  --model ViT-B-32 --background-warmup off --access-log off >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q "ready in" "$log" && break; sleep 0.1; done
http=$(grep -o "http=[^ ]*" "$log" | head -1 | cut -d= -f2)
grpc=$(grep -o "grpc=[^ ]*" "$log" | head -1 | cut -d= -f2)
metrics=$(grep -o "metrics=[^ ]*" "$log" | head -1 | cut -d= -f2)
echo "server pid $pid http=$http grpc=$grpc metrics=$metrics engine=$ENGINE"
echo "load: $(uptime)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
served() {
  curl -s "http://$metrics/metrics" | awk '/^nv_inference_request_success\{model="openclip_vit_b32"/ {s += $2} END {print s + 0}'
}
hz=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for proto in http grpc; do
    common=(--backend triton --triton-protocol "$proto" --triton-url "http://$http" --triton-grpc-url "$grpc"
            --triton-metrics-url "http://$metrics/metrics" --no-progress --probe-images 1)
    lat=$OUT/${ENGINE}_${proto}_r$round.json
    "$BENCH" "${common[@]}" --iterations "$ITER" --batch-sizes 32 --concurrency 8 --concurrent-requests "$CREQ" \
      --output "$lat" >/dev/null
    c0=$(cpu_ticks); n0=$(served)
    "$BENCH" "${common[@]}" --iterations 1 --warmup 0 --batch-sizes 1 --concurrency 8 \
      --concurrent-requests "$CPU_REQ" --output "$OUT/${ENGINE}_${proto}_cpu_r$round.json" >/dev/null
    c1=$(cpu_ticks); n1=$(served)
    /usr/bin/python3 - "$lat" "$proto" "$round" "$c0" "$c1" "$n0" "$n1" "$hz" <<'PY'
import json, sys
lat, proto, rnd, c0, c1, n0, n1, hz = sys.argv[1:]
t = json.load(open(lat))["triton"]
req = float(n1) - float(n0)
cpu_us = (float(c1) - float(c0)) / float(hz) * 1e6 / req if req > 0 else float("nan")
print(f"SUMMARY {proto:4s} round {rnd}: single p50 {t['single']['p50_ms']:.3f} ms, "
      f"batch_32 mean {t['batch_32']['mean_ms']:.2f} ms (p50 {t['batch_32']['p50_ms']:.2f}), "
      f"concurrent {t['concurrent']['throughput_rps']:.1f} req/s (p50 {t['concurrent']['p50_ms']:.2f} ms), "
      f"server CPU {cpu_us:.0f} us/request over {req:.0f} requests, "
      f"runner CPU {t['client_cpu']['cpu_us_per_request']:.0f} us/request")
PY
  done
done
echo "load: $(uptime)"
