#!/usr/bin/python3
"""Times Pillow + numpy doing what image_bench measures, on the same JPEG.

usage: /usr/bin/python3 bench/image/pillow_baseline.py FILE.jpg [S]

open_clip's transform with Pillow: open + decode, Resize(S, BICUBIC),
CenterCrop(S), convert("RGB"), then ToTensor + Normalize done in numpy
float32 (torch is not installed here). Reports CPU time per image
(process_time, one thread), median of several rounds.
"""
import io
import statistics
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32).reshape(3, 1, 1)


def decode(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def prepare(im, s):
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = s, int(s * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    im = im.resize((new_w, new_h), Image.BICUBIC)
    top, left = int(round((new_h - s) / 2.0)), int(round((new_w - s) / 2.0))
    im = im.crop((left, top, left + s, top + s)).convert("RGB")
    x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
    return (x - MEAN) / STD


def per_call_ms(fn, rounds=5, iters=20):
    out = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(iters):
            fn()
        out.append((time.process_time() - t0) * 1000 / iters)
    return statistics.median(out)


def main():
    data = open(sys.argv[1], "rb").read()
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 224
    im = decode(data)
    print(f"Pillow {Image.__version__}, {im.size[0]}x{im.size[1]} {im.mode}, {len(data)} bytes, S={s}")
    print(f"decode                      {per_call_ms(lambda: decode(data)):7.2f} ms CPU")
    print(f"resize+crop+convert+tensor  {per_call_ms(lambda: prepare(im, s)):7.2f} ms CPU")
    print(f"end to end                  {per_call_ms(lambda: prepare(decode(data), s)):7.2f} ms CPU")


if __name__ == "__main__":
    main()
