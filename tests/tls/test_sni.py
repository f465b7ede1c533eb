"""The SNI of tunnels Guardian neither blocks nor decrypts: read without taking it, and
decided too when it names another site than the CONNECT (the stricter wins)."""

from __future__ import annotations

import os
import socket
import ssl
import time

import pytest

from guardian.tls.clienthello import NEED_MORE, server_name
from tests.tls.conftest import connect_tunnel, read_all, split_response, trusting_context


def _client_hello(name: str | None) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = ssl.create_default_context()
    if name is None:
        context.check_hostname = False
    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_the_parser_reads_names_and_refuses_the_rest():
    hello = _client_hello("Www.Example.ORG")
    assert server_name(hello) == "www.example.org"
    assert server_name(_client_hello(None)) is None
    assert all(server_name(hello[:cut]) is NEED_MORE for cut in (0, 4, 5, 100, len(hello) - 1))
    assert server_name(b"GET / HTTP/1.1\r\n\r\n") is None
    assert server_name(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00") is None  # a handshake, not a ClientHello
    for _ in range(200):  # garbage never raises
        junk = b"\x16\x03\x01" + os.urandom(300)
        assert server_name(junk) is None or server_name(junk) is NEED_MORE or isinstance(server_name(junk), str)
    t0 = time.perf_counter()
    server_name(b"\x16\x03\x01\x40\x00\x01\x00\xff\xff" + b"\x00" * 16384)  # the largest record, all zeros
    assert time.perf_counter() - t0 < 0.05


def _hello_naming(name: bytes) -> bytes:
    """A ClientHello put together by hand: a client need not use a TLS library that refuses long names."""
    sni = b"\x00" + len(name).to_bytes(2, "big") + name
    extension = b"\x00\x00" + (len(sni) + 2).to_bytes(2, "big") + len(sni).to_bytes(2, "big") + sni
    body = (b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + len(extension).to_bytes(2, "big") + extension)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def test_a_name_longer_than_any_dns_name_is_no_name():
    assert server_name(_hello_naming(b"www.example.org")) == "www.example.org"
    assert server_name(_hello_naming(b"a" * 253)) == "a" * 253
    assert server_name(_hello_naming(b"a" * 254)) is None  # nothing keyed on hosts holds a longer one


def test_an_allowed_connect_naming_a_blocked_site_inside_gets_the_block_page(tls_proxy, echo_server, ca_file):
    proxy = tls_proxy(connect_ports=(echo_server.port,))
    proxy.ctx.resolver = lambda host, port: [(socket.AF_INET, ("127.0.0.1", port))]
    sock = connect_tunnel(proxy.port, f"allowed.invalid:{echo_server.port}")
    with trusting_context(ca_file).wrap_socket(sock, server_hostname="blocked.invalid") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: blocked.invalid\r\nSec-Fetch-Dest: document\r\n\r\n")
        status, _, body = split_response(read_all(tls))
    assert status == 403 and b"A parent blocked this site" in body
    assert echo_server.received == b""  # not one byte of the handshake went to the allowed site
    record = proxy.recorder.wait_for(1)[0]
    assert record.action == "blocked" and "named blocked.invalid inside" in record.reason


def test_tunnels_with_the_same_or_no_name_or_no_tls_are_relayed(tls_proxy, echo_server):
    proxy = tls_proxy(connect_ports=(echo_server.port,))
    proxy.ctx.resolver = lambda host, port: [(socket.AF_INET, ("127.0.0.1", port))]
    for first in (_client_hello("allowed.invalid"), _client_hello(None), b"plain bytes"):
        sock = connect_tunnel(proxy.port, f"allowed.invalid:{echo_server.port}")
        sock.sendall(first)
        echoed = b""
        while len(echoed) < len(first):
            echoed += sock.recv(65536)
        assert echoed == first
        sock.close()
    # a client that waits for the server to speak first is relayed after a short wait
    sock = connect_tunnel(proxy.port, f"allowed.invalid:{echo_server.port}")
    time.sleep(1.2)
    sock.sendall(b"late")
    assert sock.recv(100) == b"late"


def test_a_protocol_where_the_server_speaks_first_is_relayed_without_waiting(tls_proxy, monkeypatch):
    # In TLS the client speaks first; a server that greets first (mail, chat) is another
    # protocol, so the tunnel must not wait for a ClientHello that will never come.
    monkeypatch.setattr("guardian.tls.intercept.SNI_WAIT", 30.0)
    greeter = socket.create_server(("127.0.0.1", 0))
    port = greeter.getsockname()[1]

    def greet() -> None:
        conn, _ = greeter.accept()
        with conn:
            conn.sendall(b"220 mail.example ESMTP ready\r\n")
            conn.recv(100)

    import threading

    threading.Thread(target=greet, daemon=True).start()
    proxy = tls_proxy(connect_ports=(port,))
    proxy.ctx.resolver = lambda host, port: [(socket.AF_INET, ("127.0.0.1", port))]
    sock = connect_tunnel(proxy.port, f"mail.example:{port}", timeout=5.0)
    assert sock.recv(100) == b"220 mail.example ESMTP ready\r\n"  # well before the 30 s wait
    sock.close()
    greeter.close()
