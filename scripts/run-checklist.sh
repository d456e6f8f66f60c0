#!/usr/bin/env bash
# The whole benchmarking checklist (seed/BENCHMARKING_CHECKLIST.md) as one command.
#
#   scripts/run-checklist.sh [options] [-- extra benchmark_backends flags]
#
# Steps, one backend at a time (never both at once, checklist §3.1):
#   0. build if needed (cmake --preset release && cmake --build build -j$(nproc))
#   1. "triton" step: benchmark_backends launches `clip-server --api kserve`
#      itself (--server-cmd: it measures exec->live/ready and the first
#      request, waits for readiness, runs every phase, stops the server);
#      or, with --triton-url, benchmarks an external Triton instead.
#   2. "pytorch" step: the same with `clip-server --api rest`, and parity of
#      its embeddings against step 1's file (--parity-reference).
#   3. validate both files (checklist §4), compare them (§0/§5), HTML report.
#
# Options:
#   --out DIR              output directory (default benchmark_results/checklist_<UTC timestamp>)
#   --model NAME           clip-server --model (default ViT-B-32)
#   --weights FILE|random:SEED   real weights or built-in random ones (default random:0)
#   --device cpu|cuda      clip-server --device (default cpu)
#   --precision P          clip-server --precision (default fp32)
#   --threads N            clip-server --threads (default 0 = all cores)
#   --triton-url URL       use an external Triton (no kserve clip-server is started)
#   --triton-metrics-url URL   its metrics (default: <triton host>:8005/metrics, like the checklist)
#   --port-base N          serve on N (REST), N+1 (v2 HTTP), N+2 (metrics) instead of
#                          the checklist's 8002/8003/8005, to avoid clashes
#   --iterations N --batch-sizes L --concurrency N --concurrent-requests N
#                          benchmark settings, identical for both runs (checklist §0).
#                          Defaults are the checklist's baseline scaled for CPU:
#                          20, 1,4,8,16,32, 16, 200.
#   --server-arg ARG       extra clip-server argument (repeatable)
#   --build-dir DIR        build directory (default build)
#   --no-build             fail instead of building when binaries are missing
# Environment: BENCH_* none; everything is a flag. Exit status: 0 when both runs
# validate, 1 otherwise (every file is still written).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

out="benchmark_results/checklist_$(date -u +%Y%m%d_%H%M%S)"
model="ViT-B-32"
weights="random:0"
device="cpu"
precision="fp32"
threads="0"
triton_url=""
triton_metrics_url=""
port_base=""
iterations=20
batch_sizes="1,4,8,16,32"
concurrency=16
concurrent_requests=200
build_dir="build"
do_build=1
server_args=()
extra=()

die() { echo "run-checklist: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) need_arg "$@"; out="$2"; shift 2 ;;
    --model) need_arg "$@"; model="$2"; shift 2 ;;
    --weights) need_arg "$@"; weights="$2"; shift 2 ;;
    --device) need_arg "$@"; device="$2"; shift 2 ;;
    --precision) need_arg "$@"; precision="$2"; shift 2 ;;
    --threads) need_arg "$@"; threads="$2"; shift 2 ;;
    --triton-url) need_arg "$@"; triton_url="$2"; shift 2 ;;
    --triton-metrics-url) need_arg "$@"; triton_metrics_url="$2"; shift 2 ;;
    --port-base) need_arg "$@"; port_base="$2"; shift 2 ;;
    --iterations) need_arg "$@"; iterations="$2"; shift 2 ;;
    --batch-sizes) need_arg "$@"; batch_sizes="$2"; shift 2 ;;
    --concurrency) need_arg "$@"; concurrency="$2"; shift 2 ;;
    --concurrent-requests) need_arg "$@"; concurrent_requests="$2"; shift 2 ;;
    --server-arg) need_arg "$@"; server_args+=("$2"); shift 2 ;;
    --build-dir) need_arg "$@"; build_dir="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

rest_port=8002 http_port=8003 metrics_port=8005
if [ -n "$port_base" ]; then
  rest_port=$port_base http_port=$((port_base + 1)) metrics_port=$((port_base + 2))
fi

server_bin="$build_dir/apps/clip-server/clip-server"
bench_bin="$build_dir/apps/benchmark_backends/benchmark_backends"

# --- 0. build if needed ------------------------------------------------------
if [ ! -x "$server_bin" ] || [ ! -x "$bench_bin" ]; then
  [ "$do_build" = 1 ] || die "missing $server_bin or $bench_bin (and --no-build given)"
  echo "== building (cmake --preset release && cmake --build $build_dir)"
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    if [ "$build_dir" = "build" ]; then cmake --preset release; else cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release; fi
  fi
  cmake --build "$build_dir" -j"$(nproc)" --target clip-server benchmark_backends
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"

# A port that answers is taken: refuse rather than benchmark someone else's server.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$rest_port" "$http_port" "$metrics_port"; do
  if [ -n "$triton_url" ] && [ "$p" != "$rest_port" ]; then continue; fi
  if port_busy "$p"; then die "port $p is already in use; stop that server or pass --port-base N"; fi
done

# The runner stops the servers it launches. On its first SIGINT/SIGTERM it
# stops sending, skips the remaining phases, stops its server and still
# writes the JSON; a second signal ends it (and its server) at once.
# Ctrl-C reaches the runner directly (same process group), so on INT we only
# wait for it; on TERM we pass the signal on.
runner_pid=""
wait_runner() { [ -n "$runner_pid" ] && wait "$runner_pid" 2>/dev/null; runner_pid=""; }
on_int() { wait_runner; exit 130; }
on_term() { [ -n "$runner_pid" ] && kill -TERM "$runner_pid" 2>/dev/null; wait_runner; exit 143; }
cleanup() {
  if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
    kill -TERM "$runner_pid" 2>/dev/null || true
    wait "$runner_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap on_int INT
trap on_term TERM

q() { printf '%q ' "$@"; }  # shell-quote for --server-cmd
server_common=(--model "$model" --weights "$weights" --device "$device" --precision "$precision"
               --threads "$threads" --host 127.0.0.1 "${server_args[@]}")
settings=(--iterations "$iterations" --batch-sizes "$batch_sizes" --concurrency "$concurrency"
          --concurrent-requests "$concurrent_requests")

run_bench() {  # runs benchmark_backends in the background so the trap can reach it
  "$bench_bin" "$@" &
  runner_pid=$!
  local rc=0
  wait "$runner_pid" || rc=$?
  runner_pid=""
  return "$rc"
}

triton_json="$out/triton.json"
pytorch_json="$out/pytorch.json"
status=0

# --- 1. Triton step -----------------------------------------------------------
echo "== step 2: triton (KServe v2) benchmark -> $triton_json"
if [ -n "$triton_url" ]; then
  [ -n "$triton_metrics_url" ] || triton_metrics_url="$(echo "$triton_url" | sed -E 's#(https?://[^:/]+).*#\1#'):8005/metrics"
  run_bench --backend triton --triton-url "$triton_url" --triton-metrics-url "$triton_metrics_url" \
    "${settings[@]}" --output "$triton_json" "${extra[@]}" || status=1
else
  cmd="$(q "$here/$server_bin" --api kserve --http-port "$http_port" --metrics-port "$metrics_port" "${server_common[@]}")"
  run_bench --backend triton --triton-url "http://127.0.0.1:$http_port" \
    --triton-metrics-url "http://127.0.0.1:$metrics_port/metrics" \
    --server-cmd "$cmd" --server-log "$out/clip-server-kserve.log" \
    "${settings[@]}" --output "$triton_json" "${extra[@]}" || status=1
fi

# --- 2. PyTorch step (the kserve server is stopped by now) ---------------------
echo "== step 3: pytorch (REST) benchmark -> $pytorch_json"
cmd="$(q "$here/$server_bin" --api rest --rest-port "$rest_port" --metrics-port -1 "${server_common[@]}")"
parity=()
[ -f "$triton_json" ] && parity=(--parity-reference "$triton_json")
run_bench --backend pytorch --pytorch-url "http://127.0.0.1:$rest_port" \
  --server-cmd "$cmd" --server-log "$out/clip-server-rest.log" \
  "${settings[@]}" "${parity[@]}" --output "$pytorch_json" "${extra[@]}" || status=1

# --- 3. sanity checks, comparison, report -------------------------------------
echo "== step 4: validate"
"$bench_bin" validate "$triton_json" "$pytorch_json" | tee "$out/validate.txt" || status=1
echo "== step 5: compare"
"$bench_bin" compare "$triton_json" "$pytorch_json" | tee "$out/compare.txt" || status=1
"$bench_bin" report "$triton_json" "$pytorch_json" --html "$out/report.html" || status=1

echo
echo "checklist results in $out:"
ls -l "$out"
exit "$status"
