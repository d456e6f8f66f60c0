#!/usr/bin/python3
"""Request bodies for transport_bench.sh (KServe v2 binary tensor extension).

  make_bodies.py OUTDIR JPEG [JPEG ...]

writes, each as BODY (JSON header + binary tail) and BODY.ihcl (the value of
Inference-Header-Content-Length):
  fp32_1x3x32x32.bin     FP32 [1,3,32,32]   (test-tiny, like perf_analyzer's)
  fp32_32x3x224x224.bin  FP32 [32,3,224,224] (19.3 MB, ViT-B-32 batch 32)
  jpeg_<stem>.bin        BYTES [1] per JPEG: 4-byte little-endian length +
                         the JPEG (model <name>_image, tests/server/e2e_test.cpp)
  jpeg8_<stem>.bin       BYTES [8]: the same JPEG 8 times (one request's images
                         decoded in parallel, decode_parallel.sh)
The embedding is asked for as binary output, as perf_analyzer does.
"""
import json
import os
import struct
import sys

import numpy as np


def write(out, name, header, tail):
    h = json.dumps(header, separators=(",", ":")).encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(h)
        f.write(tail)
    with open(os.path.join(out, name + ".ihcl"), "w") as f:
        f.write(str(len(h)))


def tensor(out, name, shape, seed):
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)  # [0,1) pixels
    tail = x.tobytes()
    header = {"inputs": [{"name": "image", "datatype": "FP32", "shape": list(shape),
                          "parameters": {"binary_data_size": len(tail)}}],
              "outputs": [{"name": "embedding", "parameters": {"binary_data": True}}]}
    write(out, name, header, tail)


def jpeg_bytes(out, name, jpeg_path, copies=1):
    data = open(jpeg_path, "rb").read()
    tail = (struct.pack("<I", len(data)) + data) * copies
    header = {"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [copies],
                          "parameters": {"binary_data_size": len(tail)}}],
              "outputs": [{"name": "embedding", "parameters": {"binary_data": True}}]}
    write(out, name, header, tail)


if __name__ == "__main__":
    out = sys.argv[1]
    tensor(out, "fp32_1x3x32x32.bin", (1, 3, 32, 32), 1)
    tensor(out, "fp32_32x3x224x224.bin", (32, 3, 224, 224), 2)
    for jpeg in sys.argv[2:]:
        stem = os.path.splitext(os.path.basename(jpeg))[0]
        jpeg_bytes(out, f"jpeg_{stem}.bin", jpeg)
        jpeg_bytes(out, f"jpeg8_{stem}.bin", jpeg, 8)
