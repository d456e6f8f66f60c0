#!/usr/bin/env bash
# run_abab.sh OUTDIR ROUNDS LABEL=BINARY[@FLAGS] ...: transport_bench.sh for
# each variant in turn, ROUNDS times (old-1 new-1 old-2 new-2 ...), in one
# session, with processes at nice 19 paused during each run (PAUSE_NICE19=1;
# resumed when each run ends). FLAGS (after @) are extra server flags for
# that variant. Raw outputs in OUTDIR/<label>-<round>/, all summary lines in
# OUTDIR/summary.txt, what else ran in OUTDIR/top.log, and the measurements
# that overlapped another process in OUTDIR/excluded.txt
# (flag_interference.py). Other variables (FIGS, DUR, BENCH_BIN, ...) pass
# through to transport_bench.sh.
#
#   bench/server/run_abab.sh /tmp/abab 2 old=/work/wt-dedupe/build/apps/clip-server/clip-server \
#       new=build/apps/clip-server/clip-server
set -euo pipefail
DIR=$1 ROUNDS=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"
{
  echo "date: $(date -u +%FT%TZ)"
  lscpu | grep -E '^(Model name|CPU family|Model:|CPU\(s\)|Thread|Core|Socket|L1d|L2|L3|Hypervisor)'
  echo "kernel: $(uname -r)"
  for v in "$@"; do
    bin=${v#*=}
    bin=${bin%%@*}
    echo "variant ${v%%=*}: $(readlink -f "$bin") sha256 $(sha256sum "$bin" | cut -d' ' -f1) flags: $([[ $v == *@* ]] && echo "${v#*@}" || echo none)"
  done
  echo "uptime before: $(uptime)"
} >"$DIR/session.txt"
: >"$DIR/summary.txt"
# Every 5 s, the processes that used more than 5% of a CPU in the interval
# (ours included): a record of what else ran during the timed runs.
# A line "HH:MM:SS -" marks each sample, so a quiet one is seen too.
top -b -d 5 -w 160 > >(awk '/^top -/ {t = $3; print t, "-"; fflush()} /^ *[0-9]+ / && $9 + 0 > 5 {print t, $0; fflush()}' >"$DIR/top.log") &
TOP=$!
trap 'kill $TOP 2>/dev/null || true' EXIT
for ((i = 1; i <= ROUNDS; i++)); do
  for v in "$@"; do
    label=${v%%=*}
    bin=${v#*=}
    flags=
    if [[ $bin == *@* ]]; then
      flags=${bin#*@}
      bin=${bin%%@*}
    fi
    echo "== $label-$i  $(date -u +%T) $(uptime)" | tee -a "$DIR/session.txt"
    PAUSE_NICE19=1 SERVER_FLAGS=$flags OUT="$DIR/$label-$i" "$HERE/transport_bench.sh" "$bin" "$label-$i" |
      tee -a "$DIR/summary.txt"
  done
done
sleep 6  # one more top sample, so that it covers the last run's end
echo "uptime after: $(uptime)" >>"$DIR/session.txt"
"$HERE/flag_interference.py" "$DIR" >/dev/null || true
