"""A rule change closes open connections whose site it blocks (connections.py), but never
leaves a request without an answer: one that waits for its website when the change
comes gets that answer, and the connection closes after it. Answers that last (a
download, an upgraded connection) are still cut."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.client import RawClient
from tests.support.switch import Switch


def block_now(proxy, switch: Switch) -> None:
    """What a reload or a list refresh does: new rules, then the open connections re-decided at once."""
    switch.block = True
    proxy.ctx.connections.wake()


@pytest.mark.parametrize("earlier_requests", [0, 1], ids=["first request", "after one on the same connection"])
def test_a_request_waiting_for_its_website_gets_its_answer_when_the_site_becomes_blocked(
        make_proxy, origin, earlier_requests: int) -> None:
    switch = Switch()
    proxy = make_proxy(decider=switch)
    client = RawClient(proxy.port)
    for _ in range(earlier_requests):
        client.send(f"GET {origin.base}/size/10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert client.read_response().status == 200
    client.send(f"GET {origin.base}/slow HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # answers after 1.5 s
    time.sleep(0.3)
    block_now(proxy, switch)
    answer = client.read_response()  # before the fix: EOFError, the connection closed without an answer
    assert answer.status == 200 and answer.body == b"slow but complete"
    # then the connection is closed: its site is blocked now
    t0 = time.monotonic()
    assert client.is_closed(timeout=3.0)
    assert time.monotonic() - t0 < 1.0
    deadline = time.monotonic() + 5.0  # the serving thread that finds it closed forgets it
    while proxy.ctx.connections.snapshot():
        assert time.monotonic() < deadline, "the closed connection is still registered"
        time.sleep(0.02)
    fresh = RawClient(proxy.port)
    fresh.send(f"GET {origin.base}/size/10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert fresh.read_response().status == 403
    fresh.close()


@pytest.fixture
def trickling_origin() -> Iterator[int]:
    """A website whose answer takes long: a head promising a megabyte, then 1 KiB every 20 ms."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            sock, _ = listener.accept()
            with sock:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += sock.recv(4096)
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
                while not stop.wait(0.02):
                    sock.sendall(b"v" * 1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_a_download_under_way_is_still_cut_when_its_site_becomes_blocked(make_proxy, trickling_origin) -> None:
    switch = Switch()
    proxy = make_proxy(decider=switch)
    client = RawClient(proxy.port)
    client.send(f"GET http://127.0.0.1:{trickling_origin}/video HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = client._until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    while len(client.buf) < 2048:  # the body is streaming
        client._more()
    block_now(proxy, switch)
    deadline = time.monotonic() + 2.0
    while not client.is_closed(timeout=2.0):  # False while bytes still come
        assert time.monotonic() < deadline, "still streaming after the rule change"
    assert len(client.buf) < 1048576 // 2  # cut, not sent to its end


def test_an_upgraded_connection_is_still_closed_when_its_site_becomes_blocked(make_proxy, origin) -> None:
    switch = Switch()
    proxy = make_proxy(decider=switch, connect_ports=(443, origin.port))  # an upgrade is a tunnel: CONNECT's ports
    client = RawClient(proxy.port)
    client.send(f"GET {origin.base}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
    assert client.read_response().status == 101
    client.send(b"frame-one")
    assert client._exact(9) == b"FRAME-ONE"
    block_now(proxy, switch)
    t0 = time.monotonic()
    assert client.is_closed(timeout=3.0)
    assert time.monotonic() - t0 < 1.0
