"""Connections wait between requests in the parking lot's epoll, holding no thread, and a small
pool of serving threads takes each one up when its next request arrives."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable

import pytest

from guardian.proxy.parking import THREADS
from tests.support.client import RawClient
from tests.support.switch import Switch

PARKED_CLIENTS = 500


def serving_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "proxy-serve")


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def get(client: RawClient, origin, path: str, extra: str = "") -> int:
    client.send(f"GET {origin.base}{path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    return client.read_response().status


def local_port(client: RawClient) -> int:
    return client.sock.getsockname()[1]


def parked(proxy, count: int) -> bool:
    return len(proxy.server.lot) == count and proxy.server.lot.serving == 0


def test_an_idle_keep_alive_connection_is_parked_and_served_again_on_the_same_connection(make_proxy, origin):
    proxy = make_proxy()
    c = RawClient(proxy.port)
    assert get(c, origin, "/size/10") == 200
    port = local_port(c)
    assert eventually(lambda: parked(proxy, 1)), "the idle connection still holds a thread"
    assert len(proxy.server.connections) == 1
    assert get(c, origin, "/size/20") == 200  # taken up again by a serving thread
    assert local_port(c) == port
    assert eventually(lambda: parked(proxy, 1))  # and parked again after the next request
    assert get(c, origin, "/chunked") == 200
    records = proxy.recorder.wait_for(3)
    assert [r.status for r in records] == [200, 200, 200]
    c.close()


def test_a_client_closing_a_parked_connection_is_forgotten(make_proxy, origin):
    proxy = make_proxy()
    c = RawClient(proxy.port)
    assert get(c, origin, "/size/10") == 200
    assert eventually(lambda: parked(proxy, 1))
    c.close()
    assert eventually(lambda: not proxy.server.connections and len(proxy.server.lot) == 0)
    assert proxy.server.lot.serving == 0


def two_parked_and_a_third_turned_away(proxy, origin) -> list[RawClient]:
    """Two connections served and parked, at a limit of two; a third is refused."""
    held = [RawClient(proxy.port) for _ in range(2)]
    for c in held:
        assert get(c, origin, "/size/10") == 200
    assert eventually(lambda: parked(proxy, 2))
    turned_away = RawClient(proxy.port)
    assert get(turned_away, origin, "/size/10") == 503
    turned_away.close()
    return held


def test_parked_connections_count_toward_the_per_client_limit_and_idle_out(make_proxy, origin):
    proxy = make_proxy(max_connections_per_client=2, idle_timeout=2.0)
    held = two_parked_and_a_third_turned_away(proxy, origin)
    # the idle timeout closes parked connections as it closes waiting ones, and frees the places
    for c in held:
        assert c.is_closed(timeout=8.0)
    assert eventually(lambda: not proxy.server.connections and len(proxy.server.lot) == 0)
    again = RawClient(proxy.port)
    assert get(again, origin, "/size/10") == 200
    again.close()


def test_parked_connections_count_toward_the_connection_limit(make_proxy, origin):
    proxy = make_proxy(max_connections=2)
    held = two_parked_and_a_third_turned_away(proxy, origin)
    held[0].close()  # closed while parked: the lot forgets it and the place is free again
    assert eventually(lambda: len(proxy.server.connections) == 1)
    again = RawClient(proxy.port)
    assert get(again, origin, "/size/10") == 200
    assert get(held[1], origin, "/size/10") == 200
    again.close()
    held[1].close()


def test_a_resumed_connection_reads_a_head_sent_in_pieces_and_idles_out_after_it(make_proxy, origin):
    proxy = make_proxy(idle_timeout=2.0)
    c = RawClient(proxy.port)
    assert get(c, origin, "/size/10") == 200
    assert eventually(lambda: parked(proxy, 1))
    t0 = time.monotonic()
    c.send(b"GET ")  # a request begun: it waits in the lot until the rest of its head is here
    assert eventually(lambda: parked(proxy, 1) and next(iter(proxy.server.connections)).reader.buffer == b"GET ")
    time.sleep(0.1)
    c.send(f"{origin.base}/size/5 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().status == 200
    assert eventually(lambda: parked(proxy, 1))
    assert c.is_closed(timeout=8.0)  # idle_timeout after the last request, not more
    assert time.monotonic() - t0 < 6.0


def test_stop_closes_parked_connections_at_once(make_proxy, origin):
    proxy = make_proxy()
    held = [RawClient(proxy.port) for _ in range(5)]
    for c in held:
        assert get(c, origin, "/size/10") == 200
    assert eventually(lambda: parked(proxy, 5))
    t0 = time.monotonic()
    proxy.server.stop(grace=10.0)
    assert time.monotonic() - t0 < 5.0  # nothing busy: no waiting out the grace period
    for c in held:
        assert c.is_closed()
    assert not proxy.server.connections


def test_a_rule_change_closes_a_parked_connection_whose_last_request_is_now_blocked(make_proxy, origin):
    switch = Switch()
    proxy = make_proxy(decider=switch)
    c = RawClient(proxy.port)
    assert get(c, origin, "/size/10") == 200
    assert eventually(lambda: parked(proxy, 1))
    assert len(proxy.ctx.connections.snapshot()) == 1
    switch.block = True
    proxy.ctx.connections.wake()
    assert c.is_closed(timeout=8.0)
    assert eventually(lambda: not proxy.server.connections and len(proxy.server.lot) == 0)
    assert proxy.ctx.connections.snapshot() == []


class WatchingLot:
    """The server's parking lot, noting how much each connection it parks has buffered."""

    def __init__(self, lot, buffered_at_park: list[int]) -> None:
        self._lot = lot
        self._buffered_at_park = buffered_at_park

    def park(self, conn) -> bool:
        self._buffered_at_park.append(len(conn.reader.buffer))
        return self._lot.park(conn)

    def __len__(self) -> int:
        return len(self._lot)

    def __getattr__(self, name: str):
        return getattr(self._lot, name)


def test_pipelined_requests_are_served_without_parking_in_between(make_proxy, origin):
    proxy = make_proxy()
    buffered_at_park: list[int] = []
    # seen by connections accepted from now on (the lot itself is compiled: no attribute of its own can change)
    proxy.server.lot = WatchingLot(proxy.server.lot, buffered_at_park)
    c = RawClient(proxy.port)
    # the first answer takes a while, and the next requests wait in the buffer meanwhile
    slow = "/asset/p.png?delay=0.6"
    c.send("".join(f"GET {origin.base}{path} HTTP/1.1\r\nHost: x\r\n\r\n"
                   for path in (slow, "/size/3", "/size/4")).encode())
    assert [len(c.read_response().body) for _ in range(3)] == [len(b"asset /asset/p.png"), 3, 4]
    assert eventually(lambda: parked(proxy, 1))
    assert buffered_at_park == [0, 0]  # before the first request and after the last, not in between
    c.close()


@pytest.fixture
def enough_file_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * PARKED_CLIENTS + 500
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_hundreds_of_parked_connections_hold_no_threads_and_a_fresh_request_is_served(
        make_proxy, origin, enough_file_descriptors):
    proxy = make_proxy(max_connections_per_client=4096)
    held: list[RawClient] = []
    try:
        for i in range(PARKED_CLIENTS):
            c = RawClient(proxy.port, timeout=10)
            assert get(c, origin, f"/size/{i % 7 + 1}") == 200
            held.append(c)
        assert eventually(lambda: parked(proxy, PARKED_CLIENTS))
        assert len(proxy.server.connections) == PARKED_CLIENTS
        # not a thread more for them (one replaced while a request ran long, on a loaded machine, ends soon)
        assert eventually(lambda: serving_threads() == proxy.server.lot.threads == THREADS)
        fresh = RawClient(proxy.port)
        t0 = time.monotonic()
        assert get(fresh, origin, "/size/9", "Connection: close\r\n") == 200
        assert time.monotonic() - t0 < 2.0
        fresh.close()
        for c in held[::50]:  # parked ones still work, each on its own connection
            assert get(c, origin, "/size/8") == 200
    finally:
        for c in held:
            c.close()



def test_clients_trickling_their_heads_hold_no_thread(make_proxy, origin):
    proxy = make_proxy(head_timeout=30)
    trickling = [RawClient(proxy.port) for _ in range(THREADS * 3)]
    for c in trickling:
        c.send(f"GET {origin.base}/size/3 HTTP/1.1\r\nHost: x\r\n".encode())  # the blank line not yet sent
    assert eventually(lambda: parked(proxy, len(trickling)))
    assert eventually(lambda: serving_threads() == proxy.server.lot.threads == THREADS)
    for c in trickling:
        c.send(b"\r\n")
    assert [c.read_response().status for c in trickling] == [200] * len(trickling)
    for c in trickling:
        c.close()


def test_requests_that_run_long_get_threads_of_their_own_and_the_pool_shrinks_after(make_proxy, origin):
    proxy = make_proxy()
    slow = [RawClient(proxy.port, timeout=10) for _ in range(THREADS + 2)]
    for c in slow:
        c.send(f"GET {origin.base}/asset/slow.png?delay=3 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert eventually(lambda: proxy.server.lot.serving == len(slow))
    # every ready thread is held by a slow website: others are started for the rest
    fresh = RawClient(proxy.port)
    t0 = time.monotonic()
    assert get(fresh, origin, "/size/9") == 200
    assert time.monotonic() - t0 < 2.0  # well before any slow answer came
    assert proxy.server.lot.threads >= len(slow) + 1
    assert [c.read_response().status for c in slow] == [200] * len(slow)
    assert eventually(lambda: proxy.server.lot.threads == THREADS)
    assert get(fresh, origin, "/size/9") == 200
    for c in [*slow, fresh]:
        c.close()


def test_a_new_connection_the_lot_cannot_take_is_answered_not_closed_unanswered(make_proxy, origin):
    proxy = make_proxy()
    proxy.server.lot.close()  # as when the proxy stops, or the epoll refuses another socket
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/size/10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    answer = c.read_response()
    assert answer.status == 503 and b"try again in a moment" in answer.body
    assert eventually(lambda: not proxy.server.connections)
