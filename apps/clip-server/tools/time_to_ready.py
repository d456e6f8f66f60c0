#!/usr/bin/python3
"""Times clip-server from exec to its first 200 on /v2/health/ready.
Usage: time_to_ready.py CLIP_SERVER_BINARY [server flags...]
Starts the binary with ephemeral ports, reads the listening line, polls
readiness every 2 ms, prints exec->listening and exec->ready, then SIGTERMs
the server and reports its exit code."""
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def main():
    cmd = [sys.argv[1], "--rest-port", "0", "--http-port", "0", "--grpc-port", "-1", "--metrics-port", "0", "--access-log", "off"] + sys.argv[2:]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    t_listen = time.monotonic() - t0
    m = re.search(r" http=[^ ]*:(\d+)", line)
    if not m:
        print("no listening line:", line, file=sys.stderr)
        proc.kill()
        return 1
    url = f"http://127.0.0.1:{m.group(1)}/v2/health/ready"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    break
        except urllib.error.HTTPError:
            pass
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            pass
        if proc.poll() is not None:
            print("server exited", file=sys.stderr)
            return 1
        time.sleep(0.002)
    t_ready = time.monotonic() - t0
    ready_line = proc.stdout.readline().strip()
    print(f"exec->listening {t_listen * 1000:.0f} ms, exec->ready {t_ready * 1000:.0f} ms ({ready_line})")
    proc.send_signal(signal.SIGTERM)
    print("exit code after SIGTERM:", proc.wait(timeout=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
