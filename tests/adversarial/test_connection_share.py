"""One device cannot take every connection: a per-client share of `max_connections`."""

from __future__ import annotations

import socket
import time

from tests.support.client import RawClient


def connect_from(source: str, port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))


def request_from(source: str, proxy, origin) -> RawClient:
    client = RawClient.__new__(RawClient)
    client.sock, client.buf = connect_from(source, proxy.port), b""
    client.send(f"GET {origin.base}/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return client


def held_by(proxy, address: str) -> int:
    return sum(1 for conn in list(proxy.server.connections) if conn.client_ip == address)


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_flooding_device_is_turned_away_and_others_are_served(make_proxy, origin):
    proxy = make_proxy(max_connections=16, max_connections_per_client=4)
    flood = [connect_from("127.0.0.2", proxy.port) for _ in range(4)]
    assert wait_until(lambda: held_by(proxy, "127.0.0.2") == 4)

    extra = request_from("127.0.0.2", proxy, origin)
    refused = extra.read_response()
    assert refused.status == 503
    assert b"This device has too many connections open" in refused.body

    # the rest of the house still gets through, more than the flooder's share each
    others = [request_from("127.0.0.3", proxy, origin) for _ in range(3)] + [request_from("127.0.0.4", proxy, origin)]
    assert [c.read_response().status for c in others] == [200, 200, 200, 200]

    # the share frees up as the flooder's connections close
    flood.pop().close()
    assert wait_until(lambda: held_by(proxy, "127.0.0.2") == 3)
    assert request_from("127.0.0.2", proxy, origin).read_response().status == 200
    for sock in flood:
        sock.close()


def test_the_share_is_counted_back_down_to_nothing(make_proxy, origin):
    proxy = make_proxy(max_connections=16, max_connections_per_client=2)
    for _ in range(5):
        client = request_from("127.0.0.5", proxy, origin)
        assert client.read_response().status == 200
        client.sock.close()
        assert wait_until(lambda: "127.0.0.5" not in proxy.server._per_client)
