#!/usr/bin/env bash
# allocs_per_request.sh [BUILD_DIR]: C++ heap allocations (operator new calls
# and bytes) per request in clip-server --engine null, for three requests:
# v2 FP32 [1,3,32,32] binary (test-tiny), v2 FP32 [32,3,224,224] binary
# (19.3 MB, ViT-B-32) and v2 BYTES with one 1080p JPEG (ViT-B-32).
# The server runs with the LD_PRELOAD shim bench/alloc/alloc_count.cpp;
# SIGUSR2 before and after N sequential keep-alive requests gives the delta.
# Needs the request bodies of bench/server/make_bodies.py in $INPUTS.
set -euo pipefail
BUILD=$(readlink -f "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
N=${N:-200}
SHIM=$BUILD/bench/alloc/libclipserve_alloc_count.so
BIN=$BUILD/apps/clip-server/clip-server
PY=/usr/bin/python3
[[ -f $SHIM ]] || { echo "build the shim first: cmake --build $BUILD --target clipserve_alloc_count" >&2; exit 1; }
if [[ ! -f $INPUTS/fp32_1x3x32x32.bin ]]; then
  mkdir -p "$INPUTS"
  $PY "$ROOT/bench/server/make_photo_jpeg.py" "$INPUTS/photo1080p.jpg" 2>/dev/null || true
  $PY "$ROOT/bench/server/make_bodies.py" "$INPUTS" "$INPUTS"/*.jpg
fi

run() {  # label model body path n
  local label=$1 model=$2 body=$3 path=$4 n=$5 log port
  log=$(mktemp)
  LD_PRELOAD=$SHIM "$BIN" --api kserve --engine null --model "$model" --weights random:1 --http-port 0 \
    --metrics-port -1 --access-log off --background-warmup off >"$log.out" 2>"$log" &
  local pid=$!
  for _ in $(seq 200); do grep -q "listening" "$log.out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/.*http=[^:]*:\([0-9]*\).*/\1/p' "$log.out")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break; sleep 0.05; done
  $PY "$ROOT/bench/server/seq_client.py" --port "$port" --path "$path" --body "$body" --ihcl "$(cat "$body.ihcl")" \
    --n 20 --warmup 0 >/dev/null
  kill -USR2 "$pid"; sleep 0.2
  $PY "$ROOT/bench/server/seq_client.py" --port "$port" --path "$path" --body "$body" --ihcl "$(cat "$body.ihcl")" \
    --n "$n" --warmup 0 >/dev/null
  kill -USR2 "$pid"; sleep 0.2
  kill "$pid"; wait "$pid" 2>/dev/null || true
  grep alloc_count "$log" | tail -2 | awk -v label="$label" -v n="$n" -v size="$(stat -c %s "$body")" '
    { split($2, a, "="); split($3, b, "="); news[NR] = a[2]; bytes[NR] = b[2] }
    END { printf "ALLOCS %-22s body=%d B  news/request=%.1f  bytes/request=%.0f (%.2f x body)\n", label, size,
          (news[2] - news[1]) / n, (bytes[2] - bytes[1]) / n, (bytes[2] - bytes[1]) / n / size }'
  rm -f "$log" "$log.out"
}

run fp32_1x3x32x32 test-tiny "$INPUTS/fp32_1x3x32x32.bin" /v2/models/openclip_vit_b32/infer "$N"
run fp32_32x3x224x224 ViT-B-32 "$INPUTS/fp32_32x3x224x224.bin" /v2/models/openclip_vit_b32/infer 30
run jpeg_1080p ViT-B-32 "$INPUTS/jpeg_photo1080p.bin" /v2/models/openclip_vit_b32_image/infer 50
