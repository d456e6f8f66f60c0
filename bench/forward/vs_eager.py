#!/usr/bin/python3
"""Our CPU forward against PyTorch eager, side by side in one run.

Alternates rounds of forward_bench (our paths) and pytorch_eager.py (the
same ViT in torch.nn), so slow phases of a noisy shared machine hit both
alike, then reports per batch size the median over rounds of each one's
median call, the best call, and the ratio ours / eager.

  /usr/bin/python3 bench/forward/vs_eager.py --build build --rounds 5 \\
      --backends auto,aten --batches 1,8,16,32 --threads 2

Needs Debian's python3-torch for the eager side.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROW = re.compile(r"^\| (\S+) \| fp32 \| (\d+) \| ([\d.]+) \| [\d.]+ \|(?:.*\|)? ([\d.]+), [\d.]+")


def parse(text, rows):
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            backend, batch, med_ms, best_ms = m.group(1), int(m.group(2)), float(m.group(3)), float(m.group(4))
            rows.setdefault((backend, batch), []).append((med_ms, best_ms))


def cpu_facts():
    model = flags = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    keep = [x for x in flags if x.startswith(("avx", "fma", "amx"))]
    return model, " ".join(keep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backends", default="auto,aten")
    ap.add_argument("--batches", default="1,8,16,32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--kernel-isa", default="")
    a = ap.parse_args()
    ours_cmd = [os.path.join(a.build, "bench/forward/forward_bench"), "--threads", str(a.threads), "--batches",
                a.batches, "--dtypes", "fp32", "--backends", a.backends, "--min-seconds", str(a.min_seconds),
                "--peak-sizes", "1024,2048"]
    if a.kernel_isa:
        ours_cmd += ["--kernel-isa", a.kernel_isa]
    eager_cmd = [sys.executable, os.path.join(HERE, "pytorch_eager.py"), "--threads", str(a.threads), "--batches",
                 a.batches, "--min-seconds", str(a.min_seconds)]
    rows, peaks, paths = {}, [], set()
    for r in range(a.rounds):
        for cmd in (ours_cmd, eager_cmd) if r % 2 == 0 else (eager_cmd, ours_cmd):
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            parse(out, rows)
            for line in out.splitlines():
                m = re.match(r"peak fp32: ([\d.]+)", line)
                if m:
                    peaks.append(float(m.group(1)))
                m = re.match(r"^\| (\S+) = (.+?) \| fp32", line)
                if m:
                    paths.add(f"{m.group(1)} = {m.group(2)}")
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr, flush=True)
    model, flags = cpu_facts()
    print(f"CPU: {model}; flags: {flags}; threads {a.threads}; rounds {a.rounds} (alternating)")
    for p in sorted(paths):
        print(f"path: {p}")
    if peaks:
        print(f"GEMM peak fp32 (forward_bench, best square GEMM per round): median {statistics.median(peaks):.1f} "
              f"GFLOP/s, max {max(peaks):.1f}")
    print("| backend | batch | median ms/batch | img/s | best ms | best img/s | x eager (median) | x eager (best) |")
    print("|---|---|---|---|---|---|---|---|")
    batches = sorted({b for (_, b) in rows})
    backends = [b for b in a.backends.split(",")] + ["pytorch-eager"]
    for b in batches:
        eager = rows.get(("pytorch-eager", b))
        e_med = statistics.median(x[0] for x in eager) if eager else None
        e_best = min(x[1] for x in eager) if eager else None
        for be in backends:
            v = rows.get((be, b))
            if not v:
                continue
            med = statistics.median(x[0] for x in v)
            best = min(x[1] for x in v)
            rm = f"{e_med / med:.3f}" if e_med else "-"
            rb = f"{e_best / best:.3f}" if e_best else "-"
            print(f"| {be} | {b} | {med:.1f} | {b * 1000 / med:.2f} | {best:.1f} | {b * 1000 / best:.2f} | {rm} | {rb} |")


if __name__ == "__main__":
    main()
