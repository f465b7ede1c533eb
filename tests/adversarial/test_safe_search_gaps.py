"""Safe search has no side doors: DuckDuckGo's html./lite. front ends, and the cache.

The cache test runs two real origins on the same port of two loopback addresses: the
search host's own answer and its "safe" host's answer differ, and a device with safe
search on must never be served what was cached from the real host (nor the reverse).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from guardian.cache import Cache
from guardian.config import CacheConfig, parse_config
from guardian.policy import Policy
from guardian.policy.safesearch import DDG_SAFE, SafeSearch
from guardian.proxy.hooks import ALLOW, RequestInfo, Verdict
from tests.support.client import RawClient


@pytest.mark.parametrize("host", ["html.duckduckgo.com", "lite.duckduckgo.com", "duckduckgo.com"])
def test_every_duckduckgo_front_end_goes_to_the_safe_host(host):
    assert SafeSearch(True, "off").connect_host(host) == DDG_SAFE
    assert SafeSearch(False, "off").connect_host(host) is None


def test_a_kids_profile_gets_safe_duckduckgo_over_connect_and_plain_http(tmp_path):
    config = parse_config(f"""
data_dir = "{tmp_path}"
[[profiles]]
name = "default"
safe_search = true
""")
    policy = Policy(config, {})
    for method, scheme, port, target in (("CONNECT", "https", 443, ""), ("GET", "http", 80, "/html/?q=cats")):
        for host in ("html.duckduckgo.com", "lite.duckduckgo.com"):
            verdict = policy.decide(RequestInfo("192.168.1.9", method, scheme, host, port, target))
            assert verdict.allowed and verdict.connect_host == DDG_SAFE, (method, host)


class TwoOrigins:
    """A cacheable image at the same port on 127.0.0.1 ("real") and 127.0.0.2 ("safe")."""

    def __init__(self) -> None:
        self.real = socket.create_server(("127.0.0.1", 0))
        self.port = self.real.getsockname()[1]
        self.safe = socket.create_server(("127.0.0.2", self.port))
        self.hits = {"real": 0, "safe": 0}
        for name, listener in (("real", self.real), ("safe", self.safe)):
            threading.Thread(target=self._serve, args=(name, listener), daemon=True).start()

    def _serve(self, name: str, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with sock, contextlib.suppress(OSError):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += sock.recv(65536)
                self.hits[name] += 1
                body = f"{name} results".encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nCache-Control: max-age=600\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))

    def close(self) -> None:
        self.real.close()
        self.safe.close()


@pytest.fixture
def two_origins() -> Iterator[TwoOrigins]:
    origins = TwoOrigins()
    yield origins
    origins.close()


class SafeForKids:
    """Requests carrying `X-Test-Device: kid` connect to the safe host, like safe search."""

    def decide(self, request: RequestInfo) -> Verdict:
        if request.header("x-test-device") == "kid":
            return Verdict(allowed=True, connect_host="safe.search.test")
        return ALLOW


def test_the_cache_keeps_what_the_safe_host_answered_apart(make_proxy, two_origins):
    proxy = make_proxy(decider=SafeForKids())
    proxy.ctx.cache = Cache(CacheConfig())
    addresses = {"search.test": "127.0.0.1", "safe.search.test": "127.0.0.2"}
    proxy.ctx.resolver = lambda host, port: [(socket.AF_INET, (addresses[host], port))]

    def fetch(device: str) -> tuple[bytes, str | None]:
        client = RawClient(proxy.port)
        client.send(f"GET http://search.test:{two_origins.port}/thumb.png HTTP/1.1\r\nHost: search.test\r\n"
                    f"X-Test-Device: {device}\r\n\r\n".encode())
        response = client.read_response()
        client.sock.close()
        return response.body, response.header("x-cache")

    assert fetch("parent") == (b"real results", "MISS")
    assert fetch("kid") == (b"safe results", "MISS")
    assert fetch("kid") == (b"safe results", "HIT")
    assert fetch("parent") == (b"real results", "HIT")
    assert two_origins.hits == {"real": 1, "safe": 1}
