#!/usr/bin/env bash
# fig2_abab.sh A_BIN B_BIN [ROUNDS]: figure 2 of transport_bench.sh alone
# (one FP32 [32,3,224,224] binary request, 19.3 MB, --engine null ViT-B-32,
# 30 sequential requests from seq_client.py), A and B alternating; prints
# seq_client's JSON summary per run (server CPU per request, e2e p50).
set -euo pipefail
A=$(readlink -f "$1"); B=$(readlink -f "$2"); ROUNDS=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
BODY=$INPUTS/fp32_32x3x224x224.bin
one() {
  local bin=$1 label=$2 out pid port
  out=$(mktemp)
  taskset -c 1 "$bin" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off \
    --threads 1 --engine null --model ViT-B-32 --access-log off >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do grep -q "ready in" "$out" && break; sleep 0.1; done
  port=$(grep -o "http=[^ ]*" "$out" | head -1 | cut -d: -f2)
  echo "FIG2 $label $(taskset -c 0 /usr/bin/python3 "$HERE/seq_client.py" --port "$port" \
    --path /v2/models/openclip_vit_b32/infer --body "$BODY" --ihcl "$(cat "$BODY.ihcl")" --n 30 --warmup 3 --pid "$pid")"
  kill $pid; wait $pid 2>/dev/null || true
  rm -f "$out"
}
echo "load: $(uptime)"
for _ in $(seq "$ROUNDS"); do one "$A" A; one "$B" B; done
