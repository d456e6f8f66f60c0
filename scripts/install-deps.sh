#!/usr/bin/env bash
# Installs every Debian package clipserve needs to build, test and benchmark.
# Idempotent: packages already present are skipped by apt. Run as root or
# with sudo available. Leaves LibTorch on the OpenMP build of OpenBLAS.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libdnnl-dev
  libopenblas0-openmp
  libboost1.81-dev libcpp-httplib-dev nlohmann-json3-dev libsimdjson-dev libcli11-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc python3-grpcio
  clang-14 libfuzzer-14-dev
  nodejs
  python3 python3-pil python3-numpy
  curl wrk
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root or sudo" >&2; exit 1; fi
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# libtorch-dev pulls in libopenblas0-pthread; its threads fight LibTorch's
# OpenMP pool (2-3x slower at small batches here). Point the BLAS and LAPACK
# alternatives at the OpenMP build, which shares LibTorch's pool.
arch_dir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for alt in libblas.so.3 liblapack.so.3; do
  target="$arch_dir/openblas-openmp/$alt"
  name="$alt-$(basename "$arch_dir")"
  if [ -e "$target" ] && update-alternatives --query "$name" >/dev/null 2>&1; then
    current=$(update-alternatives --query "$name" | awk '/^Value:/{print $2}')
    if [ "$current" != "$target" ]; then
      $SUDO update-alternatives --set "$name" "$target"
    fi
  fi
done
echo "install-deps: BLAS -> $(readlink -f "$arch_dir/libblas.so.3")"
