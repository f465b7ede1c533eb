"""Where Guardian's memory goes: RSS per import group, and the household configuration's
RSS at start, after a wrk run and after a parent opens the settings page.

    /tmp/anchors/bin/python bench/memory.py [--seconds 5] [--unpinned] [--imports-only] [--json]

Import groups: a fresh `.venv/bin/python` imports each group in turn (in the order a
start needs them) and prints the RSS each adds (/proc/self/status VmRSS).

The household configuration (bench/household.py's: EasyList + EasyPrivacy, request log,
cache and access log on, one process) is started by the shared harness
(`../shared/bench/proxy_peers.py`, pinned as bench/pinned.py pins: Guardian on CPU 0,
nginx and wrk on CPU 1), and its RSS (`tree_rss_mib`, as pinned.py measures it) is
printed: once listening (the index built from the lists), after a wrk run (50
keep-alive clients, 1 KiB), after a restart from the index cache (listening, then after
a wrk run), and after the settings page's first page is fetched. Issue 15's target: at
most 80 MiB after the run.

Run it with the anchors venv's Python (psutil), which ../shared/bench/setup.sh makes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from household import config_text
from pinned import ROOT, load_harness

# Each group is imported after the ones before it: what it adds on top of them.
IMPORT_GROUPS: list[tuple[str, list[str]]] = [
    ("python's own modules Guardian's core uses", ["socket", "threading", "selectors", "sqlite3", "json",
                                                    "logging", "tomllib", "zoneinfo", "hashlib"]),
    ("ssl", ["ssl"]),
    ("the configuration", ["guardian.config"]),
    ("the filter engine", ["guardian.filters"]),
    ("the proxy core", ["guardian.proxy.server", "guardian.proxy.handler"]),
    ("the policy", ["guardian.policy"]),
    ("the cache, request log, access log", ["guardian.cache", "guardian.logstore", "guardian.accesslog"]),
    ("the scheduler (APScheduler)", ["apscheduler.schedulers.background", "guardian.lists.schedule"]),
    ("the lists", ["guardian.lists"]),
    ("HTTPS interception (without certificates)", ["guardian.tls.intercept"]),
    ("the service (what `guardian serve` imports)", ["guardian.service", "guardian.cli"]),
    ("the certificate code (cryptography), on first signing", ["guardian.tls.ca", "guardian.tls.signing"]),
    ("the settings page (Flask, waitress, blueprints), on first visit", ["guardian.web.app", "guardian.web.serving"]),
]

PROBE = """
import importlib, json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
groups = json.loads(sys.argv[1])
out = [["python itself", rss()]]
for name, modules in groups:
    before = rss()
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    out.append([name, rss() - before])
print(json.dumps(out))
"""


def import_groups() -> list[tuple[str, float]]:
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", PROBE, json.dumps(IMPORT_GROUPS)],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return [(name, mib) for name, mib in json.loads(out)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--unpinned", action="store_true")
    ap.add_argument("--imports-only", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--without", default="", help="household parts to turn off (bench/household.py PARTS)")
    ap.add_argument("--env", default="", help="environment for Guardian, e.g. MALLOC_ARENA_MAX=4")
    args = ap.parse_args()
    result: dict = {"imports": import_groups()}
    if not args.imports_only:
        result["household"] = household_figures(args)
    if args.json:
        print(json.dumps(result))
        return 0
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"RSS per import group (MiB, each on top of those above), {when}")
    total = 0.0
    for name, mib in result["imports"]:
        total += mib
        print(f"  {name:50} {mib:+6.1f}  {total:6.1f}")
    if "household" in result:
        print("household configuration, one process (RSS MiB, tree_rss_mib):")
        for what, value in result["household"].items():
            print(f"  {what:50} {value:8.1f}")
    return 0


def household_figures(args: argparse.Namespace) -> dict[str, float]:
    peers = load_harness(pinned=not args.unpinned)
    env = peers.Env()
    workdir = Path(env.dir)
    figures: dict[str, float] = {}
    web_port = peers.free_port()
    config = workdir / "household.toml"
    config.write_text(config_text(workdir / "household-data", "127.0.0.1:3128", web_port=web_port,
                                  without=frozenset(p for p in args.without.split(",") if p)))
    command = (f"env {args.env} {ROOT}/.venv/bin/python -m guardian.cli serve --config {config} "
               f"--listen 127.0.0.1:{{port}} --data-dir {{dir}}/guardian-household")

    def rss(proc) -> float:
        return peers.tree_rss_mib(proc.pid, env.dir + "/x-none")

    try:
        proc, port = peers.start_peer(env, "project", command)
        time.sleep(1)
        figures["listening, index built from the lists"] = rss(proc)
        row = peers.wrk(port, env.origin, args.seconds)
        figures["after a wrk run"] = rss(proc)
        figures["  (req/s of that run)"] = row["rps"]
        proc.terminate()
        proc.wait(15)
        proc, port = peers.start_peer(env, "project", command)
        time.sleep(1)
        figures["restarted, index from its cache, listening"] = rss(proc)
        row = peers.wrk(port, env.origin, args.seconds)
        figures["restarted, after a wrk run"] = rss(proc)
        figures["  (req/s of that run)  "] = row["rps"]
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=30) as response:
            response.read()
        time.sleep(0.5)
        figures["after the settings page's first page"] = rss(proc)
    finally:
        env.close()
    return figures


if __name__ == "__main__":
    sys.exit(main())
