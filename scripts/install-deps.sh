#!/usr/bin/env bash
# Installs every Debian package clipserve needs to build, test and benchmark.
# Idempotent: packages already present are skipped by apt. Run as root or
# with sudo available. Leaves LibTorch on the OpenMP build of OpenBLAS.
#
#   scripts/install-deps.sh            build, test, benchmark (what CI needs)
#   scripts/install-deps.sh --deploy   also podman, runc, mmdebstrap and
#                                      podman-compose: build and run the image,
#                                      compose and `podman kube play`
#                                      (docs/DEPLOY.md)
set -euo pipefail

deploy=0
for arg in "$@"; do
  case "$arg" in
    --deploy) deploy=1 ;;
    *) echo "install-deps: unknown option '$arg' (--deploy)" >&2; exit 2 ;;
  esac
done

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
  python3-yaml
)
# kubectl renders the Kubernetes manifests (tests/deploy). Another kubectl
# (e.g. Google Cloud SDK's package) owns /usr/bin/kubectl and conflicts with
# Debian's kubernetes-client: keep the one that is there.
if ! command -v kubectl >/dev/null 2>&1; then PKGS+=(kubernetes-client); fi
# Containers (docs/DEPLOY.md): podman with runc (crun fails on cgroups v1 /
# hybrid hosts), mmdebstrap for the offline base image, podman-compose, and
# the CNI dnsname plugin so compose services find each other by name, and
# catatonit (the pause process of `podman kube play` pods).
if [ "$deploy" = 1 ]; then
  PKGS+=(podman runc mmdebstrap podman-compose uidmap slirp4netns fuse-overlayfs
         golang-github-containernetworking-plugin-dnsname catatonit)
fi

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
