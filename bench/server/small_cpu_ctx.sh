#!/usr/bin/env bash
# small_cpu_ctx.sh BIN [PIN]: server CPU and context switches per request for
# small tensor requests: --engine null --model test-tiny, v2 FP32
# [1,3,32,32] binary, wrk -t1 -c8 for DUR seconds (default 6). PIN=1 (the
# default) puts the server on CPU 1 and wrk on CPU 0. Extra server flags in
# SERVER_ARGS. Needs the bodies of make_bodies.py in $INPUTS.
set -euo pipefail
BIN=$(readlink -f "$1"); PIN=${2:-1}; DUR=${DUR:-6}
HERE=$(cd "$(dirname "$0")" && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
BODY=$INPUTS/fp32_1x3x32x32.bin
TS=(); TC=()
if [[ $PIN == 1 ]]; then TS=(taskset -c 1); TC=(taskset -c 0); fi
out=$(mktemp)
# shellcheck disable=SC2086
"${TS[@]}" "$BIN" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off \
  --threads 1 --engine null --model test-tiny --weights random:1 --access-log off ${SERVER_ARGS:-} >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
until grep -q "ready in" "$out" && grep -q "http=" "$out"; do sleep 0.1; done
port=$(grep -o "http=[^ ]*" "$out" | head -1 | cut -d: -f2)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
switches() { cat /proc/"$pid"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
c0=$(ticks); x0=$(switches)
res=$(BODY=$BODY WRK_PATH=/v2/models/openclip_vit_b32/infer IHCL=$(cat "$BODY.ihcl") \
  "${TC[@]}" wrk -t1 -c8 -d"${DUR}s" -s "$HERE/post_body.lua" "http://127.0.0.1:$port")
c1=$(ticks); x1=$(switches)
reqs=$(awk '/requests in/ {print $1}' <<<"$res")
hz=$(getconf CLK_TCK)
python3 -c "print(f'SMALL $(basename "$BIN") pin=$PIN req_per_s={$reqs / $DUR:.0f} server_cpu_us_per_req={($c1 - $c0) * 1e6 / $hz / $reqs:.1f} ctx_switches_per_req={($x1 - $x0) / $reqs:.2f}')"
