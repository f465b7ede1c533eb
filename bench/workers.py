"""`[proxy] workers`: memory per extra worker and 1 against N workers' throughput.

    .venv/bin/python bench/workers.py [--workers 1,2] [--seconds 5] [--memory-only]

Household configuration (EasyList and EasyPrivacy on the default profile, request log,
cache and access log on). Memory: `guardian serve` with N workers, 4,000 requests through
it over 20 keep-alive connections, then RSS, PSS and USS (private pages) of every process
from /proc/<pid>/smaps_rollup; again after a reload that rebuilds every worker's policy.
Throughput: ../shared/bench/proxy_peers.py (wrk, 50 clients, 1 KiB) with privoxy in the
same run, unpinned: the load generator shares the machine's cores with the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardian.control import NotRunning, call  # noqa: E402
from tests.support.origin import Origin  # noqa: E402

LISTS = ROOT.parent / "shared" / "data" / "filterlists"
PEERS = ROOT.parent / "shared" / "bench" / "proxy_peers.py"
ANCHORS = Path(os.environ.get("ANCHORS_VENV", "/tmp/anchors"))
MIB = 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def household(data_dir: Path, workers: int, timezone: str = "Europe/London", lists: Path = LISTS) -> str:
    text = f'''data_dir = "{data_dir}"
timezone = "{timezone}"
[proxy]
listen = "127.0.0.1:{free_port()}"
deny_destinations = []
deny_own_addresses = false
connect_ports = ["1-65535"]
workers = {workers}
[web]
listen = "127.0.0.1:{free_port()}"
'''
    for list_id in ("easylist", "easyprivacy"):
        text += f'[[lists]]\nid = "{list_id}"\nurl = "{lists / f"{list_id}.txt"}"\nformat = "abp"\n'
    return text + '[[profiles]]\nname = "default"\nlists = ["easylist", "easyprivacy"]\n'


def smaps(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {"rss": values["Rss"], "pss": values["Pss"],
            "uss": values["Private_Clean"] + values["Private_Dirty"]}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(port: int, origin: Origin, requests: int = 4000, connections: int = 20) -> None:
    def client(n: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = sock.makefile("rb")
            for i in range(n):
                target = f"{origin.base}/asset/a{i % 50}.js?type=text/javascript" if i % 4 == 0 \
                    else f"{origin.base}/size/1024"
                sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)

    threads = [threading.Thread(target=client, args=(requests // connections,)) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def memory(workers: int) -> dict[str, object]:
    origin = Origin()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "guardian.toml"
        lists = Path(tmp) / "lists"
        lists.mkdir()
        for name in ("easylist.txt", "easyprivacy.txt"):
            (lists / name).write_bytes((LISTS / name).read_bytes())
        config.write_text(household(Path(tmp) / "data", workers, lists=lists))
        port = int(config.read_text().split('listen = "127.0.0.1:')[1].split('"')[0])
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115
        serve = subprocess.Popen([str(ROOT / ".venv/bin/guardian"), "serve", "--config", str(config)],
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            data_dir = Path(tmp) / "data"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    status = call(data_dir, "workers", timeout=5)
                    if workers == 1 or (len(status["workers"]) == workers
                                        and all(w["serving"] for w in status["workers"])):
                        break
                except NotRunning:
                    pass
                time.sleep(0.2)
            pids = [serve.pid] + [w["pid"] for w in call(data_dir, "workers")["workers"]]
            cpu = [cpu_seconds(pid) for pid in pids]
            drive(port, origin)
            time.sleep(1.5)  # the last records reach the supervisor and its writers
            cpu = [cpu_seconds(pid) - was for pid, was in zip(pids, cpu, strict=True)]
            before = {pid: smaps(pid) for pid in pids}
            config.write_text(household(data_dir, workers, "Europe/Paris", lists))  # a reload: policies rebuilt
            call(data_dir, "reload", timeout=60)
            drive(port, origin)
            time.sleep(1)
            after = {pid: smaps(pid) for pid in pids}
            with open(lists / "easylist.txt", "a") as easylist:  # the nightly refresh brings a change
                easylist.write("||one-more-ad.example^\n")
            call(data_dir, "lists-update", timeout=120, ids=["easylist"])
            drive(port, origin)
            time.sleep(1)
            refreshed = {pid: smaps(pid) for pid in pids}
        finally:
            serve.terminate()
            serve.wait(30)
            log.close()
            origin.close()
    return {"workers": workers, "before": before, "after_reload": after, "after_refresh": refreshed, "cpu": cpu}


def throughput(workers: int, seconds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        config = Path(tmp) / "guardian.toml"
        config.write_text(household(Path(tmp) / "unused", workers))
        guardian = ROOT / ".venv/bin/guardian"
        project = f"{guardian} serve --config {config} --listen 127.0.0.1:{{port}} --data-dir {{dir}}/g"
        out = subprocess.run([str(ANCHORS / "bin/python"), str(PEERS), "--only", "privoxy,project", "--seconds",
                              str(seconds), "--json", "--project", project], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def cache_hit_rates(counts: list[int], objects: int, max_mib: int = 64, page_loads: int = 20000) -> None:
    """The real Cache, fed one trace: page loads of 20 requests each, every page load on
    one connection given to a random worker (as the shared accept queue does), assets
    drawn by popularity (Zipf over `objects`, log-normal sizes with an 8 KiB median).
    One cache of max_bytes against N caches of max_bytes / N."""
    import contextlib
    import random

    from guardian.cache import Cache, Outcome
    from guardian.config import CacheConfig
    from guardian.workers.worker import per_worker_cache

    rng = random.Random(15)
    sizes = [min(int(rng.lognormvariate(9.0, 1.2)), 2 * MIB) for _ in range(objects)]
    weights = [1 / (rank + 1) ** 0.9 for rank in range(objects)]
    trace = [rng.choices(range(objects), weights, k=20) for _ in range(page_loads)]
    config = CacheConfig(max_bytes=max_mib * MIB)
    for n in counts:
        caches = [Cache(per_worker_cache(config, n)) for _ in range(n)]
        picker = random.Random(1)
        hits = asked = 0
        for page in trace:
            cache = caches[picker.randrange(n)]
            for obj in page:
                asked += 1
                lookup = cache.lookup("GET", f"http://cdn.example/{obj}.js", [("Host", "cdn.example")])
                with lookup:
                    if lookup.outcome is Outcome.HIT:
                        hits += 1
                        continue
                    writer = cache.begin_store(lookup, 200, [
                        ("Content-Type", "text/javascript"), ("Cache-Control", "max-age=86400"),
                        ("Content-Length", str(sizes[obj]))])
                    with writer or contextlib.nullcontext():
                        if writer:
                            writer.write(b"x" * sizes[obj])
                            writer.finish()
        held = sum(c.stats()["bytes"] for c in caches)
        print(f"  workers={n}: hit rate {hits / asked:.1%} of {asked} requests, {held / MIB:.1f} MiB held "
              f"({n} cache{'s' if n > 1 else ''} of {max_mib / n:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--cache-only", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    if not args.memory_only:
        for objects in (2000, 20000):  # a working set that fits in the cache, and one three times bigger
            print(f"cache hit rate, {objects} distinct assets: one cache against one per worker (same memory)")
            cache_hit_rates(counts, objects)
    if args.cache_only:
        return
    print("memory after 4,000 requests (MiB; supervisor first, then each worker)")
    totals = {}
    for n in counts:
        result = memory(n)
        for label in ("before", "after_reload", "after_refresh"):
            procs = list(result[label].values())  # type: ignore[attr-defined]
            totals[(n, label)] = sum(p["pss"] for p in procs)
            print(f"  workers={n} {label:13} total PSS {totals[(n, label)] / MIB:6.1f}  " + "  ".join(
                f"[RSS {p['rss'] / MIB:5.1f} PSS {p['pss'] / MIB:5.1f} USS {p['uss'] / MIB:5.1f}]" for p in procs))
        cpu: list[float] = result["cpu"]  # type: ignore[assignment]
        print(f"  workers={n} CPU per request (4,000 requests, incl. 1.5 s idle): " + "  ".join(
            f"{'supervisor' if i == 0 and n > 1 else 'worker'} {seconds / 4000 * 1e6:.0f} us"
            for i, seconds in enumerate(cpu)))
    if args.memory_only:
        return
    print(f"throughput, unpinned, {args.seconds} s each (wrk 50 clients, 1 KiB; privoxy in the same run)")
    for n in counts:
        rows = throughput(n, args.seconds)
        mine, privoxy = rows["project"], rows["privoxy"]
        print(f"  workers={n}: {mine['rps']:7.0f} req/s p99 {mine['p99_ms']:6.1f} ms"
              f" RSS(tree) {mine['rss_MiB']:6.1f} MiB"
              f" | privoxy {privoxy['rps']:7.0f} req/s p99 {privoxy['p99_ms']:6.1f} ms"
              f" | ratio {mine['rps'] / privoxy['rps']:.2f}x privoxy")


if __name__ == "__main__":
    main()
