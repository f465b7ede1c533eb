"""Collapsed forwarding: concurrent misses on one key make one upstream fetch."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

import pytest

from guardian.cache import Cache, Outcome
from guardian.config import CacheConfig

T0 = 1_700_000_000.0
URL = "http://static.example/app.js"
JS = ("Content-Type", "application/javascript")
FRESH = ("Cache-Control", "max-age=600")
DATE = ("Date", formatdate(T0, usegmt=True))
CLIENTS = 20


def storm(cache, origin, exchange, *headers, clients: int = CLIENTS, at: float = 0.0):
    """`clients` concurrent requests for URL while the origin is held until every
    thread has started; the results in order."""
    origin.delay = threading.Event()
    started = threading.Barrier(clients + 1)

    def one(_: int):
        started.wait()
        return exchange(cache, origin, URL, *headers, now=T0 + at)

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(one, n) for n in range(clients)]
        started.wait()
        time.sleep(0.2)  # let the followers reach their wait; late ones get a plain hit anyway
        origin.delay.set()
        return [f.result(timeout=10) for f in futures]


def test_twenty_concurrent_misses_make_one_fetch(cache, origin, exchange) -> None:
    origin.serve(URL, JS, FRESH, DATE, body=b"js" * 5000, chunk=1000)
    results = storm(cache, origin, exchange)
    assert origin.hits == 1
    assert all(r.body == b"js" * 5000 and r.status == 200 for r in results)
    assert sorted(r.x_cache for r in results) == ["HIT"] * (CLIENTS - 1) + ["MISS"]
    stats = cache.stats()
    assert (stats["misses"], stats["hits"]) == (1, CLIENTS - 1)
    assert stats["collapsed"] >= 1


def test_concurrent_revalidations_make_one_conditional_request(cache, origin, exchange) -> None:
    origin.serve(URL, JS, ("Cache-Control", "max-age=10"), DATE, ("ETag", '"1"'))
    exchange(cache, origin, URL, now=T0)
    origin.serve(URL, JS, ("Cache-Control", "max-age=10"), ("Date", formatdate(T0 + 60, usegmt=True)),
                 ("ETag", '"1"'))
    results = storm(cache, origin, exchange, at=60)
    assert origin.hits == 2
    assert sorted(r.x_cache for r in results) == ["HIT"] * (CLIENTS - 1) + ["REVALIDATED"]


def test_uncacheable_response_releases_followers_to_fetch_themselves(cache, origin, exchange) -> None:
    origin.serve(URL, ("Content-Type", "text/html"), DATE)
    results = storm(cache, origin, exchange)
    assert origin.hits == CLIENTS
    assert all(r.x_cache == "MISS" for r in results)


def test_failed_leader_lets_followers_fetch(cache, origin, exchange) -> None:
    origin.serve(URL, JS, FRESH, DATE, body=b"j" * 4000, chunk=1000, complete=False)
    results = storm(cache, origin, exchange, clients=5)
    assert origin.hits == 5
    assert all(r.outcome is Outcome.MISS for r in results)


def test_leader_failing_before_the_response_releases_followers(cache) -> None:
    follower_result = []
    with pytest.raises(ConnectionRefusedError), cache.lookup("GET", URL, [], T0) as leader:
        assert leader.leader
        follower = threading.Thread(target=lambda: follower_result.append(cache.lookup("GET", URL, [], T0)))
        follower.start()
        time.sleep(0.05)
        raise ConnectionRefusedError  # upstream down: the with block releases the flight
    follower.join(2)
    assert not follower.is_alive()
    assert follower_result[0].outcome is Outcome.MISS and not follower_result[0].leader


def test_a_crashed_leader_blocks_followers_only_until_the_timeout() -> None:
    cache = Cache(CacheConfig(), collapse_timeout=0.2)
    crashed = cache.lookup("GET", URL, [], T0)  # never finished, never released
    assert crashed.leader
    started = time.monotonic()
    follower = cache.lookup("GET", URL, [], T0)
    assert 0.15 < time.monotonic() - started < 2
    assert (follower.outcome, follower.leader) == (Outcome.MISS, False)
    # Past its deadline the dead flight is replaced: the next request leads at once.
    started = time.monotonic()
    assert cache.lookup("GET", URL, [], T0).leader
    assert time.monotonic() - started < 0.1


def test_requests_that_cannot_share_do_not_wait(cache) -> None:
    leader = cache.lookup("GET", URL, [], T0)
    assert leader.leader
    for method, headers in [
        ("HEAD", []),
        ("GET", [("Authorization", "Basic eA==")]),
        ("GET", [("Cache-Control", "no-cache")]),
        ("GET", [("Cache-Control", "no-store")]),
    ]:
        started = time.monotonic()
        found = cache.lookup(method, URL, headers, T0)
        assert (found.outcome, found.leader) == (Outcome.MISS, False)
        assert time.monotonic() - started < 0.1
    leader.release()


def test_different_encodings_are_separate_flights(cache) -> None:
    first = cache.lookup("GET", URL, [("Accept-Encoding", "gzip")], T0)
    second = cache.lookup("GET", URL, [], T0)
    assert first.leader and second.leader
    first.release()
    second.release()


def test_follower_woken_by_a_stored_body_gets_a_hit(cache) -> None:
    leader = cache.lookup("GET", URL, [], T0)
    results = []
    follower = threading.Thread(target=lambda: results.append(cache.lookup("GET", URL, [], T0 + 1)))
    follower.start()
    time.sleep(0.05)
    with cache.begin_store(leader, 200, [JS, FRESH, DATE], T0) as writer:
        assert not leader.leader  # the writer holds the flight now
        writer.write(b"code")
        writer.finish()
    follower.join(2)
    assert (results[0].outcome, results[0].response.body) == (Outcome.HIT, b"code")
    assert cache.stats()["collapsed"] == 1
