#!/usr/bin/env bash
# A stand-in for `tritonserver`, to exercise `run-checklist.sh --tritonserver`
# where no Triton exists: takes Triton's flags, and serves the exported
# repository's config.pbtxt with `clip-server --api kserve --model-config`
# (same weights: CLIPSERVE_FAKE_TRITON_ARGS, e.g. "--model test-tiny").
#
#   scripts/run-checklist.sh --tritonserver tests/export/fake_tritonserver.sh ...
#
# It is not Triton: the run's JSON says "real Triton: .../fake_tritonserver.sh"
# and its /v2 metadata names clip-server.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
server="${CLIPSERVE_SERVER_BIN:-$here/build/apps/clip-server/clip-server}"
repo="" http=8000 metrics=8002 grpc=8001
while [ $# -gt 0 ]; do
  case "$1" in
    --model-repository) repo="$2"; shift 2 ;;
    --model-repository=*) repo="${1#*=}"; shift ;;
    --http-port) http="$2"; shift 2 ;;
    --metrics-port) metrics="$2"; shift 2 ;;
    --grpc-port) grpc="$2"; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "$repo" ] || { echo "fake_tritonserver: --model-repository is required" >&2; exit 1; }
config="$repo/openclip_vit_b32/config.pbtxt"
[ -f "$config" ] || { echo "fake_tritonserver: no $config" >&2; exit 1; }
# shellcheck disable=SC2086  # CLIPSERVE_FAKE_TRITON_ARGS is a list of words
exec "$server" --api kserve --host 127.0.0.1 --http-port "$http" --grpc-port "$grpc" --metrics-port "$metrics" \
  --model-config "$config" ${CLIPSERVE_FAKE_TRITON_ARGS:-}
