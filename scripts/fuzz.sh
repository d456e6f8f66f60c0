#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets (preset `fuzz`: clang-14,
# ASan + UBSan, no LibTorch) and runs each for FUZZ_SECONDS (default 30),
# one after another. Fails when any target finds a crash, a leak, a timeout
# (an input that takes over FUZZ_TIMEOUT_S seconds) or runs out of memory;
# the input that did it is under build-fuzz/artifacts/<target>/.
#
# Seeds are read from tests/fuzz/corpus/<target>/ and never written: what a
# run discovers goes to build-fuzz/corpus/<target>/ (kept between runs, so
# later runs start from it). Add a finding's reproducer to tests/fuzz/corpus
# by hand, next to the fix.
#
#   FUZZ_SECONDS=30 FUZZ_TARGETS="base64 router" FUZZ_JOBS=1 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
timeout_s="${FUZZ_TIMEOUT_S:-10}"
rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}"
build_dir=build-fuzz
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake --preset fuzz
fi
cmake --build "$build_dir" -j "${FUZZ_BUILD_JOBS:-$(nproc)}" --target fuzz_all

targets="${FUZZ_TARGETS:-$(ls tests/fuzz/corpus)}"
summary="$build_dir/fuzz-summary.txt"
: > "$summary"
failed=()
for t in $targets; do
  bin="$build_dir/tests/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target $bin" >&2
    failed+=("$t (not built)")
    continue
  fi
  mkdir -p "$build_dir/corpus/$t" "$build_dir/artifacts/$t"
  log="$build_dir/fuzz-$t.log"
  echo "== fuzz $t for ${seconds}s (log: $log)"
  rc=0
  # detect_leaks: LeakSanitizer runs at the end of every input's execution.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
    "$bin" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_limit_mb" \
    -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t/" \
    "$build_dir/corpus/$t" "tests/fuzz/corpus/$t" > "$log" 2>&1 || rc=$?
  # The last status line: "#N DONE cov: C ft: F corp: K/B exec/s: E rss: R".
  status_line="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  printf '%-20s rc=%d %s\n' "$t" "$rc" "$status_line" | tee -a "$summary"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E 'ERROR|FUZZ_CHECK|runtime error|Test unit written|SUMMARY' "$log" | head -20 >&2 || true
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $build_dir/artifacts/)" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
