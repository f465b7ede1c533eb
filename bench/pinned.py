"""Guardian's household and core-only configurations against squid and privoxy, pinned, in one run.

    /tmp/anchors/bin/python bench/pinned.py [--seconds 5] [--rounds 3] [--idle 2000 [--idle-hold 2]] [--unpinned]
                                            [--peers squid,privoxy] [--base DIR] [--json]

Uses the shared harness (`../shared/bench/proxy_peers.py`: its nginx origin, wrk with 50
keep-alive clients on a 1 KiB text/plain file, curl downloads, RSS) with `--pin`'s
placement: every proxy on CPU 0, the origin, wrk and curl on CPU 1, so per-core cost is
compared fairly on a 2-core machine. Every proxy runs for the whole run; the wrk rounds
are interleaved (A B C D, A B C D, ...) and each figure is the median of its rounds, so a
noisy neighbour hurts all of them alike. After the rounds: a 200 MiB download plain and
through CONNECT per proxy, RSS, and (with --idle) N idle keep-alive clients held on
Guardian's household configuration while a fresh request is timed, memory measured at once,
after 1 s and after `--idle-hold` seconds (an idle connection holds no thread, see
guardian/proxy/parking.py; the later figures show any memory still settling).

Guardian's configurations are bench/household.py's: "household" (EasyList + EasyPrivacy
for the default profile, request log, cache and access log on, privacy defaults) and
"core" (no lists, no request log, no cache; access log on). The ratio lines at the end
are issue 15's targets, each with "met" or "MISSED".

`--base DIR` adds both configurations run from another copy of the source (e.g. `git
archive` of an older commit; this tree's venv, DIR first on PYTHONPATH) as "core-before"
and "household-before", for before/after figures from the same run.

Run it with the anchors venv's Python (psutil), which ../shared/bench/setup.sh makes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "bench" / "proxy_peers.py"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from household import config_text, for_tree  # noqa: E402


def load_harness(pinned: bool = False):
    """The shared harness; `pinned`: every proxy on CPU 0, the origin, wrk and curl on CPU 1."""
    spec = importlib.util.spec_from_file_location("proxy_peers", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if pinned:
        module.PIN_PROXY[:] = ["taskset", "-c", "0"]
        module.PIN_LOAD[:] = ["taskset", "-c", "1"]
    return module


def guardian_command(workdir: Path, name: str, base: Path | None = None) -> str:
    """The command line the harness starts ({port} and {dir} filled by it)."""
    config = workdir / f"{name}.toml"
    config.write_text(for_tree(config_text(workdir / f"{name}-data", "127.0.0.1:3128", core=name.startswith("core")),
                               base))
    # From the base's own folder: `-m` puts the working directory first on sys.path, ahead of
    # PYTHONPATH, so run from this tree it would import this tree's guardian, not the base's.
    source = f"env -C {base} PYTHONPATH={base} " if base is not None else ""
    return (f"{source}{ROOT}/.venv/bin/python -m guardian.cli serve --config {config} --listen 127.0.0.1:{{port}} "
            f"--data-dir {{dir}}/guardian-{name}")


def ratio_lines(rows: dict[str, dict]) -> list[tuple[str, float, float, bool]]:
    """(what, value, target, met) for every target of issue 15 the figures allow."""
    out = []

    def add(what: str, value: float, target: float, at_least: bool) -> None:
        out.append((what, value, target, value >= target if at_least else value <= target))

    home, core = rows.get("household", {}), rows.get("core", {})
    squid, privoxy = rows.get("squid", {}), rows.get("privoxy", {})
    for name in ("household", "core"):
        before = rows.get(f"{name}-before", {})
        if rows.get(name, {}).get("rps") and before.get("rps"):
            add(f"{name} req/s, this tree / the base tree", rows[name]["rps"] / before["rps"], 1.0, True)
    if home.get("rps") and privoxy.get("rps"):
        add("household req/s / privoxy req/s", home["rps"] / privoxy["rps"], 1.0, True)
        add("household p99 / privoxy p99", home["p99_ms"] / privoxy["p99_ms"], 2.0, False)
    if home.get("rps") and core.get("rps"):
        add("household req/s / Guardian core-only req/s", home["rps"] / core["rps"], 0.8, True)
    if core.get("rps") and squid.get("rps"):
        add("core-only req/s / squid req/s", core["rps"] / squid["rps"], 0.9, True)
        add("core-only p99 / squid p99", core["p99_ms"] / squid["p99_ms"], 2.0, False)
    if home.get("rss_MiB"):
        add("household RSS MiB after the run (one worker)", home["rss_MiB"], 80.0, False)
    if "KiB_per_idle" in home:
        add(f"household KiB per idle client ({home['idle_held']} held)", home["KiB_per_idle"], 16.0, False)
        add("household fresh request ms while they are held", home["fresh_ms_while_idle"], 5.0, False)
    peers = [r for n, r in rows.items()
             if n not in ("household", "core", "direct") and not n.endswith("-before") and r.get("plain_MiBps")]
    if core.get("plain_MiBps") and peers:
        best = max(r["plain_MiBps"] for r in peers)
        add("core-only plain download / best peer's", core["plain_MiBps"] / best, 1.0, True)
    if core.get("tunnel_MiBps") and squid.get("tunnel_MiBps"):
        add("core-only tunnel / squid's", core["tunnel_MiBps"] / squid["tunnel_MiBps"], 0.9, True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=0, help="hold N idle clients on the household configuration")
    ap.add_argument("--idle-hold", type=float, default=2.0, help="seconds the idle clients are held at the last RSS")
    ap.add_argument("--peers", default="squid,privoxy")
    ap.add_argument("--unpinned", action="store_true", help="let the kernel place everything")
    ap.add_argument("--base", type=Path, help="another copy of the source, run as core-before and household-before")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not HARNESS.is_file():
        print(f"pinned: {HARNESS} is missing", file=sys.stderr)
        return 1
    peers = load_harness(pinned=not args.unpinned)
    env = peers.Env()
    workdir = Path(env.dir)
    names = [n for n in args.peers.split(",") if n] + ["core", "household"]
    if args.base is not None:
        names += ["core-before", "household-before"]
    started: dict[str, tuple] = {}
    rows: dict[str, dict] = {}
    try:
        for name in names:
            try:
                if name.startswith(("core", "household")):
                    base = args.base.resolve() if name.endswith("-before") else None
                    started[name] = peers.start_peer(env, "project", guardian_command(workdir, name, base))
                else:
                    started[name] = peers.start_peer(env, name, None)
            except Exception as exc:  # a peer that is not installed: the others still run
                rows[name] = {"error": str(exc)[:200]}
        time.sleep(1)
        runs: dict[str, list[dict]] = {name: [] for name in started}
        for _ in range(args.rounds):
            for name, (_, port) in started.items():
                runs[name].append(peers.wrk(port, env.origin, args.seconds))
        for name, (proc, port) in started.items():
            row = {key: statistics.median(r[key] for r in runs[name]) for key in ("rps", "p50_ms", "p99_ms")}
            row["non2xx"] = sum(r["non2xx"] for r in runs[name])
            row["sock_err"] = sum(r["sock_err"] for r in runs[name])
            row["plain_MiBps"] = peers.download(port, env.origin, False)
            row["tunnel_MiBps"] = peers.download(port, env.origin, True)
            row["rss_MiB"] = peers.tree_rss_mib(proc.pid, env.dir + "/x-none")
            if args.idle and name in ("household", "household-before"):
                socks, latency = peers.idle_hold(port, env.origin, args.idle)
                row["idle_held"], row["fresh_ms_while_idle"] = len(socks), latency
                for key, wait in (("KiB_per_idle_at_once", 0.0), ("KiB_per_idle", 1.0),
                                  ("KiB_per_idle_held", max(0.0, args.idle_hold - 1))):
                    time.sleep(wait)
                    row[key] = (peers.tree_rss_mib(proc.pid, env.dir + "/x-none") - row["rss_MiB"]) * 1024 \
                        / max(1, len(socks))
                for sock in socks:
                    sock.close()
            rows[name] = row
    finally:
        env.close()
    lines = ratio_lines(rows)
    if args.json:
        print(json.dumps({"rows": rows, "ratios": [dict(zip(("what", "value", "target", "met"), r, strict=True))
                                                   for r in lines]}))
        return 0
    placement = "unpinned" if args.unpinned else "pinned: proxies on CPU 0, origin and wrk on CPU 1"
    print(f"{args.rounds} interleaved rounds of {args.seconds} s, medians; {placement}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{'proxy':16} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'plain MiB/s':>11} "
          f"{'tunnel MiB/s':>12} {'RSS MiB':>8}")
    for name, row in rows.items():
        if "error" in row:
            print(f"{name:16} error: {row['error']}")
            continue
        errors = row["non2xx"] + row["sock_err"]
        extra = (f"  idle: {row['idle_held']} held, {row['KiB_per_idle']:.1f} KiB each (at once "
                 f"{row['KiB_per_idle_at_once']:.1f}, after {args.idle_hold:g} s {row['KiB_per_idle_held']:.1f}), "
                 f"fresh request {row['fresh_ms_while_idle']:.1f} ms") if "idle_held" in row else ""
        print(f"{name:16} {row['rps']:8.0f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} {errors:7d} "
              f"{row['plain_MiBps']:11.0f} {row['tunnel_MiBps']:12.0f} {row['rss_MiB']:8.1f}{extra}")
    print()
    for what, value, target, met in lines:
        sign = ">=" if "/" in what and ("req/s" in what or "download" in what or "tunnel" in what) else "<="
        print(f"ratio {what:50} {value:7.2f}  target {sign} {target:g}  {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
