#!/usr/bin/python3
"""Chaos scenarios against clip-server, as a benchmark (not a test).

scripts/chaos.sh is the entry point; it runs this with /usr/bin/python3.
Each scenario starts its own clip-server (ephemeral ports, loopback), loads
it with an asyncio HTTP/1.1 keep-alive client, stops it, and prints one
summary line (and one JSON object per scenario with --json FILE):

  overload  ViT-B-32 (random weights, 1 thread), --max-queue-size small:
            every request is either answered 200 or rejected (503); p99 of
            the rejection time; no connection error, no other status.
  sigterm   ViT-B-32 under load, SIGTERM mid-run: every request in flight
            at the signal (fully sent at least 20 ms before it) answered
            200; every 200 the server logged reached its client; exit code
            and drain time.
  soak      --engine null, test-tiny, concurrency 64 (REST base64 PNG and
            v2 binary FP32 alternating), --soak-minutes: 0 failures, VmRSS
            (sampled from /proc/PID/status every 2 s after a warm-up) flat
            within 5%.
  bombs     --engine null, ViT-B-32 input size, --decode-threads D: hostile
            images many at once (PNG declaring 13000x13000 RGBA16, JPEG
            declaring 13000x13000, in-budget truncated PNG/JPEG, a complete
            6400x6400 JPEG, requests of 256 tiny images): peak RSS (VmHWM)
            against the bound baseline + D x --max-decode-bytes + the
            tensors of the requests in flight (see docs/PERFORMANCE.md).
"""
import argparse
import asyncio
import base64
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
from PIL import Image

MODEL = "openclip_vit_b32"


# ---------------------------------------------------------------- server

class Server:
    def __init__(self, binary, args, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        cmd = [binary, "--rest-port", "0", "--http-port", "0", "--grpc-port", "-1",
               "--metrics-port", "0"] + args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.rest = self.http = self.metrics = None
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clip-server exited {self.proc.returncode}: {open(log_path).read()[-2000:]}")
            text = open(log_path, errors="replace").read()
            m = re.search(r"listening rest=[^:]+:(\d+) http=[^:]+:(\d+) metrics=[^:]+:(\d+)", text)
            if m and "ready in" in text:
                self.rest, self.http, self.metrics = (int(g) for g in m.groups())
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("clip-server not ready in 120 s")

    def rss_kb(self, field="VmRSS"):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def log_text(self):
        self.log.flush()
        return open(self.log_path, errors="replace").read()

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# ---------------------------------------------------------------- requests

def v2_fp32_request(port, size, seed=0):
    x = np.random.default_rng(seed).random((1, 3, size, size), dtype=np.float32)
    tail = x.tobytes()
    header = json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, size, size],
                                     "parameters": {"binary_data_size": len(tail)}}],
                         "outputs": [{"name": "embedding", "parameters": {"binary_data": True}}]},
                        separators=(",", ":")).encode()
    body = header + tail
    head = (f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {len(header)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def rest_base64_request(port, images):
    body = json.dumps({"images": [base64.b64encode(b).decode() for b in images]}).encode()
    head = (f"POST /embed/base64 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def png_bytes(w, h, seed=0):
    rng = np.random.default_rng(seed)
    a = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(a).save(out, format="PNG")
    return out.getvalue()


def png_bomb(w, h, bit_depth=16, color_type=6):
    """A PNG whose IHDR declares w x h (RGBA16 by default) and whose IDAT
    holds a few compressed rows only: small on the wire, huge if decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_with_dims(w, h, truncate=True):
    """A small baseline JPEG whose SOF0 is rewritten to declare w x h; the
    scan is cut short (truncate) so the file stays a few KB."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 130, 140)).save(out, format="JPEG", quality=90)
    b = bytearray(out.getvalue())
    i = b.find(b"\xff\xc0")
    struct.pack_into(">HH", b, i + 5, h, w)
    if truncate:
        return bytes(b[:-2]) + b"\xff\xd9"
    return bytes(b)


def big_jpeg(w, h):
    out = io.BytesIO()
    Image.new("RGB", (w, h), (90, 140, 200)).save(out, format="JPEG", quality=75)
    return out.getvalue()


# ---------------------------------------------------------------- client

class Result:
    __slots__ = ("status", "latency_s", "sent_at", "done_at", "error")

    def __init__(self, status, latency_s, sent_at, done_at, error=None):
        self.status, self.latency_s, self.sent_at, self.done_at, self.error = status, latency_s, sent_at, done_at, error


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    length = int(m.group(1)) if m else 0
    if length:
        await reader.readexactly(length)
    close = re.search(rb"(?i)\r\nconnection:\s*close", head) is not None
    return status, close


async def worker(port, requests, stop_at, results, pick, timeout_s=120, stop_event=None, max_requests=None):
    """One keep-alive connection; sends requests back to back until stop_at
    (monotonic) or stop_event; reconnects after a close. Each request's
    outcome goes to results."""
    reader = writer = None
    n = 0
    while time.monotonic() < stop_at and not (stop_event and stop_event.is_set()):
        if max_requests is not None and n >= max_requests:
            break
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            except OSError as e:
                results.append(Result(None, 0.0, time.monotonic(), time.monotonic(), f"connect: {e.__class__.__name__}"))
                if stop_event is not None:
                    return  # the server is gone
                await asyncio.sleep(0.05)
                continue
        req = requests[pick(n)]
        n += 1
        t0 = time.monotonic()
        sent_at = None
        try:
            writer.write(req)
            await writer.drain()
            sent_at = time.monotonic()
            status, close = await asyncio.wait_for(read_response(reader), timeout_s)
            t1 = time.monotonic()
            results.append(Result(status, t1 - t0, sent_at, t1))
            if close:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError) as e:
            t1 = time.monotonic()
            results.append(Result(None, t1 - t0, sent_at, t1, e.__class__.__name__))
            try:
                writer.close()
            except Exception:
                pass
            writer = None
    if writer is not None:
        writer.close()


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def metric(port, name):
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---------------------------------------------------------------- scenarios

def scenario_overload(a):
    s = Server(a.server, ["--model", "ViT-B-32", "--weights", "random:0", "--threads", "1",
                          "--max-batch-size", "4", "--max-queue-size", str(a.queue_size),
                          "--access-log", "on"], os.path.join(a.out, "overload.log"))
    try:
        reqs = [v2_fp32_request(s.http, 224, seed) for seed in range(4)]
        results = []

        async def run():
            stop_at = time.monotonic() + a.overload_seconds
            await asyncio.gather(*(worker(s.http, reqs, stop_at, results, lambda n, k=k: (n + k) % 4)
                                   for k in range(a.overload_concurrency)))
        asyncio.run(run())
        success = metric(s.metrics, "nv_inference_request_success")
    finally:
        rc = s.stop()
    # The server's own time for each rejection (access log: first byte of
    # the request to the answer written), apart from the Python client's.
    server_reject_us = []
    for entry in open(os.path.join(a.out, "overload.log"), errors="replace"):
        if entry.startswith("{") and '"status":503' in entry:
            server_reject_us.append(json.loads(entry)["duration_us"])
    ok = [r for r in results if r.status == 200]
    rejected = [r for r in results if r.status == 503]
    other = [r for r in results if r.status not in (200, 503)]
    summary = {
        "scenario": "overload", "concurrency": a.overload_concurrency, "seconds": a.overload_seconds,
        "max_queue_size": a.queue_size, "requests": len(results), "ok": len(ok), "rejected_503": len(rejected),
        "other": len(other), "other_kinds": sorted({str(r.status or r.error) for r in other}),
        "server_success": int(success),
        "reject_p50_ms": round(pct([r.latency_s for r in rejected], 0.5) * 1e3, 3),
        "reject_p99_ms": round(pct([r.latency_s for r in rejected], 0.99) * 1e3, 3),
        "reject_max_ms": round(max((r.latency_s for r in rejected), default=float("nan")) * 1e3, 3),
        "server_reject_p50_ms": round(pct(server_reject_us, 0.5) / 1e3, 3),
        "server_reject_p99_ms": round(pct(server_reject_us, 0.99) / 1e3, 3),
        "ok_p50_ms": round(pct([r.latency_s for r in ok], 0.5) * 1e3, 1),
        "ok_p99_ms": round(pct([r.latency_s for r in ok], 0.99) * 1e3, 1),
        "exit_code": rc,
    }
    summary["pass"] = (not other and len(ok) == summary["server_success"] and len(rejected) > 0 and rc == 0)
    line = (f"overload: c={a.overload_concurrency} queue={a.queue_size} {a.overload_seconds}s: "
            f"{len(results)} requests, {len(ok)} ok (server counted {summary['server_success']}), "
            f"{len(rejected)} rejected 503 (client p50 {summary['reject_p50_ms']} / p99 {summary['reject_p99_ms']} ms, "
            f"server p50 {summary['server_reject_p50_ms']} / p99 {summary['server_reject_p99_ms']} ms), "
            f"{len(other)} other {summary['other_kinds']}; ok p50 {summary['ok_p50_ms']} ms; exit {rc}: "
            f"{'PASS' if summary['pass'] else 'FAIL'}")
    return summary, line


def scenario_sigterm(a):
    s = Server(a.server, ["--model", "ViT-B-32", "--weights", "random:0", "--threads", "1",
                          "--max-batch-size", "8", "--drain-timeout-s", "60", "--access-log", "on"],
               os.path.join(a.out, "sigterm.log"))
    reqs = [v2_fp32_request(s.http, 224, seed) for seed in range(4)]
    results = []
    t_sig = [None]
    t_exit = [None]

    async def run():
        stop = asyncio.Event()
        stop_at = time.monotonic() + a.sigterm_after_s + 120

        async def killer():
            await asyncio.sleep(a.sigterm_after_s)
            t_sig[0] = time.monotonic()
            s.proc.send_signal(signal.SIGTERM)
            while s.proc.poll() is None:
                await asyncio.sleep(0.01)
            t_exit[0] = time.monotonic()
            stop.set()
        await asyncio.gather(killer(), *(worker(s.http, reqs, stop_at, results, lambda n, k=k: (n + k) % 4,
                                                stop_event=stop) for k in range(a.sigterm_concurrency)))
    asyncio.run(run())
    rc = s.proc.returncode
    log = s.log_text()
    s.stop()
    server_200 = sum(1 for line in log.splitlines()
                     if line.startswith("{") and '"path":"/v2/models/' in line and '"status":200' in line)
    sig = t_sig[0]
    # In flight at the signal: fully sent 20 ms or more before it, not yet answered at it.
    in_flight = [r for r in results if r.sent_at is not None and r.sent_at <= sig - 0.02 and r.done_at >= sig]
    lost = [r for r in in_flight if r.status != 200]
    ok = [r for r in results if r.status == 200]
    after = [r for r in results if r.status != 200 and r not in in_flight]
    kinds = {}
    for r in after:
        k = str(r.status) if r.status is not None else r.error
        kinds[k] = kinds.get(k, 0) + 1
    summary = {
        "scenario": "sigterm", "concurrency": a.sigterm_concurrency, "sigterm_after_s": a.sigterm_after_s,
        "requests": len(results), "ok": len(ok), "server_logged_200": server_200,
        "in_flight_at_sigterm": len(in_flight), "in_flight_answered_200": len(in_flight) - len(lost),
        "lost": len(lost), "not_accepted_after_sigterm": kinds,
        "drain_s": round(t_exit[0] - sig, 3), "exit_code": rc,
    }
    summary["pass"] = (not lost and server_200 == len(ok) and rc == 0 and len(in_flight) > 0)
    line = (f"sigterm: c={a.sigterm_concurrency}, SIGTERM after {a.sigterm_after_s}s: {len(in_flight)} in flight at "
            f"the signal, {len(in_flight) - len(lost)} answered 200, {len(lost)} lost; {len(ok)} ok in all "
            f"(server logged {server_200}); after the signal, not accepted: {kinds}; "
            f"drained in {summary['drain_s']} s, exit {rc}: {'PASS' if summary['pass'] else 'FAIL'}")
    return summary, line


def scenario_soak(a):
    s = Server(a.server, ["--engine", "null", "--model", "test-tiny", "--access-log", "off"],
               os.path.join(a.out, "soak.log"))
    png = png_bytes(160, 120, seed=1)
    reqs = [rest_base64_request(s.rest, [png]), v2_fp32_request(s.http, 32, 0)]
    ports = [s.rest, s.http]
    results = []
    samples = []  # (t, kb)
    seconds = a.soak_minutes * 60
    warmup = min(60.0, max(10.0, seconds * 0.1))

    async def run():
        t0 = time.monotonic()
        stop_at = t0 + seconds

        async def sampler():
            while time.monotonic() < stop_at:
                samples.append((time.monotonic() - t0, s.rss_kb()))
                await asyncio.sleep(2)
        await asyncio.gather(sampler(), *(worker(ports[k % 2], reqs, stop_at, results, lambda n, k=k: k % 2)
                                          for k in range(a.soak_concurrency)))
    t_start = time.time()
    asyncio.run(run())
    wall = time.time() - t_start
    rc = s.stop()
    failures = [r for r in results if r.status != 200]
    kept = [kb for t, kb in samples if t >= warmup and kb]
    lo, hi = min(kept), max(kept)
    spread = (hi - lo) / lo
    first, last = kept[0], kept[-1]
    summary = {
        "scenario": "soak", "concurrency": a.soak_concurrency, "minutes": a.soak_minutes,
        "requests": len(results), "rps": round(len(results) / wall, 1), "failures": len(failures),
        "failure_kinds": sorted({str(r.status or r.error) for r in failures}),
        "p50_ms": round(pct([r.latency_s for r in results], 0.5) * 1e3, 2),
        "p99_ms": round(pct([r.latency_s for r in results], 0.99) * 1e3, 2),
        "warmup_s": warmup, "rss_samples": len(kept), "rss_first_kb": first, "rss_last_kb": last,
        "rss_min_kb": lo, "rss_max_kb": hi, "rss_spread_pct": round(spread * 100, 2),
        "rss_last_vs_first_pct": round((last - first) / first * 100, 2), "exit_code": rc,
    }
    summary["pass"] = not failures and spread <= 0.05 and rc == 0
    line = (f"soak: c={a.soak_concurrency} {a.soak_minutes} min: {len(results)} requests ({summary['rps']}/s, "
            f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms), {len(failures)} failures; VmRSS after "
            f"{warmup:.0f} s warm-up {lo / 1024:.1f}..{hi / 1024:.1f} MiB (spread {summary['rss_spread_pct']}%, "
            f"last vs first {summary['rss_last_vs_first_pct']}%, {len(kept)} samples); exit {rc}: "
            f"{'PASS' if summary['pass'] else 'FAIL'}")
    return summary, line


def scenario_bombs(a):
    """Two phases on one server. Phase 1: decode bombs only; the bound is
    the decode budget times the decodes that can run at once, plus the
    tensors and bodies of the requests in flight. Phase 2: requests of 256
    tiny valid images, whose tensors (3 x S x S fp32 each) the service
    allocates when it admits the request, before any decode: that term is
    bounded only by the requests in flight."""
    decode_threads = a.decode_threads
    max_decode = 128 << 20
    s = Server(a.server, ["--engine", "null", "--decode-threads", str(decode_threads),
                          "--max-decode-bytes", str(max_decode), "--access-log", "off"],
               os.path.join(a.out, "bombs.log"))
    tensor_bytes = 3 * 224 * 224 * 4
    concurrency = a.bomb_concurrency
    per_request = a.bomb_images_per_request

    def load(reqs, seconds):
        results = []

        async def run():
            stop_at = time.monotonic() + seconds
            await asyncio.gather(*(worker(s.rest, reqs, stop_at, results, lambda n, k=k: (n + k) % len(reqs),
                                          timeout_s=600) for k in range(concurrency)))
        asyncio.run(run())
        statuses = {}
        for r in results:
            k = str(r.status if r.status is not None else r.error)
            statuses[k] = statuses.get(k, 0) + 1
        return len(results), statuses

    try:
        # Warm the normal path first so the baseline includes it.
        warm = rest_base64_request(s.rest, [png_bytes(64, 48)])

        async def warmup():
            await asyncio.gather(*(worker(s.rest, [warm], time.monotonic() + 3, [], lambda n: 0)
                                   for _ in range(8)))
        asyncio.run(warmup())
        time.sleep(1)
        baseline_kb = s.rss_kb()
        kinds = {
            "png_13000x13000_rgba16": png_bomb(13000, 13000),
            "jpeg_13000x13000": jpeg_with_dims(13000, 13000),
            "png_4000x4000_rgba16_truncated": png_bomb(4000, 4000),      # 128,000,000 B: in budget
            "jpeg_6400x6400_truncated": jpeg_with_dims(6400, 6400),      # 122.9 MB: in budget
            "jpeg_6400x6400_complete": big_jpeg(6400, 6400),
        }
        bomb_reqs = [rest_base64_request(s.rest, [img] * per_request) for img in kinds.values()]
        n1, st1 = load(bomb_reqs, a.bomb_seconds)
        peak1_kb = s.rss_kb("VmHWM")
        tiny_req = rest_base64_request(s.rest, [png_bytes(2, 2)] * 256)
        n2, st2 = load([tiny_req], a.bomb_seconds)
        peak2_kb = s.rss_kb("VmHWM")
    finally:
        rc = s.stop()
    bodies1 = concurrency * max(len(r) for r in bomb_reqs)
    tensors1 = concurrency * per_request * tensor_bytes
    bound1_kb = baseline_kb + (decode_threads * max_decode + tensors1 + bodies1) // 1024
    tensors2 = concurrency * 256 * tensor_bytes
    bound2_kb = baseline_kb + (decode_threads * max_decode + tensors2 + concurrency * len(tiny_req)) // 1024
    summary = {
        "scenario": "bombs", "concurrency": concurrency, "seconds_per_phase": a.bomb_seconds,
        "images_per_request": per_request, "decode_threads": decode_threads, "max_decode_bytes": max_decode,
        "kinds": list(kinds), "baseline_kb": baseline_kb,
        "phase1": {"requests": n1, "statuses": st1, "peak_kb": peak1_kb, "bound_kb": bound1_kb,
                   "decode_term_kb": decode_threads * max_decode // 1024, "tensor_term_kb": tensors1 // 1024,
                   "body_term_kb": bodies1 // 1024},
        "phase2_256_tiny_images": {"requests": n2, "statuses": st2, "peak_kb": peak2_kb, "bound_kb": bound2_kb,
                                   "tensor_term_kb": tensors2 // 1024},
        "exit_code": rc,
    }
    errors = [k for k in list(st1) + list(st2) if k not in ("200", "400")]
    summary["pass"] = peak1_kb <= bound1_kb and peak2_kb <= bound2_kb and not errors and rc == 0
    line = (f"bombs: c={concurrency}, {a.bomb_seconds} s per phase, decode threads {decode_threads}, budget "
            f"{max_decode >> 20} MiB; VmRSS baseline {baseline_kb / 1024:.0f} MiB. Phase 1, {len(kinds)} bomb "
            f"kinds x{per_request} per request: {n1} requests {st1}, peak (VmHWM) {peak1_kb / 1024:.0f} MiB, "
            f"bound {bound1_kb / 1024:.0f} MiB (baseline + {decode_threads} x {max_decode >> 20} MiB + "
            f"{tensors1 >> 20} MiB tensors + {bodies1 >> 20} MiB bodies). Phase 2, 256 2x2 PNGs per request: "
            f"{n2} requests {st2}, peak {peak2_kb / 1024:.0f} MiB, bound {bound2_kb / 1024:.0f} MiB "
            f"(tensors {tensors2 >> 20} MiB); exit {rc}: {'PASS' if summary['pass'] else 'FAIL'}")
    return summary, line


SCENARIOS = {"overload": scenario_overload, "sigterm": scenario_sigterm, "soak": scenario_soak,
             "bombs": scenario_bombs}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="clip-server binary")
    p.add_argument("--scenarios", default="overload,sigterm,soak,bombs")
    p.add_argument("--out", default="benchmark_results/chaos", help="server logs and chaos.json")
    p.add_argument("--soak-minutes", type=float, default=2)
    p.add_argument("--soak-concurrency", type=int, default=64)
    p.add_argument("--queue-size", type=int, default=4)
    p.add_argument("--overload-concurrency", type=int, default=32)
    p.add_argument("--overload-seconds", type=int, default=20)
    p.add_argument("--sigterm-concurrency", type=int, default=32)
    p.add_argument("--sigterm-after-s", type=float, default=8)
    p.add_argument("--decode-threads", type=int, default=2)
    p.add_argument("--bomb-concurrency", type=int, default=64)
    p.add_argument("--bomb-seconds", type=int, default=30)
    p.add_argument("--bomb-images-per-request", type=int, default=4)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    failed = []
    summaries = []
    for name in a.scenarios.split(","):
        t0 = time.time()
        summary, line = SCENARIOS[name](a)
        summary["wall_s"] = round(time.time() - t0, 1)
        summaries.append(summary)
        print(line, flush=True)
        if not summary["pass"]:
            failed.append(name)
    with open(os.path.join(a.out, "chaos.json"), "w") as f:
        json.dump({"cpu": cpu_name(), "nproc": os.cpu_count(), "scenarios": summaries}, f, indent=2)
    if failed:
        print(f"chaos: FAILED: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
