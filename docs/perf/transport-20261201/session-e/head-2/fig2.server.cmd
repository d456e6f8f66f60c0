taskset -c 1 /tmp/tb/bin-698e6dd/clip-server --api kserve --host 127.0.0.1 --http-port 0 --metrics-port -1 --background-warmup off --threads 1 --engine null --model ViT-B-32 --access-log on
