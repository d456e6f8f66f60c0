#!/usr/bin/env bash
# Three replicas of the image on one host, driven at once (minutes; not part of ctest).
#   1. starts N (default 3) `podman run --network=host` replicas of
#      clip-server --api kserve, replica i on ports PORT_BASE+10*i.. (v2 HTTP,
#      gRPC, metrics), each with CLIP_SERVER_THREADS (default 1) intra-op
#      threads;
#   2. waits until every replica is ready;
#   3. benchmark_backends takes one --triton-url (several endpoints in one
#      runner is not built yet), so one runner per replica, all started
#      together, each writing OUT/replica_i.json;
#   4. prints per-replica results and a merged line: requests and successes
#      summed, throughput summed (the runners ran over the same interval),
#      latency percentiles per replica only (the JSON keeps no raw samples
#      to merge);
#   5. SIGTERM to every replica: each must drain and exit 0.
#
#   deploy/test-replicas.sh [--replicas N] [--port-base N] [--threads N] [--out DIR]
#                           [--iterations N] [--batch-sizes L] [--concurrency N] [--concurrent-requests N]
# On one 2-vCPU machine the replicas share the CPUs: this shows the wiring
# (every replica serves, none fails), not scale-out throughput.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
version="$(sed -n 's/^project(clipserve VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
image="localhost/clipserve:$version"
replicas=3 port_base=18400 threads=1
out="benchmark_results/replicas_$(date -u +%Y%m%d_%H%M%S)"
iterations=5 batch_sizes=1,4 concurrency=4 concurrent_requests=40
die() { echo "test-replicas: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --port-base) port_base="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --batch-sizes) batch_sizes="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --concurrent-requests) concurrent_requests="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
done
for tool in podman curl python3; do command -v "$tool" >/dev/null 2>&1 || die "needs $tool"; done
[ -n "${CONTAINERS_CONF:-}" ] || export CONTAINERS_CONF="$here/deploy/podman/containers.conf"
podman image inspect "$image" >/dev/null 2>&1 || die "no image $image (scripts/build-image.sh --offline)"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
summary="$out/summary.txt"; : > "$summary"
say() { echo "$*" | tee -a "$summary"; }
fail=0
code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

names=()
cleanup() { for n in "${names[@]}"; do podman rm -f "$n" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
for i in $(seq 0 $((replicas - 1))); do
  http=$((port_base + 10 * i)) grpc=$((port_base + 10 * i + 1)) metrics=$((port_base + 10 * i + 2))
  for p in $http $grpc $metrics; do port_busy "$p" && die "port $p is in use (--port-base N)"; done
  n="clipserve-replica-$i-$$"
  names+=("$n")
  podman run -d --name "$n" --network=host -e CLIP_SERVER_API=kserve \
    -e CLIP_SERVER_HTTP_PORT=$http -e CLIP_SERVER_GRPC_PORT=$grpc -e CLIP_SERVER_METRICS_PORT=$metrics \
    -e CLIP_SERVER_THREADS="$threads" -e CLIP_SERVER_DRAIN_TIMEOUT_S=20 -e CLIP_SERVER_ACCESS_LOG=off \
    "$image" >/dev/null
done
t0=$(date +%s)
for i in $(seq 0 $((replicas - 1))); do
  http=$((port_base + 10 * i))
  until [ "$(code_of "http://127.0.0.1:$http/v2/health/ready")" = 200 ]; do
    [ "$(podman inspect --format '{{.State.Running}}' "${names[$i]}")" = true ] || { podman logs "${names[$i]}" | tail; die "replica $i died"; }
    [ $(( $(date +%s) - t0 )) -lt 600 ] || die "replica $i not ready after 600 s"
    sleep 0.5
  done
done
say "$replicas replicas ready in $(( $(date +%s) - t0 )) s ($image, CLIP_SERVER_THREADS=$threads each)"

pids=()
t0=$(date +%s)
for i in $(seq 0 $((replicas - 1))); do
  http=$((port_base + 10 * i)) metrics=$((port_base + 10 * i + 2))
  podman run --rm --no-healthcheck --network=host -u "$(id -u):$(id -g)" -v "$out:/results" --entrypoint benchmark_backends "$image" \
    --backend triton --triton-url "http://127.0.0.1:$http" --triton-metrics-url "http://127.0.0.1:$metrics/metrics" \
    --iterations "$iterations" --batch-sizes "$batch_sizes" --concurrency "$concurrency" \
    --concurrent-requests "$concurrent_requests" --no-progress --output "/results/replica_$i.json" \
    > "$out/runner_$i.txt" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then say "runner $i: exit 0"; else say "FAIL runner $i: exit $?"; fail=1; fi
done
say "runners (one per replica, all at once): $(( $(date +%s) - t0 )) s; --iterations $iterations --batch-sizes $batch_sizes --concurrency $concurrency --concurrent-requests $concurrent_requests each"
python3 - "$out" "$replicas" <<'EOF' | tee -a "$summary" || fail=1
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
tot_req = tot_ok = 0
rps = 0.0
bad = False
for i in range(n):
    x = json.load(open(f"{out}/replica_{i}.json"))["triton"]
    s, c = x["single"], x["concurrent"]
    m = x.get("server_metrics", {})
    print(f"  replica {i}: single p50 {s['p50_ms']:.1f} p99 {s['p99_ms']:.1f} ms; concurrent p50 {c['p50_ms']:.1f} "
          f"p99 {c['p99_ms']:.1f} ms, {c['throughput_rps']:.2f} req/s, {c['successful']}/{c['total_requests']} ok; "
          f"server inference_request_success {m.get('inference_request_success')}")
    tot_req += c["total_requests"]; tot_ok += c["successful"]; rps += c["throughput_rps"]
    bad |= c["successful"] != c["total_requests"]
print(f"  merged ({n} replicas, concurrent phase): {tot_ok}/{tot_req} ok, {rps:.2f} req/s summed")
sys.exit(1 if bad else 0)
EOF

for n in "${names[@]}"; do podman kill --signal TERM "$n" >/dev/null; done
for i in "${!names[@]}"; do
  code="$(podman wait "${names[$i]}")"
  drained=no; podman logs "${names[$i]}" 2>&1 | grep -q '^clip-server: drained' && drained=yes
  say "replica $i: SIGTERM -> exit code $code, drained: $drained"
  [ "$code" = 0 ] && [ "$drained" = yes ] || fail=1
done
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine slows every figure)"
say "results: $out"
[ "$fail" = 0 ] && say "test-replicas: all checks passed" || say "test-replicas: some checks FAILED"
exit "$fail"
