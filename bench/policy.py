"""What the whole decision costs next to the filter engine's match alone.

    .venv/bin/python bench/policy.py

On EasyList + EasyPrivacy for the default profile, over adblock-rust's request set
(../shared/data/conformance), each request as the proxy would see it (a RequestInfo with
the headers a browser sends for its type): the mean time of `engine.match(url)` alone,
of match plus request-type inference, and of `Policy.decide()` (device, pauses,
schedules, the parents' rules, the lists, safe search). Target: decide <= 1.2x match.

Services: the same profile with blocked services, a service window and a daily limit
(`[profiles.services]`, `[[profiles.limits]]`) against the same profile without them;
the difference is what the service lookup costs a decision. Target: at most 2 us.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from filters import LISTS_DIR, load_requests, read_lists  # the same inputs as bench/filters.py

from guardian.config import parse_config
from guardian.filters import FilterEngine, infer_request_type
from guardian.policy import Policy
from guardian.proxy.hooks import RequestInfo

DEST = {"script": "script", "image": "image", "stylesheet": "style", "sub_frame": "iframe", "main_frame": "document",
        "font": "font", "media": "video", "xmlhttprequest": "empty"}
PASSES = 3


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


def timed(fn, items) -> float:
    best = float("inf")
    for _ in range(PASSES):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, (time.perf_counter() - start) / len(items) * 1e6)
    return best


def main() -> int:
    lists = read_lists()
    config_text = f'''
[[lists]]
id = "easylist"
url = "{LISTS_DIR / 'easylist.txt'}"
[[lists]]
id = "easyprivacy"
url = "{LISTS_DIR / 'easyprivacy.txt'}"
[[profiles]]
name = "default"
lists = ["easylist", "easyprivacy"]
block = ["||tiktok.com^"]
allow = ["||school.example^"]
'''
    config = parse_config(config_text)
    policy = Policy(config, lists)
    with_services = Policy(parse_config(config_text + SERVICES), lists, previous=policy)
    engine = FilterEngine.from_lists(lists)
    requests = [as_request(r) for r in load_requests()]
    urls = [r.url for r in requests]
    for url in urls:  # first use builds each rule's matcher: measure the steady state
        engine.match(url)
    for request in requests:
        policy.decide(request)
    match = timed(engine.match, urls)
    typed = [(r.url, r.method, dict(r.headers)) for r in requests]
    match_typed = timed(lambda t: engine.match(t[0], request_type=infer_request_type(t[1], t[0], t[2])), typed)
    for request in requests:
        with_services.decide(request)
    # Interleaved, best of each: the machine's load drifts between passes.
    decide = decide_services = float("inf")
    for _ in range(PASSES):
        decide = min(decide, timed(policy.decide, requests))
        decide_services = min(decide_services, timed(with_services.decide, requests))
    hosts = [r.host for r in requests]
    lookup = timed(with_services.services.lookup, hosts)
    print(f"{len(requests)} requests, best of {PASSES} passes, mean microseconds per request")
    print(f"{'engine.match(url)':34} {match:7.1f}")
    print(f"{'match + request type inference':34} {match_typed:7.1f}   {match_typed / match:.2f}x")
    print(f"{'Policy.decide(request)':34} {decide:7.1f}   {decide / match:.2f}x match, "
          f"{decide / match_typed:.2f}x match+type")
    print(f"{'decide with services and limits':34} {decide_services:7.1f}   "
          f"+{decide_services - decide:.2f} us per decision (target <= 2)")
    print(f"{'ServiceIndex.lookup(host) alone':34} {lookup:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
