#!/bin/bash
# clip-wait-ready [--timeout S] URL... -- COMMAND [ARG...]
# Waits until every URL answers HTTP 200 (plain http://host:port/path, with
# bash's /dev/tcp: the image has no curl), then execs COMMAND. For a runner
# container started beside the servers (compose's depends_on conditions are
# not honoured by every compose implementation). Exit 1 on timeout
# (default 600 s).
set -u
timeout_s=600
[ "${1:-}" = --timeout ] && { timeout_s="$2"; shift 2; }
urls=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do urls+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ "${#urls[@]}" -gt 0 ] && [ $# -gt 0 ] || { echo "usage: clip-wait-ready [--timeout S] URL... -- COMMAND..." >&2; exit 2; }

status_of() {  # status_of http://host:port/path -> HTTP status code, or nothing
  local rest="${1#http://}" hostport path host port code
  hostport="${rest%%/*}"; path="/${rest#*/}"; [ "$rest" = "$hostport" ] && path=/
  host="${hostport%:*}"; port="${hostport##*:}"; [ "$host" = "$hostport" ] && port=80
  exec 3<>"/dev/tcp/$host/$port" 2>/dev/null || return 0
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
  read -r -t 5 _ code _ <&3 && echo "$code"
  exec 3>&-
}

deadline=$(( $(date +%s) + timeout_s ))
for url in "${urls[@]}"; do
  until [ "$(status_of "$url")" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "clip-wait-ready: $url not ready after $timeout_s s" >&2; exit 1; }
    sleep 1
  done
  echo "clip-wait-ready: $url ready" >&2
done
exec "$@"
