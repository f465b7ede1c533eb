"""A page's requests all at once to a website far away: does Guardian get in their way?

    .venv/bin/python bench/page_burst.py [--requests 100] [--connections 32] [--delay 0.1]
                                         [--rounds 5] [--household] [--base DIR]

A browser behind a proxy opens up to 32 connections to it and, on a page full of images,
asks for everything at once. The origin here is a threaded loopback server that answers
each request after `--delay` seconds (a website about 100 ms away), so the ideal time for
the burst is ceil(requests / connections) x delay. Printed per tree: the median over the
rounds of the whole burst's time, and its slowest single request. `--base DIR` runs
another copy of the source the same way, interleaved (as bench/pinned.py's --base), for
before/after figures from one run. Guardian runs the core-only configuration unless
`--household` (bench/household.py).
"""

from __future__ import annotations

import argparse
import http.server
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from household import config_text, for_tree
from ratios import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
BODY = b"x" * 1024


def start_origin(delay: float) -> http.server.ThreadingHTTPServer:
    class Slow(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_guardian(workdir: Path, name: str, household: bool, base: Path | None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = workdir / f"{name}.toml"
    config.write_text(for_tree(config_text(workdir / f"{name}-data", f"127.0.0.1:{port}", core=not household), base))
    env = dict(os.environ)
    if base is not None:
        env["PYTHONPATH"] = str(base)
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "-m", "guardian.cli", "serve", "--config",
                             str(config)], cwd=base or ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


class Client:
    """One keep-alive connection through the proxy."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, url: str) -> float:
        t0 = time.monotonic()
        self.sock.sendall(f"GET {url} HTTP/1.1\r\nHost: origin\r\nAccept: image/*\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"page_burst: the proxy answered {head[:40]!r}")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]
        return time.monotonic() - t0


def burst(port: int, origin: int, requests: int, connections: int, round_no: int) -> tuple[float, float]:
    """The whole burst's seconds and its slowest request's, each connection taking its share in turn."""
    clients = [Client(port) for _ in range(connections)]
    urls = [f"http://127.0.0.1:{origin}/r{round_no}/image{i}.png" for i in range(requests)]

    def share(k: int) -> list[float]:
        return [clients[k].get(url) for url in urls[k::connections]]

    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(connections) as pool:
            times = [t for part in pool.map(share, range(connections)) for t in part]
        return time.monotonic() - t0, max(times)
    finally:
        for client in clients:
            client.sock.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--household", action="store_true")
    ap.add_argument("--base", type=Path)
    args = ap.parse_args()
    origin = start_origin(args.delay)
    workdir = Path(tempfile.mkdtemp(prefix="guardian-burst-"))
    trees = {"this tree": None} | ({"base": args.base.resolve()} if args.base else {})
    started = {name: start_guardian(workdir, name.replace(" ", "-"), args.household, base)
               for name, base in trees.items()}
    try:
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for round_no in range(args.rounds):
            for name, (_, port) in started.items():
                results[name].append(burst(port, origin.server_port, args.requests, args.connections, round_no))
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait(10)
        origin.shutdown()
    ideal = math.ceil(args.requests / args.connections) * args.delay
    print(f"{args.requests} requests over {args.connections} connections to a website answering in "
          f"{args.delay * 1000:g} ms ({'household' if args.household else 'core only'}); ideal {ideal:.3f} s; "
          f"medians of {args.rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for name, rows in results.items():
        print(f"  {name:10} whole burst {statistics.median(r[0] for r in rows):.3f} s, "
              f"slowest request {statistics.median(r[1] for r in rows):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
