#!/usr/bin/python3
"""flag_interference.py DIR: write DIR/excluded.txt for summarize.py, from
DIR/top.log (run_abab.sh: every 5 s, each process above 5 % of a CPU in the
interval) and the run directories' file times.

A measurement's window runs from the file written just before it starts to
the file written when it ends (transport_bench.sh writes them in that
order). It is left out when a top sample covering part of the window shows
a process that is not ours, or when top.log does not cover the window. Ours:
one clip-server, one wrk, python3 (our clients and the sink),
benchmark_backends, image_bench, top, bash. Two clip-server lines (or two
wrk lines) in one sample mean another one ran (the other session's tests
start clip-server too), and that counts as foreign.
"""
import datetime
import os
import sys
from collections import defaultdict

OURS = {"clip-server", "wrk", "python3", "benchmark_backe", "image_bench", "top", "bash"}
SINGLE = {"clip-server", "wrk"}
INTERVAL = 5.0

# SUMMARY line prefix -> (file written before the window, file written at its end)
WINDOWS = [
    ("fig1 client=wrk-c8", "fig1.wrk.cmd", "fig1.wrk.txt"),
    ("fig1 client=benchmark_backends-c8", "fig1.bb.cmd", "fig1.bb.json"),
    ("fig2 batch32_fp32", "fig2.seq.cmd", "fig2.seq.json"),
    ("fig2 floor=sink_server.py", "fig2.server.status", "fig2-sink.seq.json"),
    ("fig3 image=bench1080p", "fig3-bench1080p.server.cmd", "fig3-bench1080p.wrk.txt"),
    ("fig3 image=photo1080p", "fig3-photo1080p.server.cmd", "fig3-photo1080p.wrk.txt"),
    ("fig3 in_process=bench/image", "image_bench.cmd", "image_bench.json"),
]


def main():
    d = sys.argv[1].rstrip("/")
    day = None
    for line in open(f"{d}/session.txt"):
        if line.startswith("date: "):
            day = datetime.datetime.fromisoformat(line.split()[1].replace("Z", "+00:00")).date()
    def at(hms):
        return datetime.datetime.combine(day, datetime.time.fromisoformat(hms), datetime.timezone.utc).timestamp()

    samples = defaultdict(list)  # epoch seconds -> [(comm, pcpu)]
    marked = False
    for line in open(f"{d}/top.log"):
        f = line.split()
        if len(f) == 2 and f[1] == "-":  # a sample with nothing above 5 % is seen by its marker
            samples[at(f[0])]
            marked = True
        elif len(f) >= 13:
            samples[at(f[0])].append((f[12], float(f[9])))
    foreign = {}
    for t, procs in samples.items():
        names = [p for p, _ in procs]
        bad = [f"{p} {c:.0f}%" for p, c in procs if p not in OURS]
        bad += [f"{n} x{names.count(n)}" for n in SINGLE if names.count(n) > 1]
        if bad:
            foreign[t] = ", ".join(sorted(set(bad)))
    first, last = (min(samples), max(samples)) if samples else (0, 0)
    if not marked:
        # Logs without sample markers: a quiet sample left no line, but top ran
        # until the session ended ("uptime after"); its last 5 s may be unsampled.
        for line in open(f"{d}/session.txt"):
            if line.startswith("uptime after:"):
                last = max(last, at(line.split()[2]) - INTERVAL)
    out = ["# LABEL<TAB>SUMMARY line prefix<TAB>why (bench/server/flag_interference.py from top.log)"]
    for run in sorted(os.listdir(d)):
        rd = os.path.join(d, run)
        if not os.path.isdir(rd):
            continue
        for prefix, a, b in WINDOWS:
            pa, pb = os.path.join(rd, a), os.path.join(rd, b)
            if not (os.path.exists(pa) and os.path.exists(pb)):
                continue
            s, e = os.stat(pa).st_mtime, os.stat(pb).st_mtime
            span = f"{datetime.datetime.fromtimestamp(s, datetime.timezone.utc):%H:%M:%S}-" \
                   f"{datetime.datetime.fromtimestamp(e, datetime.timezone.utc):%H:%M:%S}"
            if e > last or s < first - INTERVAL:
                out.append(f"{run}\t{prefix}\twindow {span} not covered by top.log")
                continue
            hits = [f"{datetime.datetime.fromtimestamp(t, datetime.timezone.utc):%H:%M:%S} {why}"
                    for t, why in sorted(foreign.items()) if t > s and t - INTERVAL < e]
            if hits:
                out.append(f"{run}\t{prefix}\twindow {span}: " + "; ".join(hits))
    with open(f"{d}/excluded.txt", "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
