"""What the whole decision costs next to the filter engine's match alone.

    .venv/bin/python bench/policy.py

On EasyList + EasyPrivacy for the default profile, over adblock-rust's request set
(../shared/data/conformance), each request as the proxy would see it (a RequestInfo with
the headers a browser sends for its type): the mean time of `engine.match(url)` alone,
of match plus request-type inference, and of `Policy.decide()` (device, pauses,
schedules, the parents' rules, the lists, safe search). Target: decide <= 1.2x match.

Then the cost of privacy rewriting and file kinds on the request path: the same decisions
with the default `[privacy]` (tracking parameters, referrer, Global Privacy Control) and
`block_file_types`, against `[privacy]` all off, on the same requests and on the same
requests with tracking parameters added. Target: at most 3 us per request.

Services: the same profile with blocked services, a service window and a daily limit
(`[profiles.services]`, `[[profiles.limits]]`) against the same profile without them;
the difference is what the service lookup costs a decision. Target: at most 2 us.

A big host list: the same profile with a generated hosts list of 3 million names added
(bench/big_lists.py writes it to a temporary folder; `--big-hosts 0` skips it), given
as its stored file so its hosts go into a compact table. Target: the decision at most
5% dearer than without it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from big_lists import generate  # the generated big host lists
from filters import LISTS_DIR, load_requests, read_lists  # the same inputs as bench/filters.py

from guardian.config import parse_config
from guardian.filters import FilterEngine, infer_request_type
from guardian.filters.compact import ListFile
from guardian.policy import Policy
from guardian.proxy.hooks import RequestInfo

DEST = {"script": "script", "image": "image", "stylesheet": "style", "sub_frame": "iframe", "main_frame": "document",
        "font": "font", "media": "video", "xmlhttprequest": "empty"}
PASSES = 3
CONFIG_TEXT = """
[[lists]]
id = "easylist"
url = "{easylist}"
[[lists]]
id = "easyprivacy"
url = "{easyprivacy}"
[[profiles]]
name = "default"
lists = ["easylist", "easyprivacy"]
block = ["||tiktok.com^"]
allow = ["||school.example^"]
block_file_types = ["programs", "mobile-apps"]
"""
PRIVACY_OFF = """
[privacy]
strip_tracking_parameters = false
referer = "full"
global_privacy_control = false
"""


def as_request(entry: dict) -> RequestInfo:
    parts = urlsplit(entry["url"])
    headers = {"host": parts.netloc, "user-agent": "bench"}
    if entry.get("type") in DEST:
        headers["sec-fetch-dest"] = DEST[entry["type"]]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # as a plain-HTTP request: the path is what the rules match, whatever the scheme was
    return RequestInfo("192.168.1.50", "GET", "http", parts.hostname or "", 80, target, headers)


SERVICES = """
[profiles.services]
block = ["tiktok", "gambling", "snapchat"]
allow_only_during = { roblox = ["Saturday"] }
[[profiles.schedules]]
name = "Saturday"
days = ["sat"]
from = "10:00"
to = "12:00"
block = []
[[profiles.limits]]
services = ["youtube", "youtube-kids", "games"]
minutes = 1440
"""


def timed(fn, items, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(PASSES):
        start = clock()
        for item in items:
            fn(item)
        best = min(best, (clock() - start) / len(items) * 1e6)
    return best


def big_list_cost(config_text: str, lists: dict[str, str], policy: Policy, requests: list[RequestInfo],
                  hosts: int) -> tuple[float, float, float]:
    """(decide without, decide with a big host list, seconds to build it) on the same requests."""
    with tempfile.TemporaryDirectory(prefix="guardian-policy-bench-") as temp:
        path = Path(temp) / "big.txt"
        generate(path, hosts)
        text = config_text.replace('lists = ["easylist", "easyprivacy"]', 'lists = ["easylist", "easyprivacy", "big"]')
        text = f'[[lists]]\nid = "big"\nurl = "{path}"\nformat = "hosts"\n' + text
        started = time.perf_counter()
        big = Policy(parse_config(text), {**lists, "big": ListFile.of(path)}, cache_dir=Path(temp) / "cache")
        built = time.perf_counter() - started
        for request in requests:
            big.decide(request)
        without = with_big = float("inf")
        for _ in range(PASSES):  # CPU time: wall time on a shared machine drifts more than 5%
            without = min(without, timed(policy.decide, requests, time.process_time))
            with_big = min(with_big, timed(big.decide, requests, time.process_time))
        return without, with_big, built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-hosts", type=int, default=3_000_000, help="hosts in the generated list (0: skip)")
    args = parser.parse_args()
    lists = read_lists()
    config_text = CONFIG_TEXT.format(easylist=LISTS_DIR / "easylist.txt", easyprivacy=LISTS_DIR / "easyprivacy.txt")
    policy = Policy(parse_config(config_text), lists)
    with_services = Policy(parse_config(config_text + SERVICES), lists, previous=policy)
    quiet_text = config_text.replace('block_file_types = ["programs", "mobile-apps"]\n', "") + PRIVACY_OFF
    quiet = Policy(parse_config(quiet_text), lists, previous=policy)
    engine = FilterEngine.from_lists(lists)
    requests = [as_request(r) for r in load_requests()]
    tagged = [RequestInfo(r.client_ip, r.method, r.scheme, r.host, r.port,
                          r.target + ("&" if "?" in r.target else "?") + "utm_source=news&fbclid=abc",
                          {**r.headers, "referer": "https://elsewhere.example/page"}) for r in requests]
    urls = [r.url for r in requests]
    for url in urls:  # first use builds each rule's matcher: measure the steady state
        engine.match(url)
    for decider in (policy, with_services, quiet):
        for request in requests + tagged:
            decider.decide(request)
    match = timed(engine.match, urls)
    typed = [(r.url, r.method, dict(r.headers)) for r in requests]
    match_typed = timed(lambda t: engine.match(t[0], request_type=infer_request_type(t[1], t[0], t[2])), typed)
    # Interleaved, best of each: the machine's load drifts between passes.
    best = dict.fromkeys(("decide", "services", "quiet", "tagged", "tagged_quiet"), float("inf"))
    for _ in range(PASSES):
        for key, decider, items in (("decide", policy, requests), ("services", with_services, requests),
                                    ("quiet", quiet, requests), ("tagged", policy, tagged),
                                    ("tagged_quiet", quiet, tagged)):
            best[key] = min(best[key], timed(decider.decide, items))
    decide = best["decide"]
    hosts = [r.host for r in requests]
    lookup = timed(with_services.services.lookup, hosts)
    # The step decide() adds for a profile with services: the lookup, then the profile's
    # check when the host belongs to a service (blocked, window, limit with its counters).
    rules = with_services.service_rules["default"]
    index, now = with_services.services, time.time()
    minute = with_services._clock.minute_of_week(now)

    def service_step(host: str) -> None:
        found = index.lookup(host)
        if found is not None:
            rules.check(found, None, "192.168.1.50", minute, now)

    step = timed(service_step, hosts)
    hits = sum(index.lookup(h) is not None for h in hosts)
    # The worst case: every request to a blocked, windowed or limited service.
    service_hosts = [f"www.{h}" for name in ("tiktok", "roblox", "youtube", "steam", "bet365")
                     for h in index.services[name].hosts] * 200
    step_hits = timed(service_step, service_hosts)
    print(f"{len(requests)} requests, best of {PASSES} passes, mean microseconds per request")
    print(f"{'engine.match(url)':34} {match:7.1f}")
    print(f"{'match + request type inference':34} {match_typed:7.1f}   {match_typed / match:.2f}x")
    print(f"{'Policy.decide(request)':34} {decide:7.1f}   {decide / match:.2f}x match, "
          f"{decide / match_typed:.2f}x match+type")
    print(f"{'decide with services and limits':34} {best['services']:7.1f}   "
          f"+{best['services'] - decide:.2f} us per decision (target <= 2)")
    print(f"{'ServiceIndex.lookup(host) alone':34} {lookup:7.2f}")
    print(f"{'service step (lookup + check)':34} {step:7.2f}   us per decision, {hits} of {len(hosts)} hosts "
          "belong to a service (target <= 2)")
    print(f"{'service step, service hosts only':34} {step_hits:7.2f}")
    print(f"{'privacy + file kinds, as sent':34} {decide - best['quiet']:7.2f}   us added per request "
          f"({best['quiet']:.1f} off, {decide:.1f} on; target <= 3)")
    print(f"{'privacy + file kinds, with trackers':34} {best['tagged'] - best['tagged_quiet']:7.2f}   "
          f"us added per request ({best['tagged_quiet']:.1f} off, {best['tagged']:.1f} on)")
    if args.big_hosts:
        without, with_big, built = big_list_cost(config_text, lists, policy, requests, args.big_hosts)
        print(f"{f'decide with {args.big_hosts:,} more hosts':34} {with_big:7.1f}   {with_big / without:.3f}x "
              f"without them ({without:.1f}; CPU time; target <= 1.05); list built in {built:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
