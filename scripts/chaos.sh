#!/usr/bin/env bash
# Chaos scenarios against clip-server, as a benchmark program (issue 9,
# item 7), not a test: overload with a small queue, SIGTERM under load, a
# soak at concurrency 64, decompression/dimension bombs in flight. Each
# scenario starts its own clip-server on ephemeral loopback ports, is
# bounded in time, and prints one summary line; the figures also go to
# OUT/chaos.json and the server logs to OUT/<scenario>.log. Exit 1 when a
# scenario misses its bar. What each checks: scripts/chaos.py's docstring;
# recorded runs: docs/PERFORMANCE.md, "Chaos and bounds (scripts/chaos.sh)".
#
#   bash scripts/chaos.sh                         # all four, 2-minute soak
#   bash scripts/chaos.sh --soak-minutes 10 --scenarios soak
#   CLIP_SERVER=build/apps/clip-server/clip-server bash scripts/chaos.sh --out /tmp/chaos
#
# Needs a release build (make build) and /usr/bin/python3 with numpy and
# Pillow (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
server="${CLIP_SERVER:-build/apps/clip-server/clip-server}"
if [ ! -x "$server" ]; then
  echo "chaos: no $server (make build, or set CLIP_SERVER)" >&2
  exit 2
fi
exec /usr/bin/python3 scripts/chaos.py --server "$server" "$@"
