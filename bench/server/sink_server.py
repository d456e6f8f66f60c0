#!/usr/bin/python3
"""The floor for figure 2 of transport_bench.sh: a minimal HTTP/1.1 server
that reads each request body into one preallocated buffer with large
recv_into calls (up to 4 MiB each) and answers a fixed 65,536-byte body (the
size of a batch-32 ViT-B-32 embedding answer). One connection at a time, no
parsing beyond Content-Length: what moving 19.3 MB over loopback costs on
this machine, with one copy out of the kernel.

  sink_server.py PORTFILE   (binds 127.0.0.1:0, writes the port to PORTFILE)
"""
import socket
import sys

ANSWER = b"x" * 65536
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 65536\r\n\r\n"


def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = bytearray(64 << 20)
    view = memoryview(body)
    pending = b""
    while True:
        while b"\r\n\r\n" not in pending:
            chunk = conn.recv(65536)
            if not chunk:
                return
            pending += chunk
        head, rest = pending.split(b"\r\n\r\n", 1)
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        got = min(len(rest), n)
        view[:got] = rest[:got]
        pending = rest[got:]
        while got < n:
            r = conn.recv_into(view[got:n], min(n - got, 4 << 20))
            if r == 0:
                return
            got += r
        conn.sendall(HEAD + ANSWER)


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    with open(sys.argv[1], "w") as f:
        f.write(str(s.getsockname()[1]))
    while True:
        conn, _ = s.accept()
        try:
            serve(conn)
        finally:
            conn.close()


if __name__ == "__main__":
    main()
