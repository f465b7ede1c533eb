"""Big public host lists on the engine: memory, build, start, lookup and a refresh swap.

    .venv/bin/python bench/big_lists.py [--sizes 300000,1000000,3000000]

Generates hosts-format lists of random-looking host names of realistic shape (two to
five labels from syllables, digits and hyphens, common top-level domains; about the
length of the names in HaGeZi and OISD) into a temporary folder, never into the
repository, then measures each size in a fresh process:
- build: the first `FilterEngine.from_lists` on the stored file (parse, fingerprint,
  write the compact table and the index cache);
- start: the same call again with the table and cache on disk (what a restart costs);
- RSS added: resident memory after the start and 200,000 lookups, less before it, and the
  same for the old way (the list's text through the token index) at 300,000 hosts;
- lookup: `match_host` of names not in the list with three to five labels (every parent
  probed: the dearest case) and of subdomains of listed names.
Build, start and lookup times are CPU time of the process (`time.process_time()`): the
development machine is shared, and at a load of ten the wall-clock time of the same
work varies fivefold while its CPU time stays within a few percent. Then a refresh swap
at the largest size: a thread decides continuously through a
`PolicyHolder` while the list file is replaced (as the list store does) and a new policy
is built and swapped in; it counts failed or wrong decisions and samples RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYLLABLES = ("ad", "ads", "an", "ba", "cdn", "click", "co", "da", "de", "stat", "go", "in", "ka", "la", "lo",
             "ma", "me", "metric", "mi", "na", "net", "on", "pi", "pix", "ra", "re", "sa", "serv", "ta", "te",
             "to", "track", "va", "web", "xo", "zen", "log", "tag", "api", "img")
OTHER_SYLLABLES = ("bu", "fo", "gri", "hu", "jo", "ku", "nu", "pho", "qua", "shu", "vy", "wu", "yo", "zu")
TLDS = ("com", "com", "com", "net", "net", "org", "io", "info", "xyz", "de", "ru", "co", "top", "online", "site",
        "co.uk", "com.br", "cn", "fr", "app")
LOOKUPS = 200_000
HITS = 2_000


def random_label(rng: random.Random, syllables: tuple[str, ...] = SYLLABLES) -> str:
    label = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
    roll = rng.random()
    if roll < 0.25:
        label += str(rng.randint(0, 999))
    elif roll < 0.35:
        label += "-" + rng.choice(syllables)
    return label


def random_host(rng: random.Random, syllables: tuple[str, ...] = SYLLABLES) -> str:
    labels = rng.choice((1, 1, 2, 2, 2, 3, 4))
    return ".".join(random_label(rng, syllables) for _ in range(labels)) + "." + rng.choice(TLDS)


def generate(path: Path, count: int, seed: int = 18) -> None:
    """A StevenBlack-style hosts file of `count` host lines (a few duplicates, as real ones have)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="ascii") as out:
        out.write(f"# Title: generated test list, {count} hosts\n# Expires: 1 day\n\n")
        for _ in range(count):
            out.write(f"0.0.0.0 {random_host(rng)}\n")


def queries(count: int, seed: int = 7) -> list[str]:
    """Names not listed (their labels come from other syllables, their top-level domains
    from the same), with three to five labels: every parent is probed."""
    rng = random.Random(seed)
    names = []
    while len(names) < count:
        name = f"{random_label(rng, OTHER_SYLLABLES)}.{random_host(rng, OTHER_SYLLABLES)}"
        if 3 <= name.count(".") + 1 <= 5:
            names.append(name)
    return names


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_parts() -> dict[str, float]:
    """Resident MiB: anonymous (this process's own) and file-backed (shared page cache)."""
    parts = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("RssAnon:", "RssFile:")):
                parts[line.split(":")[0]] = int(line.split()[1]) / 1024
    return parts


def measure(list_path: str, mode: str) -> dict[str, float]:
    """In a child process: build or start (mode "build" / "start" / "text"), then lookups:
    every miss twice, and 2,000 distinct listed names (what a household visits is a tiny
    share of a big list) so the list text's pages they touch count too."""
    import gc

    from guardian.filters import FilterEngine
    from guardian.filters.compact import ListFile

    names = queries(LOOKUPS)
    rng = random.Random(3)
    with open(list_path) as text:
        listed = [line.split()[1] for _, line in zip(range(HITS * 50), text, strict=False) if line.startswith("0.")]
    listed = [f"{random_label(rng)}.{name}" for name in rng.sample(listed, HITS)]
    gc.collect()
    before = rss_parts()
    started = time.process_time()
    if mode == "text":
        engine = FilterEngine.from_lists({"big": Path(list_path).read_text()})
    else:
        engine = FilterEngine.from_lists({"big": ListFile.of(list_path)}, cache_dir=Path(list_path).parent / "cache")
    seconds = time.process_time() - started
    gc.collect()
    figures = {"seconds": seconds, "rules": engine.rule_count, "compact": engine.report["big"].compact}
    match_host = engine.match_host
    for name in names:  # the first pass touches what lookups touch
        match_host(name)
    started = time.process_time()
    for name in names:
        match_host(name)
    figures["miss_us"] = (time.process_time() - started) / len(names) * 1e6
    if engine._tables:
        find = engine._tables[0][0].find_nearest
        started = time.process_time()
        for name in names:
            find(name)
        figures["table_us"] = (time.process_time() - started) / len(names) * 1e6
    blocked = sum(match_host(name).blocked for name in listed)
    started = time.process_time()
    for name in listed:
        match_host(name)
    figures["hit_us"] = (time.process_time() - started) / len(listed) * 1e6
    figures["hits"] = blocked / len(listed)
    figures["false_hits"] = sum(match_host(name).blocked for name in names)
    gc.collect()
    after = rss_parts()
    figures["anon_mib"] = after["RssAnon"] - before["RssAnon"]
    figures["file_mib"] = after["RssFile"] - before["RssFile"]
    return figures


PER_RULE = {
    "plain host, list given as text (host dict)": ("text", "||{}^"),
    "plain host, list given as a file (compact table)": ("file", "||{}^"),
    "host rule with an option (host table)": ("text", "||{}^$third-party"),
    "path rule (token index)": ("text", "||{}/ads/banner_*.gif$image"),
}
PER_RULE_COUNT = 200_000


def per_rule(folder: str, kind: str) -> dict[str, float]:
    """In a child process: resident memory per rule of one shape, after the build."""
    import gc

    from guardian.filters import FilterEngine
    from guardian.filters.compact import ListFile

    given, shape = PER_RULE[kind]
    rng = random.Random(11)
    path = Path(folder) / "rules.txt"
    path.write_text("".join(shape.format(random_host(rng)) + "\n" for _ in range(PER_RULE_COUNT)))
    text = path.read_text()
    source = ListFile.of(path)
    if given == "file":  # as after a restart: the table is on disk already
        FilterEngine.from_lists({"rules": source}, cache_dir=Path(folder) / "cache")
    gc.collect()
    before = rss_parts()
    if given == "text":
        engine = FilterEngine.from_lists({"rules": text})
    else:
        engine = FilterEngine.from_lists({"rules": source}, cache_dir=Path(folder) / "cache")
    for name in queries(20_000):
        engine.match(f"https://{name}/ads/banner_1.gif", request_type="image")
    gc.collect()
    after = rss_parts()
    used = sum(after.values()) - sum(before.values())
    return {"bytes_per_rule": used * 2**20 / PER_RULE_COUNT, "rules": engine.rule_count}


def child(list_path: Path, mode: str) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--child", mode, str(list_path)],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def refresh_swap(folder: Path, count: int) -> dict[str, float]:
    """Decide continuously while the list is replaced and a new policy swapped in."""
    from guardian.config import parse_config
    from guardian.lists import ListStore, sources_for
    from guardian.policy import Policy, PolicyHolder
    from guardian.proxy.hooks import RequestInfo

    store = ListStore(folder / "store")
    store.root.mkdir(parents=True, exist_ok=True)
    generate(store.text_path("big"), count, seed=1)
    config = parse_config('''
[[lists]]
id = "big"
url = "https://lists.example/big.txt"
format = "hosts"
[[profiles]]
name = "default"
lists = ["big"]
''')
    cache = folder / "cache"
    started = time.perf_counter()
    holder = PolicyHolder(Policy(config, sources_for(config, store), cache_dir=cache))
    first_build = time.perf_counter() - started
    always = "0.0.0.0 always-blocked.example\n"
    rng = random.Random(5)
    names = queries(20_000)
    stop = threading.Event()
    counts = {"decisions": 0, "failed": 0, "peak": rss_mib(), "steady": 0.0}

    def decide() -> None:
        probe = RequestInfo("192.168.1.9", "CONNECT", "https", "always-blocked.example", 443, "", {})
        while not stop.is_set():
            try:
                verdict = holder.decide(probe)
                if verdict.allowed:
                    counts["failed"] += 1
                for name in rng.sample(names, 50):
                    holder.decide(RequestInfo("192.168.1.9", "CONNECT", "https", name, 443, "", {}))
                counts["decisions"] += 51
            except Exception:
                counts["failed"] += 1

    def sample() -> None:
        while not stop.is_set():
            counts["peak"] = max(counts["peak"], rss_mib())
            time.sleep(0.01)

    with open(store.text_path("big"), "a") as out:
        out.write(always)
    holder.swap(Policy(config, sources_for(config, store), cache_dir=cache, previous=holder.policy))
    workers = [threading.Thread(target=decide), threading.Thread(target=sample)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    counts["steady"] = rss_mib()
    counts["peak"] = counts["steady"]
    replacement = folder / "new.txt"
    generate(replacement, count, seed=2)
    with open(replacement, "a") as out:
        out.write(always)
    os.replace(replacement, store.text_path("big"))  # as the list store replaces a copy
    started = time.perf_counter()
    holder.swap(Policy(config, sources_for(config, store), cache_dir=cache, previous=holder.policy))
    swap_build = time.perf_counter() - started
    time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join()
    return {"hosts": count, "first_build_s": first_build, "swap_build_s": swap_build,
            "decisions": counts["decisions"], "failed": counts["failed"], "steady_mib": counts["steady"],
            "peak_mib": counts["peak"], "after_mib": rss_mib()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="300000,1000000,3000000")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "LIST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, where = args.child
        print(json.dumps(per_rule(where, mode) if mode in PER_RULE else measure(where, mode)))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    print("| hosts | first build CPU s | start CPU s | RSS added MiB (own + mapped) | CPU µs per lookup with "
          "parents: table / match_host | µs per match_host, listed | hosts in compact tables |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="guardian-big-lists-") as temp:
        folder = Path(temp)
        for size in sizes:
            work = folder / str(size)
            work.mkdir()
            generate(work / "big.txt", size)
            build = child(work / "big.txt", "build")
            start = child(work / "big.txt", "start")
            print(f"| {size:,} | {build['seconds']:.2f} | {start['seconds']:.3f} "
                  f"| {start['anon_mib'] + start['file_mib']:.1f} ({start['anon_mib']:.1f} + {start['file_mib']:.1f}) "
                  f"| {start['table_us']:.2f} / {start['miss_us']:.2f} | {start['hit_us']:.2f} "
                  f"| {int(start['compact']):,} |", flush=True)
            if size == sizes[0]:
                text = child(work / "big.txt", "text")
                print(f"| {size:,} as text (token index) | {text['seconds']:.2f} | – "
                      f"| {text['anon_mib'] + text['file_mib']:.1f} ({text['anon_mib']:.1f} + {text['file_mib']:.1f}) "
                      f"| – / {text['miss_us']:.2f} | {text['hit_us']:.2f} | 0 |", flush=True)
            for path in work.iterdir():
                if path.is_file():
                    path.unlink()
        print(f"\nresident memory per rule, {PER_RULE_COUNT:,} rules of one shape, after loading (a compact table: "
              "from disk, as after a restart) and 20,000 lookups:")
        for kind in PER_RULE:
            work = folder / "per-rule"
            work.mkdir(exist_ok=True)
            figures = child(work, kind)
            print(f"- {kind}: {figures['bytes_per_rule']:,.0f} bytes")
        swap = refresh_swap(folder / "swap", sizes[-1])
        print(f"\nrefresh swap at {swap['hosts']:,} hosts: {swap['decisions']:,} decisions during the swap, "
              f"{swap['failed']} failed or wrong; RSS steady {swap['steady_mib']:.0f} MiB, peak "
              f"{swap['peak_mib']:.0f} MiB (+{swap['peak_mib'] - swap['steady_mib']:.0f}), after "
              f"{swap['after_mib']:.0f} MiB; new policy built in {swap['swap_build_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
