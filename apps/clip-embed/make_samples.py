"""Regenerates clip-embed's sample images (drawn here; no third-party images).

usage: /usr/bin/python3 apps/clip-embed/make_samples.py   (needs python3-pil)
Writes into apps/clip-embed/samples/, which holds only images, so the whole
folder can be passed to clip-embed.
"""
import math
import os
from PIL import Image, ImageDraw

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples"))

# sunset.jpg: a sky gradient with a sun and hills, 320x200 (landscape).
im = Image.new("RGB", (320, 200))
px = im.load()
for y in range(200):
    for x in range(320):
        t = y / 199
        px[x, y] = (int(250 - 90 * t), int(140 - 60 * t + 40 * math.sin(x / 50)), int(60 + 120 * t))
d = ImageDraw.Draw(im)
d.ellipse((200, 60, 260, 120), fill=(255, 220, 90))
d.polygon([(0, 200), (0, 150), (80, 110), (170, 160), (250, 130), (320, 170), (320, 200)], fill=(40, 70, 40))
im.save("sunset.jpg", quality=90)

# shapes.png: RGBA with transparency, 150x240 (portrait).
im = Image.new("RGBA", (150, 240), (0, 0, 0, 0))
d = ImageDraw.Draw(im)
d.rectangle((10, 10, 140, 100), fill=(30, 90, 200, 255))
d.ellipse((20, 110, 130, 220), fill=(220, 40, 60, 180))
d.line((0, 239, 149, 0), fill=(250, 250, 250, 255), width=5)
im.save("shapes.png")

# checker_gray.png: 8-bit grayscale checkerboard, 96x96 (upscaled by the model).
im = Image.new("L", (96, 96))
px = im.load()
for y in range(96):
    for x in range(96):
        px[x, y] = 230 if ((x // 12) + (y // 12)) % 2 else 25
im.save("checker_gray.png")
