"""Where one request's time goes in the household configuration (issue 15).

    .venv/bin/python bench/profile_request.py [--seconds 5] [--core] [--top 25]

Guardian runs in this process (bench/household.py's configuration) on an nginx origin;
wrk sends keep-alive requests for a 1 KiB text/plain file over ONE connection. Each
serving thread runs under cProfile while it serves it; the other threads (request-log writer, access
log) are measured by their CPU time from /proc. Printed: CPU µs per request for the
whole process and per thread, then cProfile's own time per function grouped by the part
of Guardian it belongs to, and the top functions. cProfile inflates every Python
call, and its socket figures include waiting, so read the groups as shares and the /proc figures as the cost.
With PROFILE_DUMP=FILE in the environment the merged profile is also written to FILE (pstats), to see callers.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from household import PARTS, config_text
from ratios import free_port, start_nginx

from guardian.proxy.handler import ClientConnection
from guardian.service import Guardian, Overrides

TICK = os.sysconf("SC_CLK_TCK")
# Which part of Guardian a profiled function belongs to, by its file.
GROUPS = (
    ("decide (policy)", ("guardian/policy/",)),
    ("filter engine", ("guardian/filters/",)),
    ("cache", ("guardian/cache/",)),
    ("request log + access log (queueing)", ("guardian/logstore/", "guardian/accesslog.py", "context.py")),
    ("HTTP parse and serialise", ("proxy/http1.py", "proxy/framing.py")),
    ("socket reads (stream.py)", ("proxy/stream.py",)),
    ("the handler itself", ("proxy/handler.py", "proxy/connections.py", "proxy/upstream.py", "proxy/hooks.py")),
)


def sample_serving_threads(counts: list[int], done: threading.Event) -> None:
    while not done.wait(0.05):
        counts.append(sum(1 for t in threading.enumerate() if t.name == "proxy-serve"))


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name (utime + stime) of this process."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        name = re.sub(r"[-_]?\d+$", "", names.get(int(tid), "other"))
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def context_switches() -> int:
    """Voluntary and involuntary context switches of this process so far, exited threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


def group_of(filename: str, function: str) -> str:
    if "_socket.socket" in function:
        return "socket calls (with the waits for client and origin)"
    for name, needles in GROUPS:
        if any(n in filename for n in needles):
            return name
    if filename == "~":
        return "other C calls (regexes, builtins)"
    return "other Python (stdlib)"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--core", action="store_true", help="the core-only configuration instead")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--connections", type=int, default=1, help="wrk's keep-alive connections (profiler off if > 1)")
    ap.add_argument("--without", default="", help=f"parts of the household to turn off, comma-separated: {PARTS}")
    ap.add_argument("--no-profile", action="store_true", help="only the /proc CPU figures (no cProfile)")
    ap.add_argument("--pin", action="store_true", help="Guardian on CPU 0, wrk and nginx on CPU 1 (as bench/pinned.py)")
    args = ap.parse_args()
    args.no_profile = args.no_profile or args.connections > 1
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            print(f"profile_request: {tool} is not installed (bash ../shared/bench/setup.sh)", file=sys.stderr)
            return 1
    workdir = Path(tempfile.mkdtemp(prefix="guardian-profile-"))
    workdir.chmod(0o755)
    nginx, origin = start_nginx(workdir)
    load_prefix: list[str] = []
    if args.pin:
        os.sched_setaffinity(nginx.pid, {1})
        os.sched_setaffinity(0, {0})  # this thread; every thread started after it inherits it
        load_prefix = ["taskset", "-c", "1"]
    profiles: list[cProfile.Profile] = []
    original_serve = ClientConnection.serve_ready
    per_thread = threading.local()  # the connection's requests may be served by any serving thread

    def profiled_serve(self: ClientConnection) -> bool:
        if args.no_profile:
            return original_serve(self)
        prof = getattr(per_thread, "profile", None)
        if prof is None:
            prof = per_thread.profile = cProfile.Profile()
            profiles.append(prof)
        prof.enable()
        try:
            return original_serve(self)
        finally:
            prof.disable()

    ClientConnection.serve_ready = profiled_serve  # type: ignore[method-assign]
    port = free_port()
    config = workdir / "guardian.toml"
    config.write_text(config_text(workdir / "data", f"127.0.0.1:{port}", core=args.core,
                                  without=frozenset(filter(None, args.without.split(",")))))
    guardian = Guardian(str(config), Overrides())
    guardian.start()
    try:
        url = f"http://127.0.0.1:{origin}/small.txt"
        script = workdir / "one.lua"
        script.write_text(f'wrk.path = "{url}"\nwrk.headers["Host"] = "127.0.0.1:{origin}"\n')
        # names the kernel shows for our threads (Python sets them from 3.x on Linux)
        time.sleep(1.5)  # let the start-up jobs finish
        before, times0, t0, switches = thread_cpu(), os.times(), time.monotonic(), context_switches()
        counts: list[int] = []  # serving threads, sampled: the lot adds some only for requests that run long
        sampling = threading.Event()
        sampler = threading.Thread(target=sample_serving_threads, args=(counts, sampling))
        sampler.start()
        out = subprocess.run([*load_prefix, "wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
                              "-s", str(script), f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
        sampling.set()
        sampler.join()
        time.sleep(1.2)  # the writers' next flush: their share of these requests
        times1, after, switches = os.times(), thread_cpu(), context_switches() - switches
        user, system = times1.user - times0.user, times1.system - times0.system
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        if re.search(r"Non-2xx", out):
            print(out)
            raise SystemExit("non-2xx answers")
        what = ("core only" if args.core else "household") + (f" without {args.without}" if args.without else "")
        p99 = re.search(r"\s99%\s+(\S+)", out)
        print(f"{requests} requests over {args.connections} keep-alive connection(s), "
              f"p99 {p99.group(1) if p99 else '?'}, in {time.monotonic() - t0:.1f} s "
              f"({what}; {'no profiler' if args.no_profile else 'cProfile on'})")
        print(f"process CPU per request: {(user + system) / requests * 1e6:.1f} µs, "
              f"{switches / requests:.2f} context switches per request; user "
              f"{user / requests * 1e6:.1f} µs, system {system / requests * 1e6:.1f} µs")
        if counts:
            print(f"serving threads: median {statistics.median(counts):g}, most {max(counts)}")
        for name in sorted(after, key=lambda n: -(after[n] - before.get(n, 0.0))):
            used = after[name] - before.get(name, 0.0)
            if used > 0:
                print(f"  thread {name:20} {used / requests * 1e6:8.1f} µs per request")
    finally:
        guardian.stop()
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    if not profiles:
        return 0
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    if os.environ.get("PROFILE_DUMP"):
        stats.dump_stats(os.environ["PROFILE_DUMP"])
    groups: dict[str, float] = {}
    total = 0.0
    for (filename, _, function), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        group = group_of(filename, function)
        groups[group] = groups.get(group, 0.0) + tottime
        total += tottime
    print(f"\nconnection thread under cProfile: own time by part ({total / requests * 1e6:.1f} µs per request "
          "with the profiler's overhead)")
    for name, spent in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {name:40} {spent / requests * 1e6:7.1f} µs  {spent / total:5.1%}")
    print()
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
