"""The static-asset cache, end to end through the proxy and a counting loopback origin."""

from __future__ import annotations

import threading

from guardian.cache import Cache
from guardian.config import CacheConfig
from guardian.proxy.hooks import ALLOW, RequestInfo, Verdict
from tests.support.client import RawClient


def cached_proxy(make_proxy, decider=None, **cache_overrides):
    proxy = make_proxy(decider=decider)
    proxy.ctx.cache = Cache(CacheConfig(**cache_overrides))
    return proxy


def fetch(proxy, url: str, extra: str = "", method: str = "GET"):
    c = RawClient(proxy.port)
    c.send(f"{method} {url} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    response = c.read_response(head_request=method == "HEAD")
    c.close()
    return response


def test_second_request_is_a_hit_with_age(make_proxy, origin):
    proxy = cached_proxy(make_proxy)
    url = f"{origin.base}/asset/a.png"
    first, second = fetch(proxy, url), fetch(proxy, url)
    assert first.header("x-cache") == "MISS"
    assert second.header("x-cache") == "HIT"
    assert second.body == first.body == b"asset /asset/a.png"
    assert second.header("age") is not None
    assert origin.stats.hits["/asset/a.png"] == 1
    # Each record is made after its answer went out, on whichever thread served it: the
    # second connection's can be recorded first. Their start times keep the order.
    records = sorted(proxy.recorder.wait_for(2), key=lambda r: r.started)
    assert [r.cache for r in records] == ["MISS", "HIT"]
    assert records[1].action == "cached"


def test_html_is_not_cached(make_proxy, origin):
    proxy = cached_proxy(make_proxy)
    url = f"{origin.base}/asset/page?type=text/html"
    fetch(proxy, url)
    fetch(proxy, url)
    assert origin.stats.hits["/asset/page?type=text/html"] == 2


def test_no_cache_response_is_revalidated(make_proxy, origin):
    proxy = cached_proxy(make_proxy)
    url = f"{origin.base}/asset/r.css?type=text/css&cc=no-cache"
    fetch(proxy, url)
    again = fetch(proxy, url)
    assert again.status == 200
    assert again.header("x-cache") == "REVALIDATED"
    assert again.body == b"asset /asset/r.css"
    revalidation = origin.stats.requests[-1]
    assert revalidation.header("if-none-match") == '"v1"'


def test_client_no_cache_forces_revalidation(make_proxy, origin):
    proxy = cached_proxy(make_proxy)
    url = f"{origin.base}/asset/c.js?type=text/javascript"
    fetch(proxy, url)
    assert fetch(proxy, url, "Cache-Control: no-cache\r\n").header("x-cache") == "REVALIDATED"
    assert origin.stats.hits["/asset/c.js?type=text/javascript"] == 2


def test_head_is_answered_from_a_stored_get(make_proxy, origin):
    proxy = cached_proxy(make_proxy)
    url = f"{origin.base}/asset/h.png"
    fetch(proxy, url)
    head = fetch(proxy, url, method="HEAD")
    assert head.header("x-cache") == "HIT"
    assert head.header("content-length") == str(len(b"asset /asset/h.png"))
    assert origin.stats.hits["/asset/h.png"] == 1


def test_oversized_object_streams_but_is_not_stored(make_proxy, origin):
    proxy = cached_proxy(make_proxy, max_object_bytes=1000, max_bytes=100_000)
    url = f"{origin.base}/asset/big.png?repeat=200"
    assert len(fetch(proxy, url).body) == 200 * len(b"asset /asset/big.png")
    fetch(proxy, url)
    assert origin.stats.hits["/asset/big.png?repeat=200"] == 2


def test_collapsed_forwarding_twenty_clients_one_origin_hit(make_proxy, origin):
    proxy = cached_proxy(make_proxy)
    url = f"{origin.base}/asset/slow.png?delay=0.5"
    results = []

    def client():
        results.append(fetch(proxy, url))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 20
    assert all(r.status == 200 and r.body == b"asset /asset/slow.png" for r in results)
    assert origin.stats.hits["/asset/slow.png?delay=0.5"] == 1


class _BlockAfterFirst:
    """Allows a URL once, then blocks it: what a parent adding a rule looks like."""

    def __init__(self) -> None:
        self.seen = 0

    def decide(self, request: RequestInfo) -> Verdict:
        self.seen += 1
        if self.seen == 1:
            return ALLOW
        return Verdict(allowed=False, status=403, headers=[("Content-Type", "text/plain")], body=b"blocked",
                       reason="test rule")


def test_a_blocked_url_is_never_served_from_the_cache(make_proxy, origin):
    proxy = cached_proxy(make_proxy, decider=_BlockAfterFirst())
    url = f"{origin.base}/asset/x.png"
    assert fetch(proxy, url).status == 200
    blocked = fetch(proxy, url)
    assert blocked.status == 403
    assert blocked.body == b"blocked"
    assert proxy.ctx.cache.stats()["hits"] == 0


def test_the_next_request_finds_what_the_last_one_stored(make_proxy, origin):
    """A response is in the cache before its last byte reaches the client: a HEAD or a
    no-cache request right after always finds it (on a busy machine too)."""
    import sys

    proxy = cached_proxy(make_proxy, max_bytes=64 * 2**20)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL to the client as soon as it has its bytes
    try:
        for n in range(40):
            url = f"{origin.base}/asset/n{n}.png"
            fetch(proxy, url)
            # the moment the client has the whole response, the entry is there
            assert proxy.ctx.cache.stats()["entries"] == 2 * n + 1, n
            assert fetch(proxy, url, method="HEAD").header("x-cache") == "HIT", n
            streamed = f"{origin.base}/asset/s{n}.css?type=text/css&repeat=20000"  # more than one read
            fetch(proxy, streamed)
            assert proxy.ctx.cache.stats()["entries"] == 2 * n + 2, n
            assert fetch(proxy, streamed, method="HEAD").header("x-cache") == "HIT", n
    finally:
        sys.setswitchinterval(switch)
