#!/usr/bin/python3
"""summarize.py DIR [DIR ...]: the SUMMARY lines of run_abab.sh sessions
(DIR/summary.txt), per figure: every run's value and the median, min and
max per variant (the label without its -round suffix). DIR/excluded.txt, if
present, lists measurements to leave out, one per line:
LABEL<TAB>LINE PREFIX<TAB>reason (e.g. another process in DIR/top.log)."""
import re
import statistics
import sys
from collections import defaultdict

METRICS = [  # (figure key, match, metric, title)
    ("fig1 wrk", "fig1 client=wrk-c8", "server_cpu_us_per_req", "fig 1: server CPU µs/request (wrk -c8)"),
    ("fig1 wrk", "fig1 client=wrk-c8", "req_per_s", "fig 1: req/s (wrk -c8)"),
    ("fig1 bb", "fig1 client=benchmark_backends-c8", "server_cpu_us_per_req", "fig 1: server CPU µs/request (benchmark_backends -c8)"),
    ("fig1 bb", "fig1 client=benchmark_backends-c8", "req_per_s", "fig 1: req/s (benchmark_backends -c8)"),
    ("fig2", "fig2 batch32_fp32", "server_cpu_ms_per_req", "fig 2: server CPU ms/request, batch 32"),
    ("fig2", "fig2 batch32_fp32", "access_log_duration_ms_p50", "fig 2: access-log duration_us p50 (ms)"),
    ("fig2", "fig2 batch32_fp32", "server_timing_sum_ms_p50", "fig 2: Server-Timing queue+preprocess+compute p50 (ms)"),
    ("fig2", "fig2 batch32_fp32", "e2e_ms_p50", "fig 2: end-to-end p50 (ms)"),
    ("fig2 floor", "fig2 floor=sink_server.py", "server_cpu_ms_per_req", "fig 2 floor (sink_server.py): CPU ms/request"),
    ("fig2 floor", "fig2 floor=sink_server.py", "e2e_ms_p50", "fig 2 floor (sink_server.py): end-to-end p50 (ms)"),
    ("fig3 bench", "fig3 image=bench1080p", "img_per_server_cpu_s", "fig 3: images per server CPU-second, bench1080p.jpg"),
    ("fig3 photo", "fig3 image=photo1080p", "img_per_server_cpu_s", "fig 3: images per server CPU-second, photo1080p.jpg"),
    ("fig3 bench", "fig3 image=bench1080p", "server_timing_preprocess_ms_p50", "fig 3: Server-Timing preprocess p50 (ms), bench1080p.jpg, sequential"),
    ("fig3 inproc", "fig3 in_process=bench/image", "img_per_s", "fig 3: bench/image in process, img/s on one core (as printed: wall time before 2026-12-01 20:00, CPU time after)"),
]


def main():
    runs = defaultdict(dict)  # label -> line key -> dict
    order = []
    excluded = set()
    for d in sys.argv[1:]:
        session = d.rstrip("/").split("/")[-1]
        try:
            for line in open(f"{d}/excluded.txt"):
                if line.strip() and not line.startswith("#"):
                    label, prefix, _ = line.rstrip("\n").split("\t", 2)
                    excluded.add((session, label, prefix))
        except FileNotFoundError:
            pass
        for line in open(f"{d}/summary.txt"):
            if not line.startswith("SUMMARY "):
                continue
            _, label, rest = line.rstrip("\n").split(" ", 2)
            run = f"{d.rstrip('/').split('/')[-1]}:{label}"
            if run not in order:
                order.append(run)
            for _, match, _, _ in METRICS:
                if (session, label, match) in excluded:
                    continue
                if rest.startswith(match):
                    runs[run][match] = dict(re.findall(r"(\w+)=([-\d.]+)", rest))
    for _, match, metric, title in METRICS:
        vals = defaultdict(list)
        cells = []
        for run in order:
            v = runs[run].get(match, {}).get(metric)
            if v is None:
                continue
            variant = re.sub(r"-\d+$", "", run.split(":")[1])
            if "in_process" in match:
                variant = "(any run)"  # bench/image does not depend on the server binary
            vals[variant].append(float(v))
            cells.append(f"{run} {v}")
        if not vals:
            continue
        print(f"{title}")
        for variant, v in vals.items():
            print(f"  {variant:10s} median {statistics.median(v):9.2f}  min {min(v):9.2f}  max {max(v):9.2f}  n={len(v)}  runs: {', '.join(f'{x:g}' for x in v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
