#!/usr/bin/env bash
# handle_time.sh BIN [N]: the server's own time for a batch-32 FP32 request
# (19.3 MB, --engine null --model ViT-B-32): handle_us from the access log
# (last request byte read -> answer written), with the server's CPU per
# request, over N sequential requests (default 40; seq_client.py). Server
# on CPU 1, client on CPU 0 (PIN=0: unpinned).
set -euo pipefail
BIN=$(readlink -f "$1"); N=${2:-40}; PIN=${PIN:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
BODY=$INPUTS/fp32_32x3x224x224.bin
TS=(); TC=()
if [[ $PIN == 1 ]]; then TS=(taskset -c 1); TC=(taskset -c 0); fi
out=$(mktemp); log=$(mktemp)
"${TS[@]}" "$BIN" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off \
  --threads 1 --engine null --model ViT-B-32 >"$out" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out" "$log"' EXIT
until grep -q "ready in" "$out" && grep -q "http=" "$out"; do sleep 0.1; done
port=$(grep -o "http=[^ ]*" "$out" | head -1 | cut -d: -f2)
seq=$("${TC[@]}" /usr/bin/python3 "$HERE/seq_client.py" --port "$port" --path /v2/models/openclip_vit_b32/infer \
  --body "$BODY" --ihcl "$(cat "$BODY.ihcl")" --n "$N" --warmup 0 --pid "$pid")
kill $pid; wait $pid 2>/dev/null || true
grep '"handle_us"' "$log" | grep '/infer' | python3 -c "
import json, sys
seq = json.loads(sys.argv[1])
v = sorted(json.loads(l)['handle_us'] / 1e3 for l in sys.stdin)
print(f'HANDLE n={len(v)} handle_ms_p50={v[len(v) // 2]:.3f} p90={v[int(len(v) * 0.9)]:.3f} min={v[0]:.3f} '
      f'server_cpu_ms_per_request={seq[\"server_cpu_ms_per_request\"]} e2e_ms_p50={seq[\"e2e_ms\"][\"p50\"]}')" "$seq"
