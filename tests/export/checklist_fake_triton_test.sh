#!/usr/bin/env bash
# ctest: `run-checklist.sh --tritonserver` end to end, with
# fake_tritonserver.sh standing in for Triton (none exists on CI machines):
# export, start with Triton's flags, benchmark, stop, REST side, parity, and
# context.triton_server in both files. test-tiny, a few requests.
#
#   checklist_fake_triton_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1" build="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$out/log.txt" "$out"/run/*.log; do [ -f "$f" ] && { echo "--- $f:" >&2; tail -30 "$f" >&2; }; done
  exit 1
}

# Four consecutive free loopback ports (REST, v2 HTTP, metrics, gRPC).
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=""
for _ in $(seq 1 20); do
  b=$((20000 + RANDOM % 40000))
  if ! port_busy "$b" && ! port_busy $((b + 1)) && ! port_busy $((b + 2)) && ! port_busy $((b + 3)); then base="$b"; break; fi
done
[ -n "$base" ] || fail "no free port range"

export CLIPSERVE_SERVER_BIN="$build/apps/clip-server/clip-server"
export CLIPSERVE_FAKE_TRITON_ARGS="--model test-tiny --weights random:0 --threads 1"
"$src/scripts/run-checklist.sh" --tritonserver "$src/tests/export/fake_tritonserver.sh" \
  --model test-tiny --weights random:0 --threads 1 --port-base "$base" --build-dir "$build" --no-build \
  --iterations 2 --batch-sizes 1,2 --concurrency 2 --concurrent-requests 6 --out "$out/run" \
  -- --image-size 32 > "$out/log.txt" 2>&1 || fail "run-checklist exited $?"

grep -q '== "Triton" for this run: real Triton: .*fake_tritonserver.sh' "$out/log.txt" || fail "console does not name the Triton"
[ -f "$out/run/model_repository/openclip_vit_b32/config.pbtxt" ] || fail "no exported config.pbtxt"
[ -f "$out/run/model_repository/openclip_vit_b32/1/model.onnx" ] || fail "no exported model.onnx"
/usr/bin/env python3 - "$out/run" <<'PY' || fail "result files"
import json, sys
run = sys.argv[1]
for name in ("triton.json", "pytorch.json"):
    ctx = json.load(open(f"{run}/{name}"))["context"]["triton_server"]
    assert ctx["kind"] == "tritonserver", ctx
    assert ctx["model_repository"].endswith("model_repository"), ctx
parity = json.load(open(f"{run}/pytorch.json"))["parity"]
assert parity["status"] == "ok", parity
assert parity["comparisons"][0]["min_cosine"] >= 0.9999, parity
PY
echo "PASS: checklist with a (fake) tritonserver, ports $base..$((base + 3))"
