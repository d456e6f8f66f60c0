#!/usr/bin/env bash
# profile.sh BINARY OUTDIR: where the server's CPU goes under the loads of
# transport_bench.sh (server on CPU 1, clients on CPU 0), run after it (it
# reuses its inputs in $INPUTS):
#   tiny-*: figure 1, --engine null --model test-tiny, v2 FP32 [1,3,32,32],
#           wrk -c8 for DUR seconds;
#   b32-*:  figure 2, --engine null --model ViT-B-32, FP32 [32,3,224,224]
#           (19.3 MB), B32_N sequential requests (seq_client.py).
# Each: perf record -e cpu-clock (software clock: no PMU in this VM), a flat
# profile by DSO, by symbol and by thread; then strace -c -f over a second
# window (strace slows every syscall: read the counts, not the times).
set -euo pipefail
BIN=$(readlink -f "$1")
DIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
DUR=${DUR:-8}
B32_N=${B32_N:-40}
BODY=$INPUTS/fp32_1x3x32x32.bin
mkdir -p "$DIR"
SPID=
trap '[[ -n $SPID ]] && kill $SPID 2>/dev/null || true' EXIT
start() {
  taskset -c 1 "$BIN" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off \
    --threads 1 --engine null --access-log off "$@" >"$DIR/server.out" 2>"$DIR/server.err" &
  SPID=$!
  until grep -q "ready in" "$DIR/server.out"; do sleep 0.1; done
  PORT=$(grep -o "http=[^ ]*" "$DIR/server.out" | cut -d: -f2)
}
report() {  # report PREFIX (full reports, then the top lines; no pipe into head under pipefail)
  local k
  for k in dso dso,symbol pid; do
    perf report -i "$DIR/perf.data" --no-children --sort "$k" --stdio >"$DIR/report.tmp" 2>/dev/null || true
    grep -v '^#' "$DIR/report.tmp" | grep -v '^$' | sed -E 's/ +/ /g; s/( -)+ *$//' | sed -n 1,60p >"$DIR/$1-perf.${k/,/-}.txt"
  done
  rm -f "$DIR/perf.data" "$DIR/report.tmp"
}
start --model test-tiny
load() {
  BODY=$BODY WRK_PATH=/v2/models/openclip_vit_b32/infer IHCL=$(cat "$BODY.ihcl") taskset -c 0 wrk -t1 -c8 -d"$1s" \
    -s "$HERE/post_body.lua" "http://127.0.0.1:$PORT"
}
load 2 >/dev/null
load $((DUR + 2)) >"$DIR/tiny-perf.wrk.txt" &
WPID=$!
sleep 1
perf record -e cpu-clock -F 4000 -p "$SPID" -o "$DIR/perf.data" -- sleep "$DUR" 2>"$DIR/tiny-perf.record.txt"
wait $WPID
report tiny
load $((DUR + 2)) >"$DIR/tiny-strace.wrk.txt" &
WPID=$!
sleep 1
timeout -s INT "$DUR" strace -c -f -p "$SPID" -o "$DIR/tiny-strace.txt" || true
wait $WPID
kill "$SPID"; wait "$SPID" 2>/dev/null || true

start --model ViT-B-32
B32=$INPUTS/fp32_32x3x224x224.bin
b32seq() {
  taskset -c 0 /usr/bin/python3 "$HERE/seq_client.py" --port "$PORT" --path /v2/models/openclip_vit_b32/infer \
    --body "$B32" --ihcl "$(cat "$B32.ihcl")" --n "$1" --warmup 0 --pid "$SPID"
}
b32seq 3 >/dev/null
perf record -e cpu-clock -F 4000 -p "$SPID" -o "$DIR/perf.data" 2>"$DIR/b32-perf.record.txt" &
PPID_=$!
sleep 0.5
b32seq "$B32_N" >"$DIR/b32-perf.seq.json"
kill -INT $PPID_; wait $PPID_ 2>/dev/null || true
report b32
strace -c -f -p "$SPID" -o "$DIR/b32-strace.txt" &
SPID_=$!
sleep 0.5
b32seq 10 >"$DIR/b32-strace.seq.json"
kill -INT $SPID_; wait $SPID_ 2>/dev/null || true
echo "profile in $DIR"
