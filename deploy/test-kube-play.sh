#!/usr/bin/env bash
# Plays the rendered Kubernetes manifests with podman (no cluster) and checks
# them end to end (minutes; not part of ctest):
#   1. kubectl kustomize deploy/k8s/overlays/OVERLAY > OUT/rendered.yaml
#   2. podman kube play OUT/play.yaml: rendered.yaml with the Deployment's
#      replicas set to 1 (podman 4.3 plays every replica as a pod and
#      publishes each containerPort on the same host port, so a second
#      replica cannot start); podman plays the Deployment and the ConfigMap
#      and skips the Service, PDB and HPA, which need a cluster. The pod is on
#      podman's default bridge network; the checks use its address.
#   3. the probes' routes answer 200 on the ports the manifest names
#      (/v2/health/ready for startup and readiness, /v2/health/live, which
#      podman runs as the container's health check), the model config from
#      the ConfigMap is the one served, and /metrics answers
#   4. benchmark_backends (from the image) benchmarks the pod (--backend triton)
#   5. podman pod stop -t GRACE (the manifest's terminationGracePeriodSeconds),
#      then podman kube down: the server drains (log "drained") and exits 0.
#      `podman kube down` alone (4.3) kills the pod at once (exit 137, no
#      SIGTERM reaches clip-server), as measured here: stop the pod first.
#
#   deploy/test-kube-play.sh [--overlay cpu] [--out DIR] [--iterations N] ...
# podman publishes the manifest's ports (8003 v2 HTTP, 8004 gRPC, 8005
# metrics) on the host too (and refuses them with --network host): they must
# be free.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
overlay=cpu
out="benchmark_results/kube_play_$(date -u +%Y%m%d_%H%M%S)"
iterations=5 batch_sizes=1,4 concurrency=4 concurrent_requests=40
die() { echo "test-kube-play: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --overlay) overlay="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --batch-sizes) batch_sizes="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --concurrent-requests) concurrent_requests="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
done
for tool in podman kubectl curl python3; do command -v "$tool" >/dev/null 2>&1 || die "needs $tool"; done
[ -n "${CONTAINERS_CONF:-}" ] || export CONTAINERS_CONF="$here/deploy/podman/containers.conf"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
summary="$out/summary.txt"; : > "$summary"
say() { echo "$*" | tee -a "$summary"; }
fail=0
check() { local n="$1"; shift; if "$@"; then say "PASS $n"; else say "FAIL $n"; fail=1; fi; }
code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }

kubectl kustomize "deploy/k8s/overlays/$overlay" > "$out/rendered.yaml" 2> "$out/kustomize.stderr"
say "rendered deploy/k8s/overlays/$overlay with $(kubectl version --client 2>/dev/null | head -1): $(grep -c '^kind:' "$out/rendered.yaml") objects ($(grep '^kind:' "$out/rendered.yaml" | awk '{print $2}' | tr '\n' ' '))"

# The ports and image the manifest names.
read -r image http grpc metrics < <(python3 - "$out/rendered.yaml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        c = d["spec"]["template"]["spec"]["containers"][0]
        p = {x["name"]: x["containerPort"] for x in c["ports"]}
        print(c["image"], p["http"], p["grpc"], p["metrics"])
EOF
)
podman image inspect "$image" >/dev/null 2>&1 || die "image $image is not here (scripts/build-image.sh --offline)"
port_busy() { (exec 3<>"/dev/tcp/${ip:-127.0.0.1}/$1") 2>/dev/null; }
ip=""
for p in $http $grpc $metrics; do port_busy "$p" && die "port $p is in use on the host; podman publishes the pod's ports there"; done
python3 - "$out/rendered.yaml" "$out/play.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment":
        d["spec"]["replicas"] = 1
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
EOF

cleanup() { podman kube down "$out/play.yaml" >/dev/null 2>&1 || true; }
trap cleanup EXIT
t0=$(date +%s%N)
podman kube play "$out/play.yaml" | tee "$out/play.txt"
ctr="$(podman ps -a --format '{{.Names}}' | grep -- '-clip-server$' | head -1)"
[ -n "$ctr" ] || die "no clip-server container after kube play"
pod="$(podman inspect --format '{{.Pod}}' "$ctr")"
infra="$(podman pod inspect --format '{{.InfraContainerID}}' "$pod")"
ip="$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$infra" | awk '{print $1}')"
[ -n "$ip" ] || die "no address for pod $pod"
say "kube play: container $ctr (image $image) in pod $(podman pod inspect --format '{{.Name}}' "$pod") at $ip"

ready=0
for _ in $(seq 1 600); do
  [ "$(code_of "http://$ip:$http/v2/health/ready")" = 200 ] && { ready=1; break; }
  [ "$(podman inspect --format '{{.State.Running}}' "$ctr")" = true ] || break
  sleep 0.5
done
t_ready=$(date +%s%N)
podman logs "$ctr" > "$out/server.log" 2>&1 || true
[ "$ready" = 1 ] || { tail -20 "$out/server.log"; die "the pod never became ready"; }
say "kube play -> /v2/health/ready 200: $(( (t_ready - t0) / 1000000 )) ms; exec -> ready inside: $(sed -n 's/^clip-server: ready in \([0-9]*\) ms$/\1/p' "$out/server.log" | head -1) ms"

check "startup/readiness probe /v2/health/ready:$http 200" test "$(code_of "http://$ip:$http/v2/health/ready")" = 200
check "liveness probe /v2/health/live:$http 200" test "$(code_of "http://$ip:$http/v2/health/live")" = 200
hc="$(podman inspect --format '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$ctr" 2>/dev/null || true)"
say "podman health check of the container (from livenessProbe): ${hc:-none}"
if [ -n "$hc" ]; then check "podman healthcheck run" podman healthcheck run "$ctr"; fi
check "/metrics:$metrics answers" sh -c "curl -s --max-time 5 http://$ip:$metrics/metrics | grep -q '^nv_inference_count'"
check "gRPC port $grpc open" port_busy "$grpc"
# The served batching is the ConfigMap's config.pbtxt.
curl -s "http://$ip:$http/v2/models/openclip_vit_b32/config" > "$out/model_config.json"
want_delay="$(python3 - "$out/rendered.yaml" <<'EOF'
import re, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap":
        print(re.search(r"max_queue_delay_microseconds:\s*(\d+)", d["data"]["config.pbtxt"]).group(1))
EOF
)"
check "served config has the ConfigMap's max_queue_delay_microseconds $want_delay" \
  python3 -c "import json,sys; c=json.load(open('$out/model_config.json')); sys.exit(0 if str(c['dynamic_batching']['max_queue_delay_microseconds'])=='$want_delay' else 1)"

set +e
podman run --rm --no-healthcheck --network=host -u "$(id -u):$(id -g)" -v "$out:/results" --entrypoint benchmark_backends "$image" \
  --backend triton --triton-url "http://$ip:$http" --triton-metrics-url "http://$ip:$metrics/metrics" \
  --iterations "$iterations" --batch-sizes "$batch_sizes" --concurrency "$concurrency" \
  --concurrent-requests "$concurrent_requests" --no-progress --output /results/kube_play.json > "$out/runner.txt" 2>&1
rc=$?
set -e
check "runner exit 0" test "$rc" = 0
python3 - "$out/kube_play.json" <<'EOF' | tee -a "$summary"
import json, sys
x = json.load(open(sys.argv[1]))["triton"]
s, c = x["single"], x["concurrent"]
print(f"  runner vs pod: single p50 {s['p50_ms']:.1f} ms p99 {s['p99_ms']:.1f} ms; concurrent "
      f"{c['throughput_rps']:.2f} req/s, {c['successful']}/{c['total_requests']} ok")
sys.exit(0 if c["successful"] == c["total_requests"] else 1)
EOF

# Follow the log and the exit code before kube down removes the container.
podman logs -f "$ctr" > "$out/server.log" 2>&1 &
logs_pid=$!
(podman wait "$ctr" > "$out/exit_code" 2>/dev/null || true) &
wait_pid=$!
sleep 0.5
grace="$(python3 -c "import sys,yaml; print([d for d in yaml.safe_load_all(open('$out/play.yaml')) if d and d['kind']=='Deployment'][0]['spec']['template']['spec'].get('terminationGracePeriodSeconds', 30))")"
t_down=$(date +%s%N)
podman pod stop -t "$grace" "$pod" > "$out/stop.txt"
t_stopped=$(date +%s%N)
podman kube down "$out/play.yaml" | tee "$out/down.txt"
t_gone=$(date +%s%N)
say "podman pod stop -t $grace: $(( (t_stopped - t_down) / 1000000 )) ms (SIGTERM -> drained -> exit), then kube down $(( (t_gone - t_stopped) / 1000000 )) ms"
trap - EXIT
wait "$wait_pid" || true
wait "$logs_pid" || true
exit_code="$(tr -d '[:space:]' < "$out/exit_code")"
say "container exit code: ${exit_code:-unknown}"
say "server log tail: $(tail -3 "$out/server.log" | tr '\n' '|')"
check "exit code 0" test "$exit_code" = 0
check "server log says drained" grep -q '^clip-server: drained' "$out/server.log"
check "no clip-server container left" sh -c "! podman ps -a --format '{{.Names}}' | grep -q -- '^$ctr\$'"
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine slows every figure)"
say "results: $out"
[ "$fail" = 0 ] && say "test-kube-play: all checks passed" || say "test-kube-play: some checks FAILED"
exit "$fail"
