"""Memory of the static-asset cache under a flood: push 10x `max_bytes` of distinct,
cacheable objects through a real `guardian serve` and watch its resident memory.

    .venv/bin/python bench/cache_memory.py [--max-mib 16] [--object-kib 256]

Reports the process's RSS after start, after filling once (1x max_bytes) and after
10x, with the cache's own byte count. The bound holds when RSS after 10x stays within
RSS after 1x plus a small overhead: evicted objects are really freed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import config_text, free_port, start_nginx, stop_all, wait_port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fetch(proxy_port: int, url: str) -> int:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", "-x",
                          f"http://127.0.0.1:{proxy_port}", url], capture_output=True, text=True, timeout=30)
    return int(out.stdout or 0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-mib", type=int, default=16)
    ap.add_argument("--object-kib", type=int, default=256)
    args = ap.parse_args()
    max_bytes, object_bytes = args.max_mib * 2**20, args.object_kib * 1024
    workdir = Path(tempfile.mkdtemp(prefix="guardian-cache-mem-"))
    workdir.chmod(0o755)
    procs = []
    try:
        nginx, origin = start_nginx(workdir)
        procs.append(nginx)
        count = 10 * max_bytes // object_bytes
        static = workdir / "www" / "static"
        for i in range(count):
            (static / f"o{i}.png").write_bytes(bytes([i % 251]) * object_bytes)
        port = free_port()
        config = workdir / "guardian.toml"
        config.write_text(config_text(workdir / "data", port, lists=False, log=False, cache=True,
                                      cache_extra=f"max_bytes = {max_bytes}\n"
                                                  f"max_object_bytes = {max(object_bytes, 2**20)}\n"))
        proc = subprocess.Popen([sys.executable, "-m", "guardian.cli", "serve", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
        procs.append(proc)
        wait_port(port)
        start = rss_mib(proc.pid)
        rows = [("after start", start)]
        moved = 0
        for i in range(count):
            moved += fetch(port, f"http://127.0.0.1:{origin}/static/o{i}.png")
            if i + 1 == count // 10:
                rows.append(("after 1x max_bytes", rss_mib(proc.pid)))
        rows.append(("after 10x max_bytes", rss_mib(proc.pid)))
        stats = subprocess.run([sys.executable, "-m", "guardian.cli", "cache", "stats", "--config", str(config)],
                               capture_output=True, text=True, cwd=workdir).stdout
        print(f"cache max_bytes {args.max_mib} MiB, objects {args.object_kib} KiB, {count} objects, "
              f"{moved / 2**20:.0f} MiB through the proxy")
        print(f"{'moment':22} {'RSS MiB':>8}")
        for name, value in rows:
            print(f"{name:22} {value:8.1f}")
        growth = rows[-1][1] - rows[1][1]
        print(f"growth from 1x to 10x: {growth:.1f} MiB; over start: {rows[-1][1] - start:.1f} MiB "
              f"(max_bytes {args.max_mib} MiB)")
        print(stats)
        return 0
    finally:
        stop_all(procs, workdir)


if __name__ == "__main__":
    sys.exit(main())
