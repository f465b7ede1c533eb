"""Same-run ratios between Guardian configurations, on one nginx origin, with wrk.

    .venv/bin/python bench/ratios.py [--seconds 5] [--rounds 3] [--json]

Each configuration runs as its own `guardian serve` process; wrk (1 thread, 50 keep-alive
connections) loads one at a time, and the rounds are interleaved (A B C D, A B C D, ...)
so a noisy neighbour hurts every configuration alike. Reported: the median req/s and
p99 per configuration, and the ratios the issues set targets for:

  lists/core     EasyList + EasyPrivacy for the default profile vs no lists   (>= 0.9)
  logging/core   the SQLite request log on vs off                              (>= 0.95)
  hit/miss       a cacheable asset served from the cache vs the same asset
                 fetched from the origin every time                           (>= 2.0)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "filterlists"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def stop_all(procs: list[subprocess.Popen], workdir: Path) -> None:
    """Stop what a benchmark started (gracefully, then by force) and remove its files."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def start_nginx(workdir: Path) -> tuple[subprocess.Popen, int]:
    www = workdir / "www"
    (www / "static").mkdir(parents=True)
    (www / "small.txt").write_bytes(b"x" * 1024)
    (www / "static" / "logo.png").write_bytes(b"p" * 1024)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(f"""daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;
events {{ worker_connections 4096; }}
http {{ access_log off; types {{ image/png png; text/plain txt; }}
  server {{ listen 127.0.0.1:{port}; root {www}; keepalive_requests 1000000;
    location /static/ {{ add_header Cache-Control "max-age=3600"; }} }} }}""")
    proc = subprocess.Popen(["nginx", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def config_text(data_dir: Path, port: int, *, lists: bool, log: bool, cache: bool, cache_extra: str = "") -> str:
    """A benchmark configuration; `cache_extra` is appended to its [cache] table."""
    text = f'''data_dir = "{data_dir}"
[proxy]
listen = "127.0.0.1:{port}"
deny_destinations = []
deny_own_addresses = false
access_log = false
[web]
listen = "127.0.0.1:{free_port()}"
[log]
enabled = {str(log).lower()}
[cache]
enabled = {str(cache).lower()}
{cache_extra}'''
    if lists:
        text += f'''
[[lists]]
id = "easylist"
url = "{SHARED / 'easylist.txt'}"
format = "abp"
[[lists]]
id = "easyprivacy"
url = "{SHARED / 'easyprivacy.txt'}"
format = "abp"
[[profiles]]
name = "default"
lists = ["easylist", "easyprivacy"]
'''
    return text


def wrk(proxy_port: int, url: str, seconds: int) -> tuple[float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        host = url.split("/")[2]
        script.write(f'wrk.path = "{url}"\nwrk.headers["Host"] = "{host}"\n')
    out = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds}s", "--latency", "-s", script.name,
                          f"http://127.0.0.1:{proxy_port}/"], capture_output=True, text=True).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"non-2xx answers from the proxy on {proxy_port} for {url}")
    return rps, p99


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            print(f"ratios: {tool} is not installed (bash ../shared/bench/setup.sh installs it)", file=sys.stderr)
            return 1
    workdir = Path(tempfile.mkdtemp(prefix="guardian-ratios-"))
    workdir.chmod(0o755)  # nginx's workers run as an unprivileged user
    procs: list[subprocess.Popen] = []
    try:
        nginx, origin = start_nginx(workdir)
        procs.append(nginx)
        small, static = f"http://127.0.0.1:{origin}/small.txt", f"http://127.0.0.1:{origin}/static/logo.png"
        configs = {  # name: (config flags, URL)
            "core": ({"lists": False, "log": False, "cache": False}, small),
            "logging": ({"lists": False, "log": True, "cache": False}, small),
            "miss": ({"lists": False, "log": False, "cache": False}, static),
            "hit": ({"lists": False, "log": False, "cache": True}, static),
        }
        if SHARED.is_dir():
            configs["lists"] = ({"lists": True, "log": False, "cache": False}, small)
        ports = {}
        for name, (flags, _) in configs.items():
            port = free_port()
            data_dir = workdir / name
            path = workdir / f"{name}.toml"
            path.write_text(config_text(data_dir, port, **flags))
            with open(workdir / f"{name}.log", "w") as log:
                procs.append(subprocess.Popen([sys.executable, "-m", "guardian.cli", "serve", "--config", str(path)],
                                              stdout=subprocess.DEVNULL, stderr=log, cwd=workdir))
            wait_port(port)
            ports[name] = port
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
        for _ in range(args.rounds):
            for name, (_, url) in configs.items():
                results[name].append(wrk(ports[name], url, args.seconds))
        summary = {name: {"rps": statistics.median(r for r, _ in runs), "p99_ms": statistics.median(p for _, p in runs)}
                   for name, runs in results.items()}
        ratios = {"logging/core": summary["logging"]["rps"] / summary["core"]["rps"],
                  "hit/miss": summary["hit"]["rps"] / summary["miss"]["rps"]}
        if "lists" in summary:
            ratios["lists/core"] = summary["lists"]["rps"] / summary["core"]["rps"]
        if args.json:
            print(json.dumps({"configs": summary, "ratios": ratios}))
        else:
            print(f"{'configuration':14} {'req/s':>8} {'p99 ms':>8}")
            for name, row in summary.items():
                print(f"{name:14} {row['rps']:8.0f} {row['p99_ms']:8.2f}")
            for name, value in ratios.items():
                print(f"{name:14} {value:8.2f}x")
        return 0
    finally:
        stop_all(procs, workdir)


if __name__ == "__main__":
    sys.exit(main())
