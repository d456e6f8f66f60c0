#!/bin/sh
# Prints the Debian packages that own the shared libraries the given binaries
# load (ldd, then dpkg -S), one per line, sorted. The image's runtime stage
# installs exactly these, so it carries no compiler, header or -dev package,
# and the list cannot drift from what the binaries link.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
missing=$(ldd "$@" | grep 'not found' || true)
[ -z "$missing" ] || { echo "runtime-packages: unresolved libraries:" >&2; echo "$missing" >&2; exit 1; }
ldd "$@" | awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
  real=$(readlink -f "$lib")
  # usrmerge: dpkg may know the file under /lib rather than /usr/lib.
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "$lib" 2>/dev/null \
    || { echo "runtime-packages: no package owns $lib ($real)" >&2; exit 1; }
done | cut -d: -f1 | sort -u
