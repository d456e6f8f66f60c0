#!/usr/bin/env bash
# The whole benchmarking checklist (seed/BENCHMARKING_CHECKLIST.md) as one command.
#
#   scripts/run-checklist.sh [options] [-- extra benchmark_backends flags]
#
# Steps, one backend at a time (never both at once, checklist §3.1):
#   0. build if needed (cmake --preset release && cmake --build build -j$(nproc))
#   1. "triton" step: benchmark_backends launches the "Triton" itself
#      (--server-cmd: it measures exec->live/ready and the first request,
#      waits for readiness, runs every phase, stops the server). That Triton is
#      a real one when one is given or found (--tritonserver PATH, `tritonserver`
#      on PATH, or --triton-container IMAGE): clip-export first writes a model
#      repository with the same weights to OUT/model_repository. Otherwise it is
#      `clip-server --api kserve`. With --triton-url, an already running
#      external Triton is benchmarked instead. Which one was used is printed
#      and recorded in both JSON files' `context.triton_server`.
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
#   --tritonserver PATH    start this real tritonserver on the exported repository
#                          (a bare name is looked up on PATH; default: `tritonserver`
#                          when it is on PATH)
#   --triton-container IMAGE   start a real Triton from IMAGE with docker or podman
#                          (e.g. nvcr.io/nvidia/tritonserver:24.08-py3; pull it first)
#   --no-tritonserver      ignore a `tritonserver` on PATH: clip-server plays Triton
#   --triton-format F      onnx | torchscript: the exported model (default onnx)
#   --export-arg ARG       extra clip-export argument (repeatable), e.g. --instance-count
#   --clip-export PATH     the clip-export to use (default BUILD_DIR/apps/clip-export/clip-export;
#                          e.g. the Debian CPU build's when BUILD_DIR is a CUDA LibTorch build)
#   --triton-ready-timeout S   seconds to wait for the real Triton (default 600)
#   --port-base N          serve on N (REST), N+1 (v2 HTTP), N+2 (metrics), N+3 (a real
#                          Triton's gRPC) instead of the checklist's 8002/8003/8005/8004
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
tritonserver=""
triton_container=""
no_tritonserver=0
triton_format="onnx"
export_args=()
export_bin=""
triton_ready_timeout=600

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
    --tritonserver) need_arg "$@"; tritonserver="$2"; shift 2 ;;
    --triton-container) need_arg "$@"; triton_container="$2"; shift 2 ;;
    --no-tritonserver) no_tritonserver=1; shift ;;
    --triton-format) need_arg "$@"; triton_format="$2"; shift 2 ;;
    --export-arg) need_arg "$@"; export_args+=("$2"); shift 2 ;;
    --clip-export) need_arg "$@"; export_bin="$2"; shift 2 ;;
    --triton-ready-timeout) need_arg "$@"; triton_ready_timeout="$2"; shift 2 ;;
    --iterations) need_arg "$@"; iterations="$2"; shift 2 ;;
    --batch-sizes) need_arg "$@"; batch_sizes="$2"; shift 2 ;;
    --concurrency) need_arg "$@"; concurrency="$2"; shift 2 ;;
    --concurrent-requests) need_arg "$@"; concurrent_requests="$2"; shift 2 ;;
    --server-arg) need_arg "$@"; server_args+=("$2"); shift 2 ;;
    --build-dir) need_arg "$@"; build_dir="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,51p' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

rest_port=8002 http_port=8003 metrics_port=8005 grpc_port=8004
if [ -n "$port_base" ]; then
  rest_port=$port_base http_port=$((port_base + 1)) metrics_port=$((port_base + 2)) grpc_port=$((port_base + 3))
fi

# --- which "Triton" ------------------------------------------------------------
# external (--triton-url) > container > tritonserver (flag, then PATH) > clip-server.
triton_kind="clip-server"
container_engine=""
if [ -n "$triton_url" ]; then
  [ -z "$tritonserver$triton_container" ] || die "--triton-url excludes --tritonserver and --triton-container"
  triton_kind="external"
elif [ -n "$triton_container" ]; then
  [ -z "$tritonserver" ] || die "--tritonserver and --triton-container exclude each other"
  for engine in docker podman; do
    if command -v "$engine" >/dev/null 2>&1; then container_engine="$engine"; break; fi
  done
  [ -n "$container_engine" ] || die "--triton-container needs docker or podman on PATH"
  triton_kind="container"
elif [ -n "$tritonserver" ]; then
  resolved="$(command -v -- "$tritonserver" 2>/dev/null || true)"
  if [ -z "$resolved" ] || [ ! -f "$resolved" ] || [ ! -x "$resolved" ]; then
    die "--tritonserver: '$tritonserver' is not an executable tritonserver (e.g. /opt/tritonserver/bin/tritonserver)"
  fi
  tritonserver="$(cd "$(dirname "$resolved")" && pwd)/$(basename "$resolved")"
  triton_kind="tritonserver"
elif [ "$no_tritonserver" = 0 ] && command -v tritonserver >/dev/null 2>&1; then
  tritonserver="$(command -v tritonserver)"
  triton_kind="tritonserver"
fi
case "$triton_kind" in
  clip-server) triton_label="clip-server --api kserve (clipserve's Triton-compatible personality; no real Triton given or found)" ;;
  external) triton_label="external Triton at $triton_url (not started by this script)" ;;
  tritonserver) triton_label="real Triton: $tritonserver" ;;
  container) triton_label="real Triton: container $triton_container via $container_engine" ;;
esac
real_triton=0
case "$triton_kind" in tritonserver|container) real_triton=1 ;; esac

export_device="cpu" export_gpus=()
if [ "$real_triton" = 1 ]; then
  case "$triton_format" in onnx|torchscript) ;; *) die "--triton-format must be onnx or torchscript" ;; esac
  case "$precision" in fp32|fp16) ;; *) die "a real Triton serves the export in fp32 or fp16, not '$precision'" ;; esac
  case "$device" in
    cpu) export_device="cpu" ;;
    cuda) export_device="gpu" export_gpus=(--gpus 0) ;;
    cuda:*) export_device="gpu" export_gpus=(--gpus "${device#cuda:}") ;;
    *) die "--device must be cpu, cuda or cuda:N" ;;
  esac
fi
echo "== \"Triton\" for this run: $triton_label"

server_bin="$build_dir/apps/clip-server/clip-server"
bench_bin="$build_dir/apps/benchmark_backends/benchmark_backends"
targets=(clip-server benchmark_backends)
if [ -z "$export_bin" ]; then
  export_bin="$build_dir/apps/clip-export/clip-export"
  [ "$real_triton" = 1 ] && targets+=(clip-export)
elif [ "$real_triton" = 1 ] && [ ! -x "$export_bin" ]; then
  die "--clip-export: '$export_bin' is not executable"
fi

# --- 0. build if needed ------------------------------------------------------
missing_bin=0
for bin in "$server_bin" "$bench_bin"; do [ -x "$bin" ] || missing_bin=1; done
if [ "$real_triton" = 1 ] && [ ! -x "$export_bin" ]; then missing_bin=1; fi
if [ "$missing_bin" = 1 ]; then
  [ "$do_build" = 1 ] || die "missing one of ${targets[*]} in $build_dir (and --no-build given)"
  echo "== building (cmake --preset release && cmake --build $build_dir --target ${targets[*]})"
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    if [ "$build_dir" = "build" ]; then cmake --preset release; else cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release; fi
  fi
  cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"

# A port that answers is taken: refuse rather than benchmark someone else's server.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
busy_ports=("$rest_port" "$http_port" "$metrics_port")
[ -z "$triton_url" ] && busy_ports+=("$grpc_port")  # Triton or clip-server --api kserve listens on it
for p in "${busy_ports[@]}"; do
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
container_name=""
cleanup() {
  if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
    kill -TERM "$runner_pid" 2>/dev/null || true
    wait "$runner_pid" 2>/dev/null || true
  fi
  # The runner stops the container's client; a container whose client was
  # killed before it passed the signal on would keep the ports.
  if [ -n "$container_name" ]; then "$container_engine" rm -f "$container_name" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap on_int INT
trap on_term TERM

q() { printf '%q ' "$@"; }  # shell-quote for --server-cmd
abs_path() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }  # --build-dir may be absolute
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

# Records which "Triton" ran in a result file's context (the runner has no
# flag for it yet); the server's own /v2 metadata names a real Triton's version.
annotate() {
  [ -f "$1" ] || return 0
  local py
  py="$(command -v python3 || true)"
  if [ -z "$py" ]; then echo "run-checklist: no python3; $1 lacks context.triton_server" >&2; return 0; fi
  "$py" - "$1" "$triton_kind" "$triton_label" "${repo:-}" "$triton_json" <<'PY' || echo "run-checklist: could not annotate $1" >&2
import json, os, sys
path, kind, label, repo, triton_json = sys.argv[1:6]
info = {"kind": kind, "description": label}
if repo:
    info["model_repository"] = repo
try:
    with open(triton_json) as f:
        meta = json.load(f).get("triton", {}).get("server_info", {}).get("/v2", {})
    if isinstance(meta, dict):
        info["server_name"], info["server_version"] = meta.get("name"), meta.get("version")
except (OSError, ValueError, AttributeError):
    pass
with open(path) as f:
    doc = json.load(f)
doc.setdefault("context", {})["triton_server"] = info
with open(path + ".tmp", "w") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
    f.write("\n")
os.replace(path + ".tmp", path)
PY
}

# --- 1. export for a real Triton ------------------------------------------------
repo=""
if [ "$real_triton" = 1 ]; then
  repo="$out/model_repository"
  echo "== step 1: clip-export ($triton_format, $precision, $export_device) -> $repo"
  "$export_bin" --weights "$weights" --model "$model" --format "$triton_format" --precision "$precision" \
    --device "$export_device" "${export_gpus[@]}" "${export_args[@]}" --output "$repo" 2>&1 |
    tee "$out/clip-export.log" || die "clip-export failed (see $out/clip-export.log)"
fi

# --- 2. Triton step -----------------------------------------------------------
echo "== step 2: triton (KServe v2) benchmark -> $triton_json [$triton_label]"
if [ "$real_triton" = 1 ]; then
  triton_args=(--model-repository "$repo" --http-port "$http_port" --grpc-port "$grpc_port"
               --metrics-port "$metrics_port")
  if [ "$triton_kind" = "tritonserver" ]; then
    cmd="$(q exec "$tritonserver" "${triton_args[@]}")"
  else
    container_name="clipserve-triton-$$"
    gpu_flags=()
    if [ "$export_device" = "gpu" ]; then
      if [ "$container_engine" = "docker" ]; then gpu_flags=(--gpus all); else gpu_flags=(--device nvidia.com/gpu=all); fi
    fi
    triton_args[1]="/models"
    cmd="$(q exec "$container_engine" run --rm --name "$container_name" "${gpu_flags[@]}" --shm-size 1g \
      -p "127.0.0.1:$http_port:$http_port" -p "127.0.0.1:$grpc_port:$grpc_port" \
      -p "127.0.0.1:$metrics_port:$metrics_port" -v "$repo:/models:ro" \
      "$triton_container" tritonserver "${triton_args[@]}")"
  fi
  run_bench --backend triton --triton-url "http://127.0.0.1:$http_port" \
    --triton-metrics-url "http://127.0.0.1:$metrics_port/metrics" \
    --server-cmd "$cmd" --server-log "$out/tritonserver.log" --server-ready-timeout "$triton_ready_timeout" \
    "${settings[@]}" --output "$triton_json" "${extra[@]}" || status=1
  if [ -n "$container_name" ]; then "$container_engine" rm -f "$container_name" >/dev/null 2>&1 || true; fi
  container_name=""
elif [ -n "$triton_url" ]; then
  [ -n "$triton_metrics_url" ] || triton_metrics_url="$(echo "$triton_url" | sed -E 's#(https?://[^:/]+).*#\1#'):8005/metrics"
  run_bench --backend triton --triton-url "$triton_url" --triton-metrics-url "$triton_metrics_url" \
    "${settings[@]}" --output "$triton_json" "${extra[@]}" || status=1
else
  cmd="$(q "$(abs_path "$server_bin")" --api kserve --http-port "$http_port" --grpc-port "$grpc_port" --metrics-port "$metrics_port" "${server_common[@]}")"
  run_bench --backend triton --triton-url "http://127.0.0.1:$http_port" \
    --triton-metrics-url "http://127.0.0.1:$metrics_port/metrics" \
    --server-cmd "$cmd" --server-log "$out/clip-server-kserve.log" \
    "${settings[@]}" --output "$triton_json" "${extra[@]}" || status=1
fi

annotate "$triton_json"

# --- 3. PyTorch step (the "Triton" is stopped by now) --------------------------
echo "== step 3: pytorch (REST) benchmark -> $pytorch_json"
cmd="$(q "$(abs_path "$server_bin")" --api rest --rest-port "$rest_port" --metrics-port -1 "${server_common[@]}")"
parity=()
[ -f "$triton_json" ] && parity=(--parity-reference "$triton_json")
run_bench --backend pytorch --pytorch-url "http://127.0.0.1:$rest_port" \
  --server-cmd "$cmd" --server-log "$out/clip-server-rest.log" \
  "${settings[@]}" "${parity[@]}" --output "$pytorch_json" "${extra[@]}" || status=1

annotate "$pytorch_json"

# --- 4. sanity checks, comparison, report -------------------------------------
echo "== step 4: validate"
"$bench_bin" validate "$triton_json" "$pytorch_json" | tee "$out/validate.txt" || status=1
echo "== step 5: compare"
"$bench_bin" compare "$triton_json" "$pytorch_json" | tee "$out/compare.txt" || status=1
"$bench_bin" report "$triton_json" "$pytorch_json" --html "$out/report.html" || status=1

echo
echo "\"Triton\" used: $triton_label"
echo "checklist results in $out:"
ls -l "$out"
exit "$status"
