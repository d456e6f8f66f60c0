#!/usr/bin/python3
"""Sequential keep-alive POSTs of one prepared body over a raw socket, for
transport_bench.sh: end-to-end latency per request (send of the whole request
to the last byte of the answer), the time sendall() took, the server's
Server-Timing split, and (with --pid) the server's CPU per request from
/proc/PID/stat over the timed requests only.

  seq_client.py --port P --path /v2/models/M/infer --body FILE --ihcl N \
      [--n 30] [--warmup 3] [--pid PID] [--raw OUT.tsv]
Prints one JSON object.
"""
import argparse
import json
import os
import socket
import statistics
import time


def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)


def sched_ns(pid):
    """CPU time of all live threads, ns (/proc/PID/task/*/schedstat)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except OSError:
            pass
    return total


def recv_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed before the response header")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed in the response body")
        buf += chunk
    return status, headers, buf[:n], buf[n:]


def timing(header, name):
    for part in header.split(","):
        part = part.strip()
        if part.startswith(name + ";dur="):
            return float(part[len(name) + 5:])
    return 0.0


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--ihcl", required=True)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--raw")
    a = ap.parse_args()
    body = open(a.body, "rb").read()
    head = (f"POST {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
            f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {a.ihcl}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    req = head + body  # one buffer, built once, outside the timing
    sock = socket.create_connection((a.host, a.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    rows = []
    hz = os.sysconf("SC_CLK_TCK")
    t_cpu0 = None
    for i in range(a.warmup + a.n):
        if i == a.warmup and a.pid:
            t_cpu0, ns0 = ticks(a.pid), sched_ns(a.pid)
        t0 = time.perf_counter()
        sock.sendall(req)
        t1 = time.perf_counter()
        status, headers, _, buf = recv_response(sock, buf)
        t2 = time.perf_counter()
        if status != 200:
            raise SystemExit(f"status {status}")
        st = headers.get("server-timing", "")
        if i >= a.warmup:
            rows.append({"e2e_ms": (t2 - t0) * 1e3, "send_ms": (t1 - t0) * 1e3,
                         "queue_ms": timing(st, "queue"), "preprocess_ms": timing(st, "preprocess"),
                         "compute_ms": timing(st, "compute")})
    cpu_ms = sched_ms = None
    if a.pid:
        cpu_ms = (ticks(a.pid) - t_cpu0) / hz * 1e3 / a.n
        sched_ms = (sched_ns(a.pid) - ns0) / 1e6 / a.n
    sock.close()
    if a.raw:
        with open(a.raw, "w") as f:
            f.write("e2e_ms\tsend_ms\tqueue_ms\tpreprocess_ms\tcompute_ms\n")
            for r in rows:
                f.write("\t".join(f"{r[k]:.3f}" for k in ("e2e_ms", "send_ms", "queue_ms", "preprocess_ms", "compute_ms")) + "\n")
    out = {"n": a.n, "request_bytes": len(req)}
    for k in ("e2e_ms", "send_ms", "queue_ms", "preprocess_ms", "compute_ms"):
        v = [r[k] for r in rows]
        out[k] = {"p50": round(statistics.median(v), 3), "p90": round(pct(v, 0.9), 3), "min": round(min(v), 3)}
    out["server_cpu_ms_per_request"] = None if cpu_ms is None else round(cpu_ms, 3)  # /proc/PID/stat ticks
    out["server_sched_ms_per_request"] = None if sched_ms is None else round(sched_ms, 3)  # schedstat, ns
    print(json.dumps(out))


if __name__ == "__main__":
    main()
