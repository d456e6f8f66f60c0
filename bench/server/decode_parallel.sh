#!/usr/bin/env bash
# decode_parallel.sh A_BIN B_BIN [ROUNDS]: one request of 8 1080p JPEGs
# (jpeg8_photo1080p.bin of make_bodies.py), --engine null --model ViT-B-32,
# N sequential requests (default 15) per binary, A and B alternating, neither
# pinned (the decode pool needs the cores): end-to-end p50, Server-Timing
# preprocess p50 and server CPU per request, from seq_client.py.
set -euo pipefail
A=$(readlink -f "$1"); B=$(readlink -f "$2"); ROUNDS=${3:-2}; N=${N:-15}
HERE=$(cd "$(dirname "$0")" && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
BODY=$INPUTS/jpeg8_photo1080p.bin
[[ -f $BODY ]] || { echo "no $BODY: run make_bodies.py OUTDIR photo1080p.jpg first" >&2; exit 1; }
one() {
  local bin=$1 label=$2 out pid port
  out=$(mktemp)
  "$bin" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off \
    --threads 1 --engine null --model ViT-B-32 --access-log off ${SERVER_ARGS:-} >"$out" 2>/dev/null &
  pid=$!
  until grep -q "ready in" "$out" && grep -q "http=" "$out"; do sleep 0.1; done
  port=$(grep -o "http=[^ ]*" "$out" | head -1 | cut -d: -f2)
  echo "DECODE8 $label $(/usr/bin/python3 "$HERE/seq_client.py" --port "$port" --path /v2/models/openclip_vit_b32_image/infer \
    --body "$BODY" --ihcl "$(cat "$BODY.ihcl")" --n "$N" --warmup 2 --pid "$pid")"
  kill $pid; wait $pid 2>/dev/null || true
  rm -f "$out"
}
echo "load: $(uptime)"
for _ in $(seq "$ROUNDS"); do one "$A" A; one "$B" B; done
