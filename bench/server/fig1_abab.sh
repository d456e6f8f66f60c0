#!/usr/bin/env bash
# fig1_abab.sh A_BIN B_BIN [ROUNDS]: server CPU per request only (figure 1 of
# transport_bench.sh: --engine null, test-tiny, v2 FP32 [1,3,32,32] binary,
# wrk at 8 connections, server on CPU 1, wrk on CPU 0), A and B alternating.
set -euo pipefail
A=$(readlink -f "$1"); B=$(readlink -f "$2"); ROUNDS=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
BODY=$INPUTS/fp32_1x3x32x32.bin
DUR=${DUR:-8}
one() {
  local bin=$1 label=$2 out pid port t0 t1 reqs
  out=$(mktemp)
  taskset -c 1 "$bin" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off \
    --threads 1 --engine null --model test-tiny --weights random:1 --access-log off ${SERVER_ARGS:-} >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do grep -q "ready in" "$out" && break; sleep 0.1; done
  port=$(grep -o "http=[^ ]*" "$out" | head -1 | cut -d: -f2)
  BODY=$BODY WRK_PATH=/v2/models/openclip_vit_b32/infer IHCL=$(cat "$BODY.ihcl") taskset -c 0 wrk -t1 -c8 -d2s \
    -s "$HERE/post_body.lua" "http://127.0.0.1:$port" >/dev/null
  t0=$(awk '{print $14 + $15}' /proc/$pid/stat)
  reqs=$(BODY=$BODY WRK_PATH=/v2/models/openclip_vit_b32/infer IHCL=$(cat "$BODY.ihcl") taskset -c 0 wrk -t1 -c8 \
    -d"${DUR}s" -s "$HERE/post_body.lua" "http://127.0.0.1:$port" | awk '/requests in/ {print $1}')
  t1=$(awk '{print $14 + $15}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null || true
  rm -f "$out"
  awk -v l="$label" -v r="$reqs" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v d="$DUR" \
    'BEGIN { printf "FIG1 %-4s requests=%d req_per_s=%.0f server_cpu_us_per_req=%.1f\n", l, r, r / d, t / hz * 1e6 / r }'
}
echo "load: $(uptime)"
for _ in $(seq "$ROUNDS"); do one "$A" A; one "$B" B; done
