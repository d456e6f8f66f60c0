#!/bin/bash
# HEALTHCHECK of the clipserve image: liveness of the running clip-server,
# with bash's /dev/tcp (no curl in the image). It asks the KServe v2
# /v2/health/live on CLIP_SERVER_HTTP_PORT (default 8003); when that port is
# off (`--api rest` only, CLIP_SERVER_API=rest) it asks REST /healthz (liveness) on
# CLIP_SERVER_REST_PORT (default 8002). Ports given as command-line flags
# instead of CLIP_SERVER_* variables are not seen here: set the variables.
set -u
api="${CLIP_SERVER_API:-rest,kserve}"
case "$api" in
  *kserve*) port="${CLIP_SERVER_HTTP_PORT:-8003}" path=/v2/health/live ;;
  *) port="${CLIP_SERVER_REST_PORT:-8002}" path=/healthz ;;
esac
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
read -r -t 5 _ code _ <&3 || exit 1
[ "$code" = 200 ]
