#!/usr/bin/python3
"""Pillow oracle for the image pipeline tests (run with /usr/bin/python3).

  pillow_oracle.py generate OUTDIR
      Writes test images of many modes, formats and sizes into OUTDIR.
  pillow_oracle.py reference S EXIF FILE...
      For each FILE writes FILE.<S>.rgb: the S x S uint8 RGB image that
      open_clip's inference transform produces (torchvision Resize(S,
      BICUBIC) on the PIL image in its own mode, CenterCrop(S),
      convert("RGB")), computed here with Pillow itself. EXIF=1 applies
      ImageOps.exif_transpose first. Prints "ok FILE MODE WxH" per file, or
      "error FILE MESSAGE" when Pillow refuses it.
"""
import io
import os
import sys
import warnings

import numpy as np
from PIL import Image, ImageOps


def content(w, h, seed, channels=3):
    """Smooth gradients + noise + hard edges (exercises bicubic overshoot)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        g = (x * (c + 1) * 255.0 / max(w, 1) + y * (3 - c) * 97.0 / max(h, 1)) % 256
        g += rng.normal(0, 30, size=(h, w))
        block = ((x // max(1, w // 7) + y // max(1, h // 5)) % 2) * 255
        g = np.where(((x + 2 * y + c) % 13) < 4, block, g)
        planes.append(np.clip(g, 0, 255))
    return np.stack(planes, axis=-1).round().astype(np.uint8)


def save(im, path, **kw):
    im.save(path, **kw)


def generate(out):
    os.makedirs(out, exist_ok=True)
    sizes = [
        (224, 224), (225, 224), (224, 225), (226, 226), (223, 223), (10, 10), (17, 31),
        (31, 17), (100, 150), (640, 480), (480, 640), (1000, 333), (333, 1000),
        (257, 1023), (999, 1001), (301, 227), (1, 7), (7, 1), (3, 40), (40, 3),
        (1, 1), (2, 500), (449, 449), (1920, 1080),
    ]
    for i, (w, h) in enumerate(sizes):
        rgb = Image.fromarray(content(w, h, i), "RGB")
        tag = f"{w}x{h}"
        save(rgb, f"{out}/rgb_{tag}.png")
        if min(w, h) >= 2 and w * h < 2_000_000:
            save(rgb, f"{out}/rgb_{tag}_q90.jpg", quality=90)
    # One image per mode/format combination at a few sizes (down, up, odd).
    for j, (w, h) in enumerate([(320, 200), (150, 97), (97, 150), (60, 45)]):
        tag = f"{w}x{h}"
        rgb = Image.fromarray(content(w, h, 100 + j), "RGB")
        gray = Image.fromarray(content(w, h, 200 + j, 1)[:, :, 0], "L")
        alpha = Image.fromarray(content(w, h, 300 + j, 1)[:, :, 0], "L")
        save(gray, f"{out}/gray_{tag}.png")
        save(gray, f"{out}/gray_{tag}.jpg", quality=92)
        save(rgb, f"{out}/rgb444_{tag}.jpg", quality=95, subsampling=0)
        save(rgb, f"{out}/rgb422_{tag}.jpg", quality=85, subsampling=1)
        save(rgb, f"{out}/progressive_{tag}.jpg", quality=88, progressive=True)
        save(rgb.convert("CMYK"), f"{out}/cmyk_{tag}.jpg", quality=90)
        pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=200)
        save(pal, f"{out}/palette_{tag}.png")
        pal_t = pal.copy()
        pal_t.info["transparency"] = bytes(range(0, 200))  # alpha per entry
        save(pal_t, f"{out}/palette_trns_{tag}.png", transparency=bytes(range(0, 200)))
        small = rgb.convert("P", palette=Image.ADAPTIVE, colors=12)
        save(small, f"{out}/palette4bit_{tag}.png")
        bilevel = gray.convert("1")
        save(bilevel, f"{out}/bilevel_{tag}.png")
        rgba = rgb.copy()
        rgba.putalpha(alpha)
        save(rgba, f"{out}/rgba_{tag}.png")
        la = Image.merge("LA", (gray, alpha))
        save(la, f"{out}/la_{tag}.png")
        save(gray, f"{out}/gray_trns_{tag}.png", transparency=17)
        save(rgb, f"{out}/rgb_trns_{tag}.png", transparency=(10, 20, 30))
        g16 = Image.fromarray((content(w, h, 400 + j, 1)[:, :, 0].astype(np.uint16) * 257 // (j + 1)), "I;16")
        save(g16, f"{out}/gray16_{tag}.png")
        save(rgb, f"{out}/webp_lossless_{tag}.webp", lossless=True)
        save(rgb, f"{out}/webp_lossy_{tag}.webp", quality=80)
        save(rgba, f"{out}/webp_lossless_rgba_{tag}.webp", lossless=True)
        save(rgba, f"{out}/webp_lossy_rgba_{tag}.webp", quality=75)
    # Animated WebP: Pillow opens the first frame.
    frames = [Image.fromarray(content(160, 120, 600 + k), "RGB") for k in range(3)]
    frames[0].save(f"{out}/webp_animated_160x120.webp", save_all=True, append_images=frames[1:], duration=80,
                   lossless=True)
    rgba_frames = [f.convert("RGBA") for f in frames]
    rgba_frames[0].putalpha(Image.fromarray(content(160, 120, 700, 1)[:, :, 0], "L"))
    rgba_frames[0].save(f"{out}/webp_animated_rgba_160x120.webp", save_all=True, append_images=rgba_frames[1:],
                        duration=80, quality=70)
    # Wide JPEGs (the decoder then decodes only the columns the crop needs):
    # every chroma subsampling, gray, CMYK, widths off the 8/16 grid.
    for j, (w, h) in enumerate([(1920, 1080), (2000, 301), (1283, 431), (777, 250), (1000, 333)]):
        img = Image.fromarray(content(w, h, 500 + j), "RGB")
        tag = f"{w}x{h}"
        for sub in (0, 1, 2):
            save(img, f"{out}/wide_sub{sub}_{tag}.jpg", quality=90, subsampling=sub)
        save(img.convert("L"), f"{out}/wide_gray_{tag}.jpg", quality=90)
        if j % 2 == 0:
            save(img.convert("CMYK"), f"{out}/wide_cmyk_{tag}.jpg", quality=90)
            save(img, f"{out}/wide_progressive_{tag}.jpg", quality=90, progressive=True)
    # JPEG with EXIF orientation 6 (rotate 90 clockwise when applied).
    exif = Image.Exif()
    exif[0x0112] = 6
    save(Image.fromarray(content(300, 200, 7), "RGB"), f"{out}/exif6_300x200.jpg", quality=90, exif=exif.tobytes())


def reference(size, use_exif, files):
    # Pillow warns when converting palette images with byte transparency;
    # the conversion (alpha ignored) is the behaviour under test.
    warnings.simplefilter("ignore", UserWarning)
    for path in files:
        try:
            im = Image.open(path)
            if use_exif:
                im = ImageOps.exif_transpose(im)
            mode = im.mode
            w, h = im.size
            # torchvision _compute_resized_output_size + F_pil.resize
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = size, int(size * long / short)
            new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
            im = im.resize((new_w, new_h), Image.BICUBIC)
            # torchvision CenterCrop
            top = int(round((new_h - size) / 2.0))
            left = int(round((new_w - size) / 2.0))
            im = im.crop((left, top, left + size, top + size)).convert("RGB")
            with open(f"{path}.{size}.rgb", "wb") as f:
                f.write(im.tobytes())
            print(f"ok {path} {mode} {w}x{h}")
        except Exception as e:  # noqa: BLE001 - report to the C++ side
            print(f"error {path} {type(e).__name__}: {e}")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "reference":
        reference(int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
