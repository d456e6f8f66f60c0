#!/usr/bin/env bash
# Side-by-side server vs engine measurements for docs/perf/server.md.
# Usage: run_server_perf.sh BUILD_DIR IMAGE.jpg [PRECISION] [THREADS] [WEIGHTS]
set -euo pipefail
BUILD=${1:?build dir}; IMAGE=${2:?jpeg}; PREC=${3:-bf16}; THREADS=${4:-2}; WEIGHTS=${5:-random:1}
BIN=$BUILD/apps/clip-server
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== engine in-process (ViT-B-32 $PREC, $THREADS threads)"
$BIN/clip-engine-throughput --model ViT-B-32 --weights "$WEIGHTS" --precision "$PREC" --threads "$THREADS" \
  --batch-sizes 1,16,32 --iterations 5

echo "== clip-server (KServe dynamic batching on, delay 0, REST off batching)"
OUT=$(mktemp); ERR=$(mktemp)
$BIN/clip-server --model ViT-B-32 --weights "$WEIGHTS" --precision "$PREC" --threads "$THREADS" \
  --rest-port 0 --http-port 0 --metrics-port 0 --access-log off --background-warmup off >"$OUT" 2>"$ERR" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$OUT" "$ERR"' EXIT
until grep -q "ready in" "$OUT"; do sleep 0.1; kill -0 $PID; done
cat "$OUT"
HTTP=$(grep -o 'http=[^ ]*' "$OUT" | cut -d: -f2); REST=$(grep -o 'rest=[^ ]*' "$OUT" | cut -d: -f2)
echo "-- sequential, v2 image model (encoded JPEG, preprocessed on the server)"
$BIN/clip-server-load --port "$HTTP" --mode v2-image --image "$IMAGE" --concurrency 1 --requests 12 --warmup 2
echo "-- sequential, REST /embed/base64"
$BIN/clip-server-load --port "$REST" --mode rest --image "$IMAGE" --concurrency 1 --requests 12 --warmup 1
echo "-- concurrency 16, v2 image model, dynamic batching"
$BIN/clip-server-load --port "$HTTP" --mode v2-image --image "$IMAGE" --concurrency 16 --requests 64 --warmup 1
curl -s "http://127.0.0.1:$HTTP/v2/models/openclip_vit_b32_image/stats" | head -c 600; echo
echo "== engine in-process again (batch 1, 16)"
$BIN/clip-engine-throughput --model ViT-B-32 --weights "$WEIGHTS" --precision "$PREC" --threads "$THREADS" \
  --batch-sizes 1,16 --iterations 5
echo "== done $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
