#!/bin/bash
# Side by side on the 2-core VM: runner (1 client I/O thread) and wrk -t1 pinned to cpu 0, server on cpu 1.
# Usage: docs/perf/bench-loopback-2core.sh (from the repository root, after building benchmark_backends).
# OLD: a benchmark_backends built before the Beast client (the cpp-httplib runner), for the "before" line.
B=${B:-build/apps/benchmark_backends/benchmark_backends}
OLD=${OLD:-}
echo "== machine"; nproc; uname -r; lscpu | grep -E "Model name|MHz"; uptime
for c in 1 16 64 256; do
  echo "== closed loop GET /v2/health/ready, $c connections"
  taskset -c 0 $B loopback --connections $c --duration 5 --server-cpus 1 --get --path /v2/health/ready
done
echo "== closed loop POST /embed (20-byte JSON), 64 connections"
taskset -c 0 $B loopback --connections 64 --duration 5 --server-cpus 1
if [ -n "$OLD" ]; then
  echo "== before: the cpp-httplib runner (one blocking thread per connection) and its httplib server, POST /embed, 64 connections"
  taskset -c 0 $OLD loopback --connections 64 --duration 5 --server-cpus 1 --server-threads 64 --no-wrk
fi
echo "== open loop GET /v2/health/ready at 5000 req/s Poisson, server answers after 200 ms, 1500 connections"
taskset -c 0 $B loopback --connections 0 --rate 5000 --in-flight 1500 --server-delay-ms 200 --duration 10 --server-cpus 1 --get --path /v2/health/ready
uptime
