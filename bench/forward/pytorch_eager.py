#!/usr/bin/python3
"""PyTorch eager baseline for bench/forward: the OpenCLIP vision tower written
with torch.nn modules the way open_clip builds it (nn.MultiheadAttention,
nn.LayerNorm, nn.Linear, nn.GELU), random weights, inference mode.

Run with Debian's python3-torch (/usr/bin/python3; not on PyPI here):

  /usr/bin/python3 bench/forward/pytorch_eager.py --threads 2 --batches 1,8,16,32

Prints the same table columns as forward_bench (median call, best call), so
scripts/bench-forward-vs-eager.sh can put the two side by side in one run.
"""
import argparse
import time

import torch
from torch import nn

CONFIGS = {
    # name: (image, patch, width, layers, head_width, mlp, embed)
    "ViT-B-32": (224, 32, 768, 12, 64, 3072, 512),
    "ViT-B-16": (224, 16, 768, 12, 64, 3072, 512),
    "test-tiny": (32, 8, 64, 2, 32, 256, 32),
}


class Block(nn.Module):
    def __init__(self, width, heads, mlp):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp), nn.GELU(), nn.Linear(mlp, width))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Vision(nn.Module):
    def __init__(self, image, patch, width, layers, head_width, mlp, embed):
        super().__init__()
        grid = image // patch
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) * width ** -0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(Block(width, width // head_width, mlp) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, embed) * width ** -0.5)
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, pixels):
        x = self.conv1((pixels - self.mean) / self.std)
        x = x.flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        for b in self.blocks:
            x = b(x)
        x = self.ln_post(x[:, 0]) @ self.proj
        return x / x.norm(dim=-1, keepdim=True)


def time_calls(fn, min_seconds, min_iters=3):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ViT-B-32", choices=sorted(CONFIGS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8,16,32")
    ap.add_argument("--min-seconds", type=float, default=3.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Vision(*CONFIGS[a.model]).eval()
    image = CONFIGS[a.model][0]
    print(f"pytorch_eager: torch {torch.__version__}, threads {torch.get_num_threads()}, model {a.model}")
    print("| backend | dtype | batch | ms/batch | img/s | best: ms/batch, img/s |")
    print("|---|---|---|---|---|---|")
    with torch.inference_mode():
        for b in [int(s) for s in a.batches.split(",") if s]:
            px = torch.rand(b, 3, image, image)
            med, best = time_calls(lambda: model(px), a.min_seconds)
            print(f"| pytorch-eager | fp32 | {b} | {med * 1e3:.1f} | {b / med:.2f} | {best * 1e3:.1f}, {b / best:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
