#!/usr/bin/python3
"""A 1920x1080 photo-like JPEG (quality 90) made with PIL: smooth gradients,
blurred blobs, fine noise.  make_photo_jpeg.py OUT.jpg"""
import sys

import numpy as np
from PIL import Image, ImageFilter

rng = np.random.default_rng(7)
w, h = 1920, 1080
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
img = np.stack([60 + 120 * x / w, 50 + 140 * y / h, 200 - 120 * x / w], axis=-1)
blobs = Image.fromarray((rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
img = 0.6 * img + 0.4 * np.asarray(blobs.filter(ImageFilter.GaussianBlur(6)), dtype=np.float32)
img += rng.normal(0, 5, img.shape)
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90)
