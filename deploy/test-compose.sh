#!/usr/bin/env bash
# Runs deploy/compose.yaml with podman-compose (or `docker compose`) and checks
# the checklist came out of it (minutes; not part of ctest):
#   up -d (kserve, rest, and the one-shot runner), wait for the runner to
#   exit, copy its JSON out of the `results` volume into OUT, validate it,
#   print its summary, then `down` (SIGTERM: both servers must exit 0).
#
#   deploy/test-compose.sh [--out DIR] [--port-base N]
# --port-base N publishes REST, v2 HTTP, gRPC and metrics on host ports
# N..N+3 instead of 8002..8005 (CLIPSERVE_*_PORT); the services talk to each
# other on the compose network on their own ports either way.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
out="benchmark_results/compose_$(date -u +%Y%m%d_%H%M%S)"
port_base=18500
project=clipserve-test
die() { echo "test-compose: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --port-base) port_base="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
done
if command -v podman-compose >/dev/null 2>&1; then
  compose=(podman-compose); engine=podman
  [ -n "${CONTAINERS_CONF:-}" ] || export CONTAINERS_CONF="$here/deploy/podman/containers.conf"
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  compose=(docker compose); engine=docker
else
  die "needs podman-compose (scripts/install-deps.sh --deploy) or docker compose"
fi
export CLIPSERVE_REST_PORT=$port_base CLIPSERVE_HTTP_PORT=$((port_base + 1))
export CLIPSERVE_GRPC_PORT=$((port_base + 2)) CLIPSERVE_METRICS_PORT=$((port_base + 3))
mkdir -p "$out"; out="$(cd "$out" && pwd)"
summary="$out/summary.txt"; : > "$summary"
say() { echo "$*" | tee -a "$summary"; }
fail=0
dc() { "${compose[@]}" -p "$project" -f deploy/compose.yaml "$@"; }

cleanup() { dc down >/dev/null 2>&1 || true; }
trap cleanup EXIT
t0=$(date +%s)
dc up -d > "$out/up.txt" 2>&1 || { cat "$out/up.txt"; die "compose up failed"; }
say "${compose[*]} up -d: $(( $(date +%s) - t0 )) s"
runner="$("$engine" ps -a --format '{{.Names}}' | grep -E "^${project}[_-]runner[_-]1$" | head -1)"
[ -n "$runner" ] || { cat "$out/up.txt"; die "no runner container"; }
rc="$("$engine" wait "$runner")"
say "runner container $runner: exit $rc after $(( $(date +%s) - t0 )) s from up"
"$engine" logs "$runner" > "$out/runner.txt" 2>&1 || true
[ "$rc" = 0 ] || { say "FAIL runner exit $rc"; fail=1; tail -20 "$out/runner.txt"; }

vol="$("$engine" volume ls --format '{{.Name}}' | grep -E "^${project}[_-]results$" | head -1)"
[ -n "$vol" ] || die "no results volume"
"$engine" run --rm --no-healthcheck -v "$vol:/results:ro" --entrypoint cat "${CLIPSERVE_IMAGE:-localhost/clipserve:0.1.0}" /results/compose_checklist.json \
  > "$out/compose_checklist.json"
if "$engine" run --rm --no-healthcheck -v "$vol:/results:ro" --entrypoint benchmark_backends "${CLIPSERVE_IMAGE:-localhost/clipserve:0.1.0}" \
     validate /results/compose_checklist.json > "$out/validate.txt" 2>&1; then
  say "PASS validate (volume $vol)"
else
  say "FAIL validate"; fail=1; cat "$out/validate.txt"
fi
python3 - "$out/compose_checklist.json" <<'EOF' | tee -a "$summary" || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
bad = False
for b in ("triton", "pytorch"):
    x = r[b]; s, c = x["single"], x["concurrent"]
    print(f"  {b}: single p50 {s['p50_ms']:.1f} p99 {s['p99_ms']:.1f} ms; concurrent {c['throughput_rps']:.2f} req/s, "
          f"{c['successful']}/{c['total_requests']} ok")
    bad |= c["successful"] != c["total_requests"]
sys.exit(1 if bad else 0)
EOF

servers=()
for s in kserve rest; do servers+=("$("$engine" ps -a --format '{{.Names}}' | grep -E "^${project}[_-]${s}[_-]1$" | head -1)"); done
for s in "${servers[@]}"; do "$engine" logs -f "$s" > "$out/$s.log" 2>&1 & done
t0=$(date +%s)
dc down > "$out/down.txt" 2>&1 || true
trap - EXIT
say "${compose[*]} down: $(( $(date +%s) - t0 )) s"
wait || true
for s in "${servers[@]}"; do
  if grep -q '^clip-server: drained' "$out/$s.log"; then say "PASS $s drained on SIGTERM"; else say "FAIL $s: no drain in its log"; fail=1; fi
done
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine slows every figure)"
say "results: $out"
[ "$fail" = 0 ] && say "test-compose: all checks passed" || say "test-compose: some checks FAILED"
exit "$fail"
