"""Thousands of connections at once, and slow clients that must not delay others."""

from __future__ import annotations

import resource
import socket
import time

import pytest

from tests.support.client import RawClient

IDLE_CLIENTS = 1000
TUNNELS = 1000
SLOW_CLIENTS = 200


@pytest.fixture(autouse=True)
def enough_file_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * (IDLE_CLIENTS + TUNNELS) + 1000  # both ends of every client and tunnel live in this process
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def timed_request(proxy, origin, path: str) -> float:
    t0 = time.monotonic()
    c = RawClient(proxy.port, timeout=10)
    c.send(f"GET {origin.base}{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert c.read_response().status == 200
    c.close()
    return time.monotonic() - t0


def test_two_thousand_connections_and_new_requests_still_prompt(make_proxy, origin, echo_server):
    # every test client is 127.0.0.1: lift the per-device share, this test is about scale
    proxy = make_proxy(connect_ports=(echo_server.port,), max_connections_per_client=4096)
    held: list[socket.socket] = []
    try:
        for i in range(IDLE_CLIENTS):
            c = RawClient(proxy.port, timeout=10)
            c.send(f"GET {origin.base}/idle{i % 10} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert c.read_response().status == 200
            held.append(c.sock)
        for _ in range(TUNNELS):
            c = RawClient(proxy.port, timeout=10)
            c.send(f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert c._until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
            held.append(c.sock)
        assert len(proxy.server.connections) >= IDLE_CLIENTS + TUNNELS
        assert timed_request(proxy, origin, "/fresh") < 2.0
        # every held connection still works
        for sock in held[IDLE_CLIENTS:IDLE_CLIENTS + 20]:
            sock.sendall(b"ping")
            assert sock.recv(4) == b"ping"
    finally:
        for sock in held:
            sock.close()


def test_slow_clients_do_not_delay_others(make_proxy, origin):
    proxy = make_proxy(head_timeout=30)
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", proxy.port))
            s.sendall(f"GET {origin.base}/ HTTP/1.1\r\nHost: x\r\nX-Half: ".encode())  # never finished
            slow.append(s)
        durations = [timed_request(proxy, origin, f"/quick{i}") for i in range(20)]
        assert max(durations) < 2.0
    finally:
        for s in slow:
            s.close()
