#!/usr/bin/env bash
# transport_bench.sh BINARY [LABEL]: what the HTTP layer of one clip-server
# binary costs, with --engine null (no model: parsing, preprocessing,
# batching and responses run for real). Figures of issue 8 "Performance":
#   1. server CPU per request, v2 FP32 [1,3,32,32] binary tensors, test-tiny,
#      concurrency 8 (wrk; benchmark_backends as a second client), and req/s;
#   2. one batch-32 FP32 request [32,3,224,224] (19.3 MB), ViT-B-32, 30
#      sequential requests: server-side time (access-log duration_us,
#      Server-Timing, server CPU) and end-to-end latency, p50;
#   3. the image-bytes model (BYTES: 4-byte LE length + JPEG), ViT-B-32, a
#      1920x1080 JPEG: images per server CPU-second of decode + preprocess,
#      against bench/image's in-process figure for the same bytes.
# The server runs on CPU $SERVER_CPU (default 1), every client on $CLIENT_CPU
# (default 0), both with taskset. Server CPU is utime+stime from
# /proc/PID/stat (all threads) over the measured window, divided by the
# requests answered in it; the summed /proc/PID/task/*/schedstat (ns) is
# printed next to it as a check.
#
# One summary line per figure on stdout ("SUMMARY label figure k=v ..."),
# also in $OUT/summary.txt; raw outputs of every tool under $OUT.
#
# Environment: OUT (default /tmp/transport_bench/LABEL-TIME), DUR (timed
# seconds per wrk run, 10), WARM (wrk warm-up seconds, 2), SEQ_N (30),
# FIGS (which figures, default "1 2 3"), SERVER_FLAGS (extra flags for every server start, e.g. "--io-threads 1"),
# BENCH_BIN (directory holding benchmark_backends and image_bench; default
# this checkout's build/), WRK (wrk), PAUSE_NICE19=1 (SIGSTOP processes at
# nice 19 for the run and SIGCONT them on exit, however it exits).
#
#   bench/server/transport_bench.sh build/apps/clip-server/clip-server new
set -euo pipefail

BIN=$(readlink -f "$1")
LABEL=${2:-server}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
DUR=${DUR:-10}
WARM=${WARM:-2}
SEQ_N=${SEQ_N:-30}
FIGS=${FIGS:-1 2 3}
want() { [[ " $FIGS " == *" $1 "* ]]; }
BENCH_BIN=${BENCH_BIN:-$ROOT/build}
BB=${BENCHMARK_BACKENDS:-$BENCH_BIN/apps/benchmark_backends/benchmark_backends}
IMAGE_BENCH=${IMAGE_BENCH:-$BENCH_BIN/bench/image/image_bench}
WRK=${WRK:-wrk}
PY=/usr/bin/python3
OUT=${OUT:-/tmp/transport_bench/$LABEL-$(date +%Y%m%d-%H%M%S)}
INPUTS=${INPUTS:-/tmp/transport_bench/inputs}
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT" "$INPUTS"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

SPID=
PAUSED=()
cleanup() {
  [[ -n $SPID ]] && kill "$SPID" 2>/dev/null || true
  if ((${#PAUSED[@]})); then kill -CONT "${PAUSED[@]}" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary() { echo "SUMMARY $LABEL $*" | tee -a "$SUMMARY"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # pid without ')' in comm
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
calc() { $PY -c "print($1)"; }

# --- the record -------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "label: $LABEL"
  echo "binary: $BIN"
  echo "extra server flags: ${SERVER_FLAGS:-none}"
  echo "binary sha256: $(sha256sum "$BIN" | cut -d' ' -f1)"
  echo "uptime: $(uptime)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; server on $SERVER_CPU, clients on $CLIENT_CPU"
  echo "kernel: $(uname -r)"
  echo "wrk: $($WRK -v 2>&1 | head -1)"
  echo "benchmark_backends: $BB"
  echo "image_bench: $IMAGE_BENCH"
  echo "busiest processes before the run:"
  ps -eo pid,ni,pcpu,comm --sort=-pcpu | head -6
} >"$OUT/env.txt"

if [[ ${PAUSE_NICE19:-0} == 1 ]]; then
  # User processes at nice 19 (other builds), not kernel threads.
  while read -r pid; do PAUSED+=("$pid"); done < <(ps -eo pid=,ni=,args= | awk '$2 == 19 && $3 !~ /^\[/ {print $1}')
  if ((${#PAUSED[@]})); then
    kill -STOP "${PAUSED[@]}" 2>/dev/null || true
    echo "paused (SIGSTOP, nice 19): ${PAUSED[*]}" >>"$OUT/env.txt"
  fi
fi

# --- inputs (once; cached in $INPUTS) ---------------------------------------
if [[ ! -s $INPUTS/jpeg_photo1080p.bin ]]; then
  # bench/image's own 1920x1080 JPEG (the bytes its in-process figure decodes)
  # and a PIL-made photo-like one.
  "$IMAGE_BENCH" --write_jpeg="$INPUTS/bench1080p.jpg" --benchmark_filter='^$' >/dev/null 2>&1
  $PY "$HERE/make_photo_jpeg.py" "$INPUTS/photo1080p.jpg"
  $PY "$HERE/make_bodies.py" "$INPUTS" "$INPUTS/bench1080p.jpg" "$INPUTS/photo1080p.jpg"
fi

# --- the server -------------------------------------------------------------
# start_server NAME FLAGS...: sets SPID and PORT (KServe listener).
start_server() {
  local name=$1
  shift
  # SERVER_FLAGS is split on spaces on purpose (several flags).
  # shellcheck disable=SC2206
  local cmd=(taskset -c "$SERVER_CPU" "$BIN" --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1
    --background-warmup off --threads 1 "$@" ${SERVER_FLAGS:-})
  echo "${cmd[*]}" >"$OUT/$name.server.cmd"
  "${cmd[@]}" >"$OUT/$name.server.out" 2>"$OUT/$name.server.err" &
  SPID=$!
  for _ in $(seq 600); do
    grep -q "ready in" "$OUT/$name.server.out" 2>/dev/null && break
    kill -0 "$SPID" 2>/dev/null || { cat "$OUT/$name.server.err" >&2; exit 1; }
    sleep 0.1
  done
  PORT=$(grep -o "http=[^ ]*" "$OUT/$name.server.out" | head -1 | cut -d: -f2)
}
stop_server() {
  grep -E '^Threads|^VmHWM|^VmRSS' "/proc/$SPID/status" >"$OUT/$1.server.status" 2>/dev/null || true
  kill -TERM "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=
}

# wrk_window NAME BODY PATH: warm-up, then a timed wrk run at 8 connections
# with the server's CPU read around it. Sets REQS RPS CPU_US SCHED_US ERRS.
wrk_window() {
  local name=$1 body=$2 path=$3 ihcl
  ihcl=$(cat "$body.ihcl")
  local url="http://127.0.0.1:$PORT"
  BODY=$body WRK_PATH=$path IHCL=$ihcl taskset -c "$CLIENT_CPU" "$WRK" -t1 -c8 -d"${WARM}s" \
    -s "$HERE/post_body.lua" "$url" >"$OUT/$name.wrk-warmup.txt"
  echo "BODY=$body WRK_PATH=$path IHCL=$ihcl taskset -c $CLIENT_CPU $WRK -t1 -c8 -d${DUR}s --latency -s $HERE/post_body.lua $url" \
    >"$OUT/$name.wrk.cmd"
  local t0 n0 t1 n1
  t0=$(ticks "$SPID")
  n0=$(sched_ns "$SPID")
  BODY=$body WRK_PATH=$path IHCL=$ihcl taskset -c "$CLIENT_CPU" "$WRK" -t1 -c8 -d"${DUR}s" --latency \
    -s "$HERE/post_body.lua" "$url" >"$OUT/$name.wrk.txt"
  t1=$(ticks "$SPID")
  n1=$(sched_ns "$SPID")
  REQS=$(awk '/requests in/ {print $1}' "$OUT/$name.wrk.txt")
  RPS=$(awk '/^Requests\/sec/ {print $2}' "$OUT/$name.wrk.txt")
  ERRS=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {print}' "$OUT/$name.wrk.txt" | tr '\n' ' ')
  ERRS=${ERRS:-0}
  CPU_US=$(calc "round(($t1 - $t0) / $HZ / $REQS * 1e6, 1)")
  SCHED_US=$(calc "round(($n1 - $n0) / 1e3 / $REQS, 1)")
  echo "ticks $t0 -> $t1 at $HZ Hz; schedstat ns $n0 -> $n1; requests $REQS" >"$OUT/$name.cpu.txt"
}

# one_ok PATH BODY: a single request must answer 200 before any timing.
one_ok() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/octet-stream" \
    -H "Inference-Header-Content-Length: $(cat "$2.ihcl")" --data-binary @"$2" "http://127.0.0.1:$PORT$1")
  [[ $code == 200 ]] || { echo "$LABEL: $1 answered $code" >&2; exit 1; }
}

# --- 1. server CPU per request: FP32 [1,3,32,32], concurrency 8 --------------
TINY=$INPUTS/fp32_1x3x32x32.bin
INFER=/v2/models/openclip_vit_b32/infer
B32=$INPUTS/fp32_32x3x224x224.bin
if want 1; then
start_server fig1 --engine null --model test-tiny --access-log off
one_ok $INFER "$TINY"
wrk_window fig1 "$TINY" $INFER
summary "fig1 client=wrk-c8 server_cpu_us_per_req=$CPU_US schedstat_us_per_req=$SCHED_US req_per_s=$RPS requests=$REQS errors=$ERRS"
if [[ -x $BB ]]; then
  # The repo's runner (its asynchronous client, 1 I/O thread), as in
  # apps/clip-server/tools/null_engine_cpu.sh: the CPU window is the whole
  # run, so it also holds the runner's few untimed requests (about 10).
  N_BB=$(calc "max(20000, int(${RPS%.*} * $DUR))")
  bbcmd=(taskset -c "$CLIENT_CPU" "$BB" --backend triton --triton-url "http://127.0.0.1:$PORT" --triton-metrics-url ''
    --image-size 32 --iterations 1 --warmup 1 --batch-sizes 1 --probe-images 1 --concurrency 8
    --concurrent-requests "$N_BB" --no-progress --output "$OUT/fig1.bb.json")
  echo "${bbcmd[*]}" >"$OUT/fig1.bb.cmd"
  t0=$(ticks "$SPID")
  n0=$(sched_ns "$SPID")
  "${bbcmd[@]}" >"$OUT/fig1.bb.txt" 2>&1 || true
  t1=$(ticks "$SPID")
  n1=$(sched_ns "$SPID")
  read -r ok rps < <($PY -c "import json; c=json.load(open('$OUT/fig1.bb.json'))['triton']['concurrent']; print(c['successful'], round(c['throughput_rps'],1))")
  summary "fig1 client=benchmark_backends-c8 server_cpu_us_per_req=$(calc "round(($t1 - $t0) / $HZ / $ok * 1e6, 1)") schedstat_us_per_req=$(calc "round(($n1 - $n0) / 1e3 / $ok, 1)") req_per_s=$rps requests=$ok"
fi
stop_server fig1
fi

# --- 2. batch 32 FP32 [32,3,224,224], 19.3 MB, sequential --------------------
if want 2; then
start_server fig2 --engine null --model ViT-B-32 --access-log on
seqcmd=(taskset -c "$CLIENT_CPU" "$PY" "$HERE/seq_client.py" --port "$PORT" --path "$INFER" --body "$B32"
  --ihcl "$(cat "$B32.ihcl")" --n "$SEQ_N" --warmup 3 --pid "$SPID" --raw "$OUT/fig2.seq.tsv")
echo "${seqcmd[*]}" >"$OUT/fig2.seq.cmd"
"${seqcmd[@]}" >"$OUT/fig2.seq.json"
stop_server fig2
# Access log: the timed requests are the last SEQ_N infer lines.
DUR_P50=$(grep '"path":"/v2/models/openclip_vit_b32/infer"' "$OUT/fig2.server.err" | tail -n "$SEQ_N" |
  $PY -c "import sys, json, statistics; v=[json.loads(l)['duration_us'] for l in sys.stdin]; print(round(statistics.median(v)/1e3, 3), len(v))")
$PY - "$OUT/fig2.seq.json" "$DUR_P50" <<'EOF' | while read -r l; do summary "$l"; done
import json, sys
d = json.load(open(sys.argv[1])); dur, n = sys.argv[2].split()
st = {k: d[k + "_ms"]["p50"] for k in ("queue", "preprocess", "compute")}
print(f"fig2 batch32_fp32 n={d['n']} access_log_duration_ms_p50={dur} server_timing_sum_ms_p50={round(sum(st.values()), 3)} "
      f"(queue={st['queue']} preprocess={st['preprocess']} compute={st['compute']}) server_cpu_ms_per_req={d['server_cpu_ms_per_request']} "
      f"schedstat_ms_per_req={d['server_sched_ms_per_request']} e2e_ms_p50={d['e2e_ms']['p50']} e2e_ms_min={d['e2e_ms']['min']} "
      f"client_sendall_ms_p50={d['send_ms']['p50']}")
EOF

# --- 2b. the floor: the same 30 requests into sink_server.py (no HTTP
# library: one big recv_into per read, fixed answer), same cores -----------
rm -f "$OUT/sink.port"
taskset -c "$SERVER_CPU" $PY "$HERE/sink_server.py" "$OUT/sink.port" &
SPID=$!
until [[ -s $OUT/sink.port ]]; do sleep 0.05; done
taskset -c "$CLIENT_CPU" $PY "$HERE/seq_client.py" --port "$(cat "$OUT/sink.port")" --path $INFER --body "$B32" \
  --ihcl "$(cat "$B32.ihcl")" --n "$SEQ_N" --warmup 3 --pid "$SPID" >"$OUT/fig2-sink.seq.json"
kill "$SPID"
wait "$SPID" 2>/dev/null || true
SPID=
$PY -c "import json; d=json.load(open('$OUT/fig2-sink.seq.json')); print(f\"fig2 floor=sink_server.py n={d['n']} server_cpu_ms_per_req={d['server_cpu_ms_per_request']} schedstat_ms_per_req={d['server_sched_ms_per_request']} e2e_ms_p50={d['e2e_ms']['p50']} e2e_ms_min={d['e2e_ms']['min']} client_sendall_ms_p50={d['send_ms']['p50']}\")" |
  while read -r l; do summary "$l"; done
fi

# --- 3. image bytes (BYTES, JPEG 1920x1080) ----------------------------------
IMG_INFER=/v2/models/openclip_vit_b32_image/infer
if want 3; then
for jpg in bench1080p photo1080p; do
  body=$INPUTS/jpeg_$jpg.bin
  start_server "fig3-$jpg" --engine null --model ViT-B-32 --access-log off
  one_ok $IMG_INFER "$body"
  taskset -c "$CLIENT_CPU" $PY "$HERE/seq_client.py" --port "$PORT" --path $IMG_INFER --body "$body" \
    --ihcl "$(cat "$body.ihcl")" --n "$SEQ_N" --warmup 3 --pid "$SPID" >"$OUT/fig3-$jpg.seq.json"
  wrk_window "fig3-$jpg" "$body" $IMG_INFER
  stop_server "fig3-$jpg"
  read -r pre e2e seqcpu < <($PY -c "import json; d=json.load(open('$OUT/fig3-$jpg.seq.json')); print(d['preprocess_ms']['p50'], d['e2e_ms']['p50'], d['server_sched_ms_per_request'])")
  summary "fig3 image=$jpg.jpg($(stat -c %s "$INPUTS/$jpg.jpg")B) client=wrk-c8 img_per_server_cpu_s=$(calc "round(1e6 / $CPU_US, 1)") server_cpu_ms_per_img=$(calc "round($CPU_US / 1e3, 3)") schedstat_ms_per_img=$(calc "round($SCHED_US / 1e3, 3)") img_per_s_wall=$RPS errors=$ERRS | sequential: server_timing_preprocess_ms_p50=$pre server_cpu_ms_per_img=$seqcpu e2e_ms_p50=$e2e"
done

# --- 3b. bench/image in process, same core, same bytes (bench1080p); CPU time -
ibcmd=(taskset -c "$SERVER_CPU" "$IMAGE_BENCH" --benchmark_filter='Jpeg1080p_(Decode|ResizeCropToTensor|EndToEnd)$'
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_format=json)
echo "${ibcmd[*]}" >"$OUT/image_bench.cmd"
"${ibcmd[@]}" >"$OUT/image_bench.json" 2>/dev/null
$PY - "$OUT/image_bench.json" <<'EOF' | while read -r l; do summary "$l"; done
import json, sys
d = json.load(open(sys.argv[1]))
med = {b["run_name"].split("BM_")[1]: b["cpu_time"] for b in d["benchmarks"] if b.get("aggregate_name") == "median"}
e2e = med["Jpeg1080p_EndToEnd"]
print(f"fig3 in_process=bench/image image=bench1080p.jpg end_to_end_ms={e2e:.3f} img_per_s={1e3 / e2e:.1f} "
      f"decode_ms={med['Jpeg1080p_Decode']:.3f} resize_crop_to_tensor_ms={med['Jpeg1080p_ResizeCropToTensor']:.3f}")
EOF
fi

{
  echo "uptime after: $(uptime)"
  echo "busiest processes after the run (pcpu = lifetime average):"
  ps -eo pid,ni,pcpu,etime,comm --sort=-pcpu | head -6
} >>"$OUT/env.txt"
echo "raw outputs: $OUT"
