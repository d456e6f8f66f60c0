#!/bin/bash
# One device run: runner ceiling vs wrk on 1 core; full runner against the
# trivial endpoint with real nvidia-smi (gpu_specs / gpu_before / gpu_after / sampling).
D=$(cd "$(dirname "$0")" && pwd)
export PATH="$D/bin:$PATH"
B=benchmark_backends
echo "== machine"; nproc; uname -r; grep -m1 "model name" /proc/cpuinfo
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits
command -v wrk
# The runner (1 client I/O thread) and wrk -t1 on core 0; the Beast trivial server on cores 2-9.
for c in 1 16 64 256; do
  echo "== loopback GET /v2/health/ready connections=$c"
  taskset -c 0 $B loopback --connections $c --duration 4 --server-cpus 2-9 --server-threads 8 \
    --get --path /v2/health/ready 2>&1 | tee -a $OUT/loopback.txt
done
echo "== open loop: 5000 req/s Poisson, server answers after 200 ms (about 1000 in flight), 1500 connections"
taskset -c 0 $B loopback --connections 0 --rate 5000 --in-flight 1500 --server-delay-ms 200 --duration 10 \
  --server-cpus 2-9 --server-threads 8 --get --path /v2/health/ready 2>&1 | tee -a $OUT/loopback.txt
echo "== full run against the trivial endpoint (GPU context from nvidia-smi)"
$B loopback --serve-seconds 40 --server-cpus 2-9 --server-threads 8 > /tmp/lb.out &
sleep 1
P=$(sed -E 's#.*127.0.0.1:([0-9]+).*#\1#' /tmp/lb.out)
taskset -c 0 $B --backend pytorch --pytorch-url http://127.0.0.1:$P --batch-sizes 1 --iterations 200 --concurrency 16 \
  --concurrent-requests 100000 --request-rate 5000 --duration 3 --arrival poisson --probe-images 1 --no-progress \
  --output $OUT/trivial_endpoint_h200.json 2>&1 | tail -40
