#!/usr/bin/env bash
# Builds the clipserve container image (deploy/Containerfile) as
# localhost/clipserve:VERSION (VERSION from CMakeLists.txt's project()) and
# tags it :latest too.
#
#   scripts/build-image.sh [--offline] [--base IMAGE] [--engine podman|docker]
#                          [--tag NAME:TAG] [--jobs N] [--rebuild-base] [--prebuilt BUILD_DIR]
#                          [--ccache-dir DIR]
#
#   --base IMAGE   FROM image of both stages (default docker.io/library/debian:bookworm-slim,
#                  which needs a registry)
#   --offline      no registry: FROM localhost/clipserve-base:bookworm, made here
#                  (once; --rebuild-base to redo it) by mmdebstrap from this
#                  machine's apt sources (/etc/apt/sources.list[.d]) and
#                  imported with `podman import`/`docker import`. apt-get in the
#                  build then uses the same mirror (build network: host).
#   --engine E     podman or docker (default: podman when present, else docker)
#   --tag T        image name (default localhost/clipserve:VERSION)
#   --jobs N       compile jobs in the build stage (default 2)
#   --ccache-dir DIR  use this ccache directory (e.g. ~/.cache/ccache, filled by
#                  `cmake --preset release` builds under /work with
#                  CCACHE_BASEDIR=/work) in the build stage instead of the
#                  image build's own cache mount: objects already compiled
#                  on this machine are hits. Without it the build is from scratch.
#   --prebuilt DIR skip the build stage: take clip-server, benchmark_backends,
#                  clip-embed and clip-export from a Release build tree made on
#                  this (Debian 12) machine (e.g. build/), and build only the
#                  Containerfile's runtime stage around them (the same stage
#                  text, its `COPY --from=build /out/` read from the context).
#                  Minutes instead of a cold compile; labelled
#                  clipserve.binaries=prebuilt.
#
# The build context is the tracked and untracked-but-not-ignored files
# (git ls-files), so local build trees never enter it. With podman the image is
# built in docker format, which keeps the HEALTHCHECK (OCI has none), and
# deploy/podman/containers.conf (runc, rlimits) is used unless CONTAINERS_CONF
# is set. Prints the image's size and the build time at the end.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

base="docker.io/library/debian:bookworm-slim"
base_given=0
offline=0
engine=""
tag=""
jobs=2
rebuild_base=0
prebuilt=""
ccache_dir=""
offline_base="localhost/clipserve-base:bookworm"

die() { echo "build-image: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --offline) offline=1; shift ;;
    --base) [ $# -ge 2 ] || die "--base needs a value"; base="$2"; base_given=1; shift 2 ;;
    --engine) [ $# -ge 2 ] || die "--engine needs a value"; engine="$2"; shift 2 ;;
    --tag) [ $# -ge 2 ] || die "--tag needs a value"; tag="$2"; shift 2 ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; jobs="$2"; shift 2 ;;
    --rebuild-base) rebuild_base=1; shift ;;
    --ccache-dir) [ $# -ge 2 ] || die "--ccache-dir needs a directory"; ccache_dir="$(cd "$2" && pwd)"; shift 2 ;;
    --prebuilt) [ $# -ge 2 ] || die "--prebuilt needs a build directory"; prebuilt="$2"; shift 2 ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ "$offline" = 1 ] && [ "$base_given" = 1 ] && die "--offline and --base exclude each other"

if [ -z "$engine" ]; then
  if command -v podman >/dev/null 2>&1; then engine=podman
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker
  else die "neither podman nor a working docker found (scripts/install-deps.sh --deploy installs podman)"; fi
fi
command -v "$engine" >/dev/null 2>&1 || die "$engine not found"
if [ "$engine" = podman ] && [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF="$here/deploy/podman/containers.conf"
fi

version="$(sed -n 's/^project(clipserve VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
[ -n "$version" ] || die "no project VERSION in CMakeLists.txt"
git_sha="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ "$git_sha" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then git_sha="$git_sha-dirty"; fi
[ -n "$tag" ] || tag="localhost/clipserve:$version"

# --- the offline base ------------------------------------------------------
if [ "$offline" = 1 ]; then
  base="$offline_base"
  if [ "$rebuild_base" = 1 ] || ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null 2>&1 || die "--offline needs mmdebstrap (apt-get install mmdebstrap)"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    # The machine's apt sources, as they are (one-line and deb822 files).
    : > "$tmp/sources.list"; : > "$tmp/sources.sources"
    [ -f /etc/apt/sources.list ] && grep -E '^\s*deb\s' /etc/apt/sources.list >> "$tmp/sources.list" || true
    for f in /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && grep -E '^\s*deb\s' "$f" >> "$tmp/sources.list"; done
    for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && { cat "$f"; echo; } >> "$tmp/sources.sources"; done
    mirrors=()
    [ -s "$tmp/sources.list" ] && mirrors+=("$tmp/sources.list")
    [ -s "$tmp/sources.sources" ] && mirrors+=("$tmp/sources.sources")
    [ "${#mirrors[@]}" -gt 0 ] || die "no apt sources found in /etc/apt"
    echo "== base: mmdebstrap bookworm (minbase, no docs/man/locales) from ${mirrors[*]}"
    t0=$(date +%s)
    # Like debian:bookworm-slim: documentation, manuals and locales are left
    # out, also for every package installed later in the image.
    nice -n 19 mmdebstrap --variant=minbase --format=tar \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --aptopt='APT::Install-Recommends "false"' \
      bookworm "$tmp/base.tar" "${mirrors[@]}"
    "$engine" import --change 'CMD ["/bin/bash"]' "$tmp/base.tar" "$base" >/dev/null
    echo "== base: $base in $(( $(date +%s) - t0 )) s"
  fi
fi

# --- the context: what git knows, nothing ignored ----------------------------
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx" ${tmp:+"$tmp"}' EXIT
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$ctx"

containerfile="$here/deploy/Containerfile"
binaries=compiled-in-image
if [ -n "$prebuilt" ]; then
  mkdir -p "$ctx/prebuilt/bin"
  for b in clip-server benchmark_backends clip-embed clip-export; do
    [ -x "$prebuilt/apps/$b/$b" ] || die "--prebuilt: no $prebuilt/apps/$b/$b (cmake --build $prebuilt --target $b)"
    install -s "$prebuilt/apps/$b/$b" "$ctx/prebuilt/bin/"
  done
  sh deploy/image/runtime-packages.sh "$ctx"/prebuilt/bin/* > "$ctx/prebuilt/runtime-packages.txt"
  # The runtime stage of deploy/Containerfile, verbatim but for where the
  # build stage's output comes from.
  containerfile="$ctx/Containerfile.prebuilt"
  { grep -m1 '^ARG BASE=' deploy/Containerfile
    sed -n '/^FROM ${BASE} AS runtime$/,$p' deploy/Containerfile | sed 's#^COPY --from=build /out/#COPY prebuilt/#'
  } > "$containerfile"
  grep -q 'COPY prebuilt/bin/' "$containerfile" || die "deploy/Containerfile's runtime stage no longer copies /out/bin"
  binaries="prebuilt from $(cd "$prebuilt" && pwd)"
fi
build_args=(--build-arg "BASE=$base" --build-arg "VERSION=$version" --build-arg "GIT_SHA=$git_sha"
            --build-arg "JOBS=$jobs" --label "clipserve.binaries=$binaries"
            -f "$containerfile" -t "$tag" -t "${tag%:*}:latest")
if [ "$engine" = podman ]; then
  build_args+=(--format docker --network host --layers)
  [ -n "$ccache_dir" ] && build_args+=(-v "$ccache_dir:/ccache-host")
  [ "$offline" = 1 ] && build_args+=(--pull=never)
else
  build_args+=(--network host)
  [ "$offline" = 1 ] && build_args+=(--pull=false)
  [ -n "$ccache_dir" ] && die "--ccache-dir needs podman (docker build has no volumes)"
fi

echo "== $engine build $tag (base $base, version $version, git $git_sha, binaries $binaries)"
t0=$(date +%s)
nice -n 19 "$engine" build "${build_args[@]}" "$ctx"
build_s=$(( $(date +%s) - t0 ))

size_bytes="$("$engine" image inspect --format '{{.Size}}' "$tag")"
echo "== built $tag in $build_s s"
echo "== image size: $size_bytes bytes ($(( size_bytes / 1048576 )) MiB)"
echo "== labels: $("$engine" image inspect --format '{{index .Labels "org.opencontainers.image.version"}} {{index .Labels "org.opencontainers.image.revision"}}' "$tag")"
