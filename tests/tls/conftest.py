"""Fixtures for real TLS on loopback: Guardian's CA in a temporary data folder, a proxy
that uses it, and clients that trust it (or not)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from guardian.config import parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.tls.ca import CertificateAuthority
from guardian.tls.intercept import Interceptor

POLICY = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[[profiles]]
name = "default"
block = ["blocked.invalid", "198.51.100.7"]
[[profiles]]
name = "no-page"
block = ["blocked.invalid"]
https_block_page = false
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.1"]
profile = "{profile}"
"""


@pytest.fixture(scope="session")
def guardian_ca(tmp_path_factory) -> CertificateAuthority:
    data_dir = tmp_path_factory.mktemp("ca-data")
    ca = CertificateAuthority.for_service(data_dir, "the Smiths")
    return ca


@pytest.fixture(scope="session")
def ca_file(guardian_ca, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ca-export") / "guardian-ca.pem"
    path.write_bytes(guardian_ca.pem())
    return path


class NoLookups:
    """A resolver that fails the test's expectations if it is ever asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list:
        self.asked.append(host)
        raise OSError("no lookups in this test")


@pytest.fixture
def tls_proxy(make_proxy, guardian_ca, tmp_path):
    """A proxy with Guardian's TLS for the device 127.0.0.1 in the given profile."""

    def factory(profile: str = "default", **overrides):
        holder = PolicyHolder(Policy(parse_config(POLICY.format(data_dir=tmp_path, profile=profile)), {}))
        proxy = make_proxy(decider=holder, **{"connect_ports": (443,), **overrides})
        proxy.ctx.tls = Interceptor(guardian_ca, 64)
        proxy.ctx.resolver = NoLookups()
        return proxy

    return factory


def trusting_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def connect_tunnel(port: int, authority: str, timeout: float = 5.0) -> socket.socket:
    """A socket to the proxy with a CONNECT answered 200."""
    sock = socket.create_connection(("127.0.0.1", port), timeout)
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        if not data:
            raise EOFError(f"proxy closed; got {head!r}")
        head += data
    assert head.startswith(b"HTTP/1.1 200 Connection established\r\n"), head
    return sock


def read_all(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while True:
        try:
            chunk = tls.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body
