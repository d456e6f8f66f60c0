#!/usr/bin/python3
"""Writes an open_clip ViT-B-32 visual state dict with random fp32 weights as
.safetensors (about 350 MB), so exec -> ready can be timed with a real file
read instead of random:SEED. Usage: make_random_safetensors.py OUT [SEED]."""
import json
import struct
import sys

import numpy as np

W, LAYERS, PATCH, GRID, MLP, EMBED = 768, 12, 32, 7, 3072, 512


def tensors():
    yield "visual.conv1.weight", (W, 3, PATCH, PATCH)
    yield "visual.class_embedding", (W,)
    yield "visual.positional_embedding", (GRID * GRID + 1, W)
    yield "visual.ln_pre.weight", (W,)
    yield "visual.ln_pre.bias", (W,)
    for i in range(LAYERS):
        p = f"visual.transformer.resblocks.{i}."
        yield p + "ln_1.weight", (W,)
        yield p + "ln_1.bias", (W,)
        yield p + "attn.in_proj_weight", (3 * W, W)
        yield p + "attn.in_proj_bias", (3 * W,)
        yield p + "attn.out_proj.weight", (W, W)
        yield p + "attn.out_proj.bias", (W,)
        yield p + "ln_2.weight", (W,)
        yield p + "ln_2.bias", (W,)
        yield p + "mlp.c_fc.weight", (MLP, W)
        yield p + "mlp.c_fc.bias", (MLP,)
        yield p + "mlp.c_proj.weight", (W, MLP)
        yield p + "mlp.c_proj.bias", (W,)
    yield "visual.ln_post.weight", (W,)
    yield "visual.ln_post.bias", (W,)
    yield "visual.proj", (W, EMBED)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    header, offset, arrays = {}, 0, []
    for name, shape in tensors():
        a = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype("<f4")
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight")):
            a[...] = 1.0
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(a.tobytes())
    print(f"{out}: {offset / 1e6:.1f} MB of weights")


if __name__ == "__main__":
    main()
