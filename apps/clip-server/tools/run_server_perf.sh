#!/usr/bin/env bash
# Server vs engine, measured side by side, for docs/perf/server.md.
# Usage: run_server_perf.sh BUILD_DIR IMAGE.jpg [PRECISION] [THREADS] [WEIGHTS] [ROUNDS]
# Rounds interleave engine-only and server runs, so both see the same
# machine load (the shared build machine is noisy).
# Env: SERVER_FLAGS (extra clip-server flags for the ViT runs, e.g.
# "--max-queue-delay-us 100000"), SKIP_TINY=1 (skip the tiny-model overhead part).
set -euo pipefail
BUILD=${1:?build dir}; IMAGE=${2:?jpeg}; PREC=${3:-bf16}; THREADS=${4:-2}; WEIGHTS=${5:-random:1}; ROUNDS=${6:-2}
BIN=$BUILD/apps/clip-server
load() { cut -d' ' -f1-3 /proc/loadavg; }

start_server() {  # start_server OUTFILE flags...
  local out=$1; shift
  $BIN/clip-server --rest-port 0 --http-port 0 --grpc-port -1 --metrics-port 0 --access-log off --background-warmup off "$@" >"$out" 2>/dev/null &
  echo $!
}
wait_ready() { until grep -q "ready in" "$1"; do sleep 0.1; done; }
port_of() { grep -o "$2=[^ ]*" "$1" | cut -d: -f2; }

echo "== $(date -u +%FT%TZ) $(nproc) cores, load $(load)"
OUT=$(mktemp)
PID=$(start_server "$OUT" --model ViT-B-32 --weights "$WEIGHTS" --precision "$PREC" --threads "$THREADS" ${SERVER_FLAGS:-})
echo "server flags: ${SERVER_FLAGS:-(defaults)}"
trap 'kill $PID 2>/dev/null || true' EXIT
wait_ready "$OUT"; cat "$OUT"
HTTP=$(port_of "$OUT" http); REST=$(port_of "$OUT" rest)
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r, load $(load)"
  echo "-- engine in-process (ViT-B-32 $PREC, $THREADS threads)"
  $BIN/clip-engine-throughput --model ViT-B-32 --weights "$WEIGHTS" --precision "$PREC" --threads "$THREADS" \
    --batch-sizes 1,16 --iterations 3
  echo "-- server: concurrency 16, v2 image model, dynamic batching"
  $BIN/clip-server-load --port "$HTTP" --mode v2-image --image "$IMAGE" --concurrency 16 --requests 64 --warmup 1
  curl -s "http://127.0.0.1:$HTTP/v2/models/openclip_vit_b32_image/stats" | grep -o '"batch_size":[0-9]*,"compute_infer":{"count":[0-9]*' | sed 's/"compute_infer":{"count"/ executions/' | tr '\n' ' '; echo
  echo "-- server: sequential, v2 image model"
  $BIN/clip-server-load --port "$HTTP" --mode v2-image --image "$IMAGE" --concurrency 1 --requests 10 --warmup 1
  echo "-- server: sequential, REST /embed/base64"
  $BIN/clip-server-load --port "$REST" --mode rest --image "$IMAGE" --concurrency 1 --requests 10 --warmup 1
done
kill $PID; wait $PID 2>/dev/null || true
[ "${SKIP_TINY:-0}" = 1 ] && exit 0

echo "== overhead with a tiny model (test-tiny: compute ~1 ms), load $(load)"
OUT2=$(mktemp)
PID=$(start_server "$OUT2" --model test-tiny --weights random:1 --threads 1)
wait_ready "$OUT2"
HTTP=$(port_of "$OUT2" http); REST=$(port_of "$OUT2" rest)
for mode in v2-image rest; do
  port=$HTTP; [ $mode = rest ] && port=$REST
  echo "-- sequential $mode"
  $BIN/clip-server-load --port "$port" --mode $mode --image "$IMAGE" --concurrency 1 --requests 500 --warmup 20 --image-size 32
done
echo "-- v2-tensor sequential (binary FP32 [1,3,32,32])"
$BIN/clip-server-load --port "$HTTP" --mode v2-tensor --image "$IMAGE" --concurrency 1 --requests 500 --warmup 20 --image-size 32
echo "-- concurrency 16 v2-image"
$BIN/clip-server-load --port "$HTTP" --mode v2-image --image "$IMAGE" --concurrency 16 --requests 2000 --warmup 5
if command -v wrk >/dev/null; then
  echo "-- 256 concurrent keep-alive clients on /v2/health/live (wrk, 5 s)"
  wrk -t2 -c256 -d5s --latency "http://127.0.0.1:$HTTP/v2/health/live" | grep -E "Requests/sec|Socket errors|Non-2xx|50%|99%|requests in"
fi
kill $PID; wait $PID 2>/dev/null || true
echo "== done $(date -u +%FT%TZ), load $(load)"
