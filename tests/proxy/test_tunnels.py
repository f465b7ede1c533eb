"""CONNECT tunnels and WebSocket upgrades."""

from __future__ import annotations

import socket
import time

from tests.support.client import RawClient


def open_tunnel(proxy, port: int, early: bytes = b"") -> RawClient:
    c = RawClient(proxy.port)
    c.send(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() + early)
    head = c._until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 Connection established"), head
    return c


def read_exactly(c: RawClient, n: int) -> bytes:
    return c._exact(n)


def test_tunnel_relays_both_ways_and_half_close(make_proxy, echo_server):
    proxy = make_proxy(connect_ports=(echo_server.port,))
    c = open_tunnel(proxy, echo_server.port)
    payload = bytes(range(256)) * 4000  # ~1 MB, every byte value
    c.send(payload)
    assert read_exactly(c, len(payload)) == payload
    c.sock.shutdown(socket.SHUT_WR)  # half-close: the echo server sees EOF and answers after it
    assert read_exactly(c, 3) == b"EOF"
    assert c.is_closed()
    records = proxy.recorder.wait_for(1)
    assert records[0].method == "CONNECT"
    assert records[0].bytes_from_client >= len(payload)
    assert records[0].bytes_to_client >= len(payload)


def test_bytes_pipelined_after_connect_reach_the_upstream(make_proxy, echo_server):
    proxy = make_proxy(connect_ports=(echo_server.port,))
    c = open_tunnel(proxy, echo_server.port, early=b"\x16\x03\x01early-bytes")
    assert read_exactly(c, 14) == b"\x16\x03\x01early-bytes"


def test_connect_to_a_port_not_allowed_is_403(proxy, echo_server):
    c = RawClient(proxy.port)
    c.send(f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 403
    assert c.is_closed()
    assert echo_server.received == b""


def test_connect_without_a_port_is_400(proxy):
    c = RawClient(proxy.port)
    c.send(b"CONNECT example.org HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.read_response().status == 400


def test_tunnel_idle_timeout(make_proxy, echo_server):
    proxy = make_proxy(connect_ports=(echo_server.port,), tunnel_idle_timeout=1.0)
    c = open_tunnel(proxy, echo_server.port)
    t0 = time.monotonic()
    assert c.is_closed(timeout=5)
    assert time.monotonic() - t0 < 4


def test_websocket_upgrade_is_relayed(make_proxy, origin):
    proxy = make_proxy(connect_ports=(443, origin.port))  # an upgrade is a tunnel: CONNECT's ports
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 101
    assert r.header("upgrade") == "websocket"
    c.send(b"frame-one")
    assert c._exact(9) == b"FRAME-ONE"
    request = origin.stats.requests[-1]
    assert request.header("upgrade") == "websocket"
    assert request.header("connection").lower() == "upgrade"
