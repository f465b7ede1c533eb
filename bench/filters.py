"""Benchmark of the filter engine against adblock-rust's Python binding and adblockparser.

One run measures, on EasyList + EasyPrivacy and the 8,222 requests of adblock-rust's
matching cases (../shared/data):
- ours: first load (parse + index), restart (from the on-disk index cache), mean time per
  request over one pass from a fresh restart (every matcher built on first use, as after
  a real restart) and over a second, warm pass, live Python heap (tracemalloc) and RSS.
- adblock-rust (`adblock`) and adblockparser (200-URL sample, it is that slow) through
  ../shared/bench/filter_anchors.py, plus adblock-rust's own restart (deserialize).

Each engine runs in its own subprocess so one's memory does not count against another.
The anchors run with this interpreter when it has them (`pip install -e '.[bench]'`),
else with /tmp/anchors/bin/python (made by ../shared/bench/setup.sh).

    .venv/bin/python bench/filters.py [--skip-adblockparser]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LISTS_DIR = SHARED / "data" / "filterlists"
REQUESTS = SHARED / "data" / "conformance" / "matching-test-requests.json"
ANCHORS_SCRIPT = SHARED / "bench" / "filter_anchors.py"
ANCHORS_VENV_PYTHON = Path(os.environ.get("ANCHORS_VENV", "/tmp/anchors")) / "bin" / "python"
NO_PAGE = ("http://", "https://")


def load_requests() -> list[dict]:
    return [r for r in json.loads(REQUESTS.read_text(encoding="utf-8")) if r["url"] not in NO_PAGE]


def read_lists() -> dict[str, str]:
    return {name: (LISTS_DIR / f"{name}.txt").read_text(encoding="utf-8") for name in ("easylist", "easyprivacy")}


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_ours(cache_dir: str, as_files: bool = False) -> dict[str, float]:
    """Timing and RSS, in a child process (see main): load, restart, two passes. With
    `as_files`, the lists are given as stored files (copied into cache_dir first), as the
    service gives them: their plain host rules go into compact host tables."""
    sys.path.insert(0, str(ROOT))
    from guardian.filters import FilterEngine
    from guardian.filters.compact import ListFile

    lists: dict = read_lists()
    if as_files:
        folder = Path(cache_dir) / "lists"
        folder.mkdir(exist_ok=True)
        for name, text in lists.items():
            (folder / f"{name}.txt").write_text(text, encoding="utf-8")
        lists = {name: ListFile.of(folder / f"{name}.txt") for name in lists}
    requests = bench_requests()
    figures: dict[str, float] = {"requests": len(requests)}
    gc.collect()
    rss_before = rss_mib()
    started = time.perf_counter()
    FilterEngine.from_lists(lists, cache_dir=cache_dir)  # first load, writes the cache
    figures["load_s"] = time.perf_counter() - started
    gc.collect()
    started = time.perf_counter()
    engine = FilterEngine.from_lists(lists, cache_dir=cache_dir)
    figures["restart_s"] = time.perf_counter() - started
    for name in ("first_pass_us", "warm_pass_us"):
        blocked = 0
        started = time.perf_counter()
        for url, source, request_type in requests:
            blocked += engine.match(url, source, request_type).blocked
        figures[name] = (time.perf_counter() - started) / len(requests) * 1e6
    figures["blocked"] = blocked
    figures["rss_delta_mib"] = rss_mib() - rss_before
    return figures


def measure_heap(cache_dir: str) -> dict[str, float]:
    """Live Python heap after a restart and one pass, traced from before the import so the
    public suffix data and every matcher built on the way count too."""
    lists = read_lists()
    requests = bench_requests()
    gc.collect()
    tracemalloc.start()
    sys.path.insert(0, str(ROOT))
    from guardian.filters import FilterEngine

    engine = FilterEngine.from_lists(lists, cache_dir=cache_dir)
    for url, source, request_type in requests:
        engine.match(url, source, request_type)
    gc.collect()
    return {"heap_mib": tracemalloc.get_traced_memory()[0] / 2**20}


def bench_requests() -> list[tuple[str, str | None, str]]:
    return [(r["url"], None if r["sourceUrl"] in NO_PAGE else r["sourceUrl"], r["type"]) for r in load_requests()]


def run_ours(mode: str, cache_dir: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, mode, cache_dir], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


ADBLOCK_RESTART = """
import adblock, time, tempfile, os
lines = []
for name in ("easylist", "easyprivacy"):
    with open(os.path.join({folder!r}, name + ".txt"), encoding="utf-8") as f:
        lines.append(f.read())
fs = adblock.FilterSet(); fs.add_filter_list("\\n".join(lines))
engine = adblock.Engine(fs, optimize=True)
path = os.path.join(tempfile.mkdtemp(), "engine.dat")
engine.serialize_to_file(path)
started = time.perf_counter()
restored = adblock.Engine(adblock.FilterSet())
restored.deserialize_from_file(path)
print(time.perf_counter() - started)
"""


def anchor_python() -> str | None:
    if all(importlib.util.find_spec(name) for name in ("adblock", "adblockparser", "psutil")):
        return sys.executable
    return str(ANCHORS_VENV_PYTHON) if ANCHORS_VENV_PYTHON.exists() else None


def run_anchor(python: str, which: str, count: int) -> dict[str, float]:
    """Run filter_anchors.py and read its `key=value` figures."""
    output = subprocess.run(
        [python, str(ANCHORS_SCRIPT), which, str(count)], capture_output=True, text=True, check=True
    ).stdout.strip().splitlines()[-1]
    fields = dict(part.split("=", 1) for part in output.split()[1:] if "=" in part)
    return {key: float(value) for key, value in fields.items()}


def adblock_restart(python: str) -> float:
    output = subprocess.run(
        [python, "-c", ADBLOCK_RESTART.format(folder=str(LISTS_DIR))], capture_output=True, text=True, check=True
    ).stdout
    return float(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-adblockparser", action="store_true", help="it takes about a minute and a half")
    parser.add_argument("--time-ours", metavar="CACHE_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--heap-ours", metavar="CACHE_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--time-ours-files", metavar="CACHE_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not REQUESTS.is_file() or not (LISTS_DIR / "easylist.txt").is_file():
        print(f"shared data not found under {SHARED}", file=sys.stderr)
        return 2
    if args.time_ours_files:
        print(json.dumps(measure_ours(args.time_ours_files, as_files=True)))
        return 0
    if args.time_ours or args.heap_ours:
        print(json.dumps(measure_ours(args.time_ours) if args.time_ours else measure_heap(args.heap_ours)))
        return 0
    with tempfile.TemporaryDirectory() as cache_dir:
        ours = run_ours("--time-ours", cache_dir) | run_ours("--heap-ours", cache_dir)
    with tempfile.TemporaryDirectory() as cache_dir:
        files = run_ours("--time-ours-files", cache_dir)
    rows = [(
        "guardian.filters", f"{ours['first_pass_us']:.1f} (warm {ours['warm_pass_us']:.1f})", f"{ours['load_s']:.2f}",
        f"{ours['restart_s']:.3f}", f"{ours['heap_mib']:.1f}", f"{ours['rss_delta_mib']:.0f}",
        f"{int(ours['requests'])}", f"{int(ours['blocked'])}",
    ), (
        "guardian.filters, lists as stored files", f"{files['first_pass_us']:.1f} (warm {files['warm_pass_us']:.1f})",
        f"{files['load_s']:.2f}", f"{files['restart_s']:.3f}", "–", f"{files['rss_delta_mib']:.0f}",
        f"{int(files['requests'])}", f"{int(files['blocked'])}",
    )]
    python = anchor_python()
    rust_us = None
    if python is None:
        print("anchors not installed: pip install -e '.[bench]' or run ../shared/bench/setup.sh", file=sys.stderr)
    else:
        rust = run_anchor(python, "adblock", 100_000)
        rust_us = rust["per_url_us"]
        rows.append((
            "adblock-rust (adblock)", f"{rust_us:.1f}", f"{rust['load_s']:.2f}", f"{adblock_restart(python):.3f}",
            "n/a (native)", f"{rust['rss_delta_MiB']:.0f}", f"{int(rust['urls'])}", f"{int(rust['blocked'])}",
        ))
        if not args.skip_adblockparser:
            slow = run_anchor(python, "adblockparser", 200)
            rows.append((
                "adblockparser", f"{slow['per_url_us']:.0f}", f"{slow['load_s']:.2f}", "n/a", "n/a",
                f"{slow['rss_delta_MiB']:.0f}", f"{int(slow['urls'])}", f"{int(slow['blocked'])}",
            ))
    header = ("engine", "mean µs/request", "load s", "restart s", "heap MiB", "RSS delta MiB", "requests", "blocked")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if rust_us:
        print(f"\nours / adblock-rust, mean per request: {ours['first_pass_us'] / rust_us:.2f}x "
              f"(warm {ours['warm_pass_us'] / rust_us:.2f}x); target at most 4x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
