#!/usr/bin/python3
"""Generates the project's small sample images into data/samples/.

Run with /usr/bin/python3 (python3-pil, python3-numpy). The images are
synthetic scenes made here (no third-party pictures); they cover the formats
and modes the image pipeline handles, for the demo and the tests.
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "samples")


def scene(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sky = np.stack([90 + 80 * y / h, 140 + 60 * y / h, 230 - 40 * y / h], axis=-1)
    img = Image.fromarray(np.clip(sky + rng.normal(0, 4, sky.shape), 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.rectangle([0, int(h * 0.65), w, h], fill=(70, 130, 60))  # ground
    d.ellipse([int(w * 0.70), int(h * 0.08), int(w * 0.85), int(h * 0.08 + w * 0.15)], fill=(250, 220, 80))  # sun
    for i in range(5):  # houses
        x0 = int(w * (0.05 + 0.18 * i))
        d.rectangle([x0, int(h * 0.45), x0 + int(w * 0.12), int(h * 0.68)], fill=(180 - 20 * i, 80 + 15 * i, 60))
        d.polygon([(x0 - 5, int(h * 0.45)), (x0 + int(w * 0.06), int(h * 0.33)), (x0 + int(w * 0.12) + 5, int(h * 0.45))],
                  fill=(120, 40, 40))
    return img


def main():
    os.makedirs(OUT, exist_ok=True)
    land = scene(640, 427, 1)
    land.save(f"{OUT}/landscape_640x427.jpg", quality=85)
    scene(300, 500, 2).save(f"{OUT}/portrait_300x500_progressive.jpg", quality=80, progressive=True)
    scene(320, 240, 3).convert("CMYK").save(f"{OUT}/cmyk_320x240.jpg", quality=85)
    scene(256, 256, 4).convert("L").save(f"{OUT}/gray_256x256.png")
    scene(200, 150, 5).convert("P", palette=Image.ADAPTIVE, colors=64).save(f"{OUT}/palette_200x150.png")
    rgba = scene(180, 240, 6)
    alpha = Image.new("L", rgba.size, 0)
    ImageDraw.Draw(alpha).ellipse([10, 10, 170, 230], fill=255)
    rgba.putalpha(alpha)
    rgba.save(f"{OUT}/rgba_180x240.png")
    scene(400, 300, 7).save(f"{OUT}/lossy_400x300.webp", quality=75)
    scene(120, 90, 8).save(f"{OUT}/lossless_120x90.webp", lossless=True)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
