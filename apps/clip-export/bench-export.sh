#!/usr/bin/env bash
# Export time and peak RSS of clip-export, both formats (docs/EXPORT.md §Performance).
#
#   apps/clip-export/bench-export.sh [--model ViT-B-32] [--weights random:0] [--repeat 3] [--build-dir build]
#
# Each run is a fresh process under /usr/bin/time -v (wall time, maximum
# resident set size) writing into a temporary repository that is removed
# afterwards. Prints one line per run and the median per format.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="ViT-B-32" weights="random:0" repeat=3 build_dir="build" precisions="fp32 fp16"
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --precisions) precisions="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "bench-export: unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$build_dir/apps/clip-export/clip-export"
[ -x "$bin" ] || { echo "bench-export: build $bin first (cmake --build $build_dir --target clip-export)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-export: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "clip-export $model weights=$weights, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-12s %-5s %4s %9s %10s %10s\n' format prec run wall_s peak_MiB file_MiB
for precision in $precisions; do
  for format in torchscript onnx; do
    walls=() rss=()
    for run in $(seq 1 "$repeat"); do
      rm -rf "$tmp/repo"
      /usr/bin/time -v -o "$tmp/time.txt" "$bin" --model "$model" --weights "$weights" --format "$format" \
        --precision "$precision" --device gpu --output "$tmp/repo" 2>"$tmp/stderr.txt" ||
        { cat "$tmp/stderr.txt" >&2; exit 1; }
      wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$tmp/time.txt")"
      kib="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")"
      file="$(find "$tmp/repo" -name 'model.*' -printf '%s\n')"
      walls+=("$wall") rss+=("$((kib / 1024))")
      printf '%-12s %-5s %4d %9.2f %10d %10.1f\n' "$format" "$precision" "$run" "$wall" "$((kib / 1024))" \
        "$(awk -v b="$file" 'BEGIN {print b / 1048576}')"
    done
    printf '%-12s %-5s %4s %9.2f %10.0f\n' "$format" "$precision" median "$(printf '%s\n' "${walls[@]}" | median)" \
      "$(printf '%s\n' "${rss[@]}" | median)"
  done
done
