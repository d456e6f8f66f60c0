#!/usr/bin/env bash
# Tests the clipserve image end to end with podman (minutes; not part of ctest):
#   1. builds it offline (scripts/build-image.sh --offline) unless --no-build;
#   2. runs clip-server in it (both personalities) on --network=host, on the
#      ports PORT_BASE.. (REST, v2 HTTP, v2 gRPC, metrics), configured by
#      CLIP_SERVER_* variables as the image's HEALTHCHECK reads them;
#   3. waits for /v2/health/ready; checks /health, /v2/health/live, /metrics,
#      gRPC port open, and `podman healthcheck run`;
#   4. runs benchmark_backends from the same image (--backend both, a short
#      checklist) against it, writing OUT/image_test.json, and validates it;
#   5. sends DRAIN_REQUESTS REST requests, then SIGTERM while they are in
#      flight: every one must be answered 200, the log must say "drained",
#      and the container must exit 0.
# Prints and writes OUT/summary.txt: image size, labels, exec->ready inside
# the container (the server's own "ready in N ms"), podman run->ready seen
# from the host, runner results, SIGTERM->exit time and exit code.
#
#   scripts/test-image.sh [--image TAG] [--no-build] [--port-base N] [--out DIR]
#                         [--iterations N] [--batch-sizes L] [--concurrency N]
#                         [--concurrent-requests N]
# Defaults: image localhost/clipserve:VERSION, port base 18300, out
# benchmark_results/image_test_<UTC time>, iterations 5, batch sizes 1,4,
# concurrency 4, 40 concurrent requests. Exit 0 only when every check passes.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

version="$(sed -n 's/^project(clipserve VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
image="localhost/clipserve:$version"
build=1
port_base=18300
out="benchmark_results/image_test_$(date -u +%Y%m%d_%H%M%S)"
iterations=5 batch_sizes=1,4 concurrency=4 concurrent_requests=40
drain_requests=8
die() { echo "test-image: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --port-base) port_base="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --batch-sizes) batch_sizes="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --concurrent-requests) concurrent_requests="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
command -v podman >/dev/null 2>&1 || die "needs podman (scripts/install-deps.sh --deploy)"
command -v curl >/dev/null 2>&1 || die "needs curl"
command -v python3 >/dev/null 2>&1 || die "needs python3"
[ -n "${CONTAINERS_CONF:-}" ] || export CONTAINERS_CONF="$here/deploy/podman/containers.conf"

mkdir -p "$out"; out="$(cd "$out" && pwd)"
summary="$out/summary.txt"; : > "$summary"
say() { echo "$*" | tee -a "$summary"; }
fail=0
check() {  # check NAME COMMAND...: records PASS/FAIL
  local name="$1"; shift
  if "$@"; then say "PASS $name"; else say "FAIL $name"; fail=1; fi
}

if [ "$build" = 1 ]; then
  t0=$(date +%s)
  scripts/build-image.sh --offline 2>&1 | tee "$out/build.log"
  say "build: scripts/build-image.sh --offline took $(( $(date +%s) - t0 )) s"
fi
podman image inspect "$image" >/dev/null 2>&1 || die "no image $image (build it, or drop --no-build)"
size_bytes="$(podman image inspect --format '{{.Size}}' "$image")"
say "image: $image id $(podman image inspect --format '{{.Id}}' "$image" | cut -c1-12), $size_bytes bytes ($(( size_bytes / 1048576 )) MiB), binaries: $(podman image inspect --format '{{index .Labels "clipserve.binaries"}}' "$image")"
say "labels: version=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$image") revision=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image")"
say "user: $(podman image inspect --format '{{.Config.User}}' "$image"), entrypoint: $(podman image inspect --format '{{.Config.Entrypoint}}' "$image"), healthcheck: $(podman image inspect --format '{{.Config.Healthcheck.Test}}' "$image")"

rest=$port_base http=$((port_base + 1)) grpc=$((port_base + 2)) metrics=$((port_base + 3))
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $rest $http $grpc $metrics; do port_busy "$p" && die "port $p is in use (--port-base N)"; done

name="clipserve-test-$$"
cleanup() { podman rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }

# --- run and wait for readiness ---------------------------------------------
t_run=$(date +%s%N)
podman run -d --name "$name" --network=host \
  -e CLIP_SERVER_REST_PORT=$rest -e CLIP_SERVER_HTTP_PORT=$http \
  -e CLIP_SERVER_GRPC_PORT=$grpc -e CLIP_SERVER_METRICS_PORT=$metrics \
  -e CLIP_SERVER_DRAIN_TIMEOUT_S=20 -e CLIP_SERVER_ACCESS_LOG=off \
  "$image" >/dev/null
ready=0
for _ in $(seq 1 600); do
  [ "$(code_of "http://127.0.0.1:$http/v2/health/ready")" = 200 ] && { ready=1; break; }
  [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] || break
  sleep 0.5
done
t_ready=$(date +%s%N)
podman logs "$name" > "$out/server.log" 2>&1 || true
[ "$ready" = 1 ] || { cat "$out/server.log"; die "the server never became ready"; }
say "podman run -> /v2/health/ready 200, seen from the host: $(( (t_ready - t_run) / 1000000 )) ms (0.5 s polling)"
inside="$(sed -n 's/^clip-server: ready in \([0-9]*\) ms$/\1/p' "$out/server.log" | head -1)"
say "exec -> ready inside the container (server log): ${inside:-?} ms"
grep -m1 'engine:' "$out/server.log" | tee -a "$summary" || true

check "/v2/health/ready 200" test "$(code_of "http://127.0.0.1:$http/v2/health/ready")" = 200
check "/v2/health/live 200" test "$(code_of "http://127.0.0.1:$http/v2/health/live")" = 200
check "REST /health 200" test "$(code_of "http://127.0.0.1:$rest/health")" = 200
check "/metrics has nv_inference_request_success" \
  sh -c "curl -s --max-time 5 http://127.0.0.1:$metrics/metrics | grep -q '^nv_inference_request_success'"
check "gRPC port $grpc open" port_busy "$grpc"
check "podman healthcheck run (HEALTHCHECK clip-healthcheck)" podman healthcheck run "$name"

# --- the runner, from the same image -----------------------------------------
t0=$(date +%s)
set +e
podman run --rm --no-healthcheck --network=host -u "$(id -u):$(id -g)" -v "$out:/results" --entrypoint benchmark_backends "$image" \
  --backend both --pytorch-url "http://127.0.0.1:$rest" --triton-url "http://127.0.0.1:$http" \
  --triton-metrics-url "http://127.0.0.1:$metrics/metrics" --iterations "$iterations" \
  --batch-sizes "$batch_sizes" --concurrency "$concurrency" --concurrent-requests "$concurrent_requests" \
  --no-progress --output /results/image_test.json > "$out/runner.txt" 2>&1
runner_rc=$?
set -e
say "runner: benchmark_backends --backend both --iterations $iterations --batch-sizes $batch_sizes --concurrency $concurrency --concurrent-requests $concurrent_requests: rc $runner_rc in $(( $(date +%s) - t0 )) s"
check "runner exit 0" test "$runner_rc" = 0
check "runner JSON validates" podman run --rm --no-healthcheck -v "$out:/results:ro" --entrypoint benchmark_backends "$image" validate /results/image_test.json
if [ -f "$out/image_test.json" ]; then
  python3 - "$out/image_test.json" <<'EOF' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1]))
for b in ("pytorch", "triton"):
    x = r.get(b) or {}
    if not isinstance(x, dict) or "single" not in x:
        print(f"  {b}: no results"); continue
    s, c = x["single"], x.get("concurrent", {})
    batches = " ".join(f"{k}={x[k]['p50_ms']:.1f}" for k in sorted(x) if k.startswith("batch_") and isinstance(x[k], dict) and "p50_ms" in x[k])
    print(f"  {b}: cold first request {x.get('cold_start', {}).get('first_request_ms', float('nan')):.1f} ms; "
          f"single p50 {s['p50_ms']:.1f} p99 {s['p99_ms']:.1f} ms; batch p50 ms {batches}; "
          f"concurrent {c.get('throughput_rps', float('nan')):.2f} req/s, {c.get('successful')}/{c.get('total_requests')} ok")
    if c.get("successful") != c.get("total_requests"):
        print(f"  {b}: FAILURES in the concurrent phase"); sys.exit(1)
EOF
  [ "${PIPESTATUS[0]}" = 0 ] || { say "FAIL runner failures"; fail=1; }
fi

# --- drain: SIGTERM with requests in flight -----------------------------------
img_b64="$(base64 -w0 data/samples/landscape_640x427.jpg)"
printf '{"images":["%s","%s","%s","%s"]}' "$img_b64" "$img_b64" "$img_b64" "$img_b64" > "$out/drain_body.json"
pids=()
for i in $(seq 1 "$drain_requests"); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -H 'Content-Type: application/json' \
    --data-binary "@$out/drain_body.json" "http://127.0.0.1:$rest/embed/base64" > "$out/drain_$i.code" &
  pids+=($!)
done
sleep 0.5   # every request is on the wire (loopback) before the signal
t_term=$(date +%s%N)
podman kill --signal TERM "$name" >/dev/null
ready_after="$(code_of "http://127.0.0.1:$http/v2/health/ready")"
exit_code="$(podman wait "$name")"
t_exit=$(date +%s%N)
for p in "${pids[@]}"; do wait "$p" || true; done
ok=$(cat "$out"/drain_*.code | grep -c '^200$' || true)
podman logs "$name" > "$out/server.log" 2>&1 || true
say "drain: $ok/$drain_requests in-flight requests answered 200; readiness right after SIGTERM: ${ready_after:-no answer} (listener closed or 503 expected); SIGTERM -> exit $(( (t_exit - t_term) / 1000000 )) ms; exit code $exit_code"
check "every in-flight request answered 200" test "$ok" = "$drain_requests"
check "server log says drained" grep -q '^clip-server: drained' "$out/server.log"
check "no drain timeout" sh -c "! grep -q 'drain timeout passed' '$out/server.log'"
check "exit code 0" test "$exit_code" = 0

say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine slows every figure)"
say "results: $out"
[ "$fail" = 0 ] && say "test-image: all checks passed" || say "test-image: some checks FAILED"
exit "$fail"
