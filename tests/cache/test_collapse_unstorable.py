"""Collapsed forwarding only where it can serve someone: a URL that has just answered with
something the cache will not store is fetched without a flight (nobody waits on it), and
a flight nobody joined wakes nobody."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

from guardian.cache import Cache, Outcome
from guardian.config import CacheConfig

T0 = 1_700_000_000.0
URL = "http://static.example/feed"
PAGE = [("Content-Type", "text/html"), ("Date", formatdate(T0, usegmt=True))]
SCRIPT = [("Content-Type", "application/javascript"), ("Cache-Control", "max-age=600"),
          ("Date", formatdate(T0, usegmt=True))]


def test_after_an_unstorable_answer_the_next_fetches_of_that_url_lead_no_flight() -> None:
    cache = Cache(CacheConfig())
    first = cache.lookup("GET", URL, [], T0)
    assert first.leader
    assert cache.begin_store(first, 200, PAGE, T0) is None  # not stored: followers go at once
    held = cache.lookup("GET", URL, [], T0)  # as if its fetch were still in progress
    assert (held.outcome, held.leader) == (Outcome.MISS, False)
    started = time.monotonic()
    other = cache.lookup("GET", URL, [], T0)
    assert (other.outcome, other.leader) == (Outcome.MISS, False)
    assert time.monotonic() - started < 0.1
    assert len(cache._flights) == 0


def test_a_url_that_becomes_storable_is_stored_and_collapses_again() -> None:
    cache = Cache(CacheConfig())
    with cache.lookup("GET", URL, [], T0) as first:
        assert cache.begin_store(first, 200, PAGE, T0) is None
    with cache.lookup("GET", URL, [], T0) as second:
        assert not second.leader
        with cache.begin_store(second, 200, SCRIPT, T0) as writer:  # still stored when it may be
            writer.write(b"code")
            writer.finish()
    assert cache.lookup("GET", URL, [], T0 + 1).outcome is Outcome.HIT
    cache.clear()
    assert cache.lookup("GET", URL, [], T0 + 2).leader  # a storable answer ended the exemption


def test_a_follower_still_wakes_when_the_leader_learns_the_answer_is_unstorable() -> None:
    cache = Cache(CacheConfig())
    leader = cache.lookup("GET", URL, [], T0)
    results = []
    follower = threading.Thread(target=lambda: results.append(cache.lookup("GET", URL, [], T0)))
    follower.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert cache.begin_store(leader, 200, PAGE, T0) is None
    follower.join(2)
    assert time.monotonic() - started < 1
    assert results[0].outcome is Outcome.MISS and not results[0].leader
