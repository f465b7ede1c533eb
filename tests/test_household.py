"""The household appliance end to end: a real Guardian on loopback, a real origin, real clients.

Policy and lists meet the proxy core here: block pages by request type, CONNECT blocked
and allowed, a bedtime that applies to one device only, the request log filled through
the proxy, and a list refresh under a steady stream of requests.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from guardian.policy.blockpage import TRANSPARENT_GIF
from tests.support.client import RawClient
from tests.support.household import source_bound_client, start_guardian

LISTS = '''
[[lists]]
id = "house"
name = "House list"
url = "{list_path}"
format = "abp"

[[profiles]]
name = "default"
lists = ["house"]
block = ["||parents-block.example^"]

[[profiles]]
name = "kids"
lists = ["house"]
{kids_extra}

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
'''


@pytest.fixture
def household(tmp_path, origin):
    started = []

    def start(list_rules: str = "||ads.example^\n/banner/*\n", kids_extra: str = ""):
        list_path = tmp_path / "house.txt"
        list_path.write_text(list_rules)
        guardian = start_guardian(tmp_path, LISTS.format(list_path=list_path, kids_extra=kids_extra))
        started.append(guardian)
        return guardian

    yield start
    for guardian in started:
        guardian.stop()


def proxy_port(guardian) -> int:
    return guardian.proxy.address[1]


def request(guardian, raw: str, source: str = "127.0.0.1", head: bool = False):
    sock = source_bound_client(proxy_port(guardian), source)
    client = RawClient.__new__(RawClient)
    client.sock, client.buf = sock, b""
    client.send(raw.encode())
    return client.read_response(head_request=head)


def test_blocked_page_gets_the_block_page(household, origin):
    guardian = household()
    r = request(guardian, f"GET {origin.base}/banner/top HTTP/1.1\r\nHost: x\r\nSec-Fetch-Dest: document\r\n"
                          "Accept: text/html\r\n\r\n")
    assert r.status == 403
    assert r.header("content-type").startswith("text/html")
    assert r.header("cache-control") == "no-store"
    assert b"House list" in r.body
    assert b"/banner/top" in r.body
    assert bytes(origin.stats.raw) == b""  # decided before any connection


def test_blocked_image_gets_a_transparent_gif(household, origin):
    guardian = household()
    r = request(guardian, f"GET {origin.base}/banner/x.png HTTP/1.1\r\nHost: x\r\nSec-Fetch-Dest: image\r\n\r\n")
    assert r.header("content-type") == "image/gif"
    assert r.body == TRANSPARENT_GIF


def test_parents_rule_blocks_and_the_rest_is_allowed(household, origin):
    guardian = household()
    r = request(guardian, "GET http://parents-block.example/ HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n")
    assert r.status == 403
    assert request(guardian, f"GET {origin.base}/fine HTTP/1.1\r\nHost: x\r\n\r\n").body == b"hello /fine"


def test_blocked_connect_gets_the_block_page_in_tls_and_allowed_is_tunnelled(household, echo_server):
    guardian = household(list_rules="||ads.example^\n||127.0.0.9^\n", kids_extra="https_block_page = false")
    # the default profile: Guardian answers inside TLS with the certificate it made on first start
    sock = source_bound_client(proxy_port(guardian), "127.0.0.1")
    sock.sendall(b"CONNECT ads.example:443 HTTP/1.1\r\nHost: ads.example:443\r\n\r\n")
    assert sock.recv(4096) == b"HTTP/1.1 200 Connection established\r\n\r\n"
    context = ssl.create_default_context(cafile=str(guardian.data_dir / "tls" / "ca.crt"))
    with context.wrap_socket(sock, server_hostname="ads.example") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: ads.example\r\nSec-Fetch-Dest: document\r\n\r\n")
        page = b""
        while chunk := tls.recv(65536):
            page += chunk
    assert page.startswith(b"HTTP/1.1 403 ") and b"House list" in page and b"https://ads.example/" in page
    # a profile without the HTTPS block page: a plain refusal, as before
    c = RawClient.__new__(RawClient)
    c.sock, c.buf = source_bound_client(proxy_port(guardian), "127.0.0.2"), b""
    c.send(b"CONNECT ads.example:443 HTTP/1.1\r\nHost: ads.example:443\r\n\r\n")
    r = c.read_response()
    assert r.status == 403
    assert "House list" in (r.header("x-guardian-block") or "")
    c = RawClient(proxy_port(guardian))
    c.send(f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c._until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    c.send(b"tunnelled")
    assert c._exact(9) == b"tunnelled"


def test_bedtime_blocks_everything_for_that_device_only(household, origin):
    now = datetime.now(ZoneInfo("Europe/London"))
    # a window around now (overnight near midnight, which schedules allow)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    guardian = household(kids_extra=f'''
[[profiles.schedules]]
name = "bedtime"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
from = "{start}"
to = "{end}"
block = "all"
''')
    url = f"GET {origin.base}/homework HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n"
    kid = request(guardian, url, source="127.0.0.2")
    assert kid.status == 403
    assert b"Bedtime" in kid.body
    assert b"Sam&#x27;s tablet" in kid.body or b"Sam's tablet" in kid.body
    parent = request(guardian, url, source="127.0.0.1")
    assert parent.status == 200


def test_records_reach_the_log_store_through_the_proxy(household, origin):
    guardian = household()
    request(guardian, f"GET {origin.base}/logged HTTP/1.1\r\nHost: x\r\n\r\n")
    request(guardian, "GET http://ads.example/x HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.2")
    deadline = time.monotonic() + 10
    page = None
    while time.monotonic() < deadline:
        page = guardian.log_queries.search(since=time.time() - 60)
        if len(page.records) >= 2:
            break
        time.sleep(0.2)
    rows = {r.host: r for r in page.records}
    assert rows["127.0.0.1"].action == "allowed" and rows["127.0.0.1"].status == 200
    blocked = rows["ads.example"]
    assert blocked.action == "blocked"
    assert blocked.device == "Sam's tablet" and blocked.profile == "kids"
    assert blocked.rule == "||ads.example^" and blocked.list_id == "house"


class _ListServer(BaseHTTPRequestHandler):
    text = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.text)))
        self.end_headers()
        self.wfile.write(self.text)

    def log_message(self, *args):
        pass


def test_list_refresh_under_load_fails_no_request(household, origin, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ListServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rules = "".join(f"||filler{i}.example^\n" for i in range(2000))
    _ListServer.text = ("[Adblock Plus 2.0]\n" + rules).encode()
    guardian = household()
    remote = tmp_path / "remote.toml"
    remote.write_text(f'''
[[lists]]
id = "remote"
url = "http://127.0.0.1:{server.server_address[1]}/list.txt"
format = "abp"
''')
    # subscribe the default profile through the same path the settings page uses
    def mutate(doc):
        from guardian.config_edit import add_list, add_list_to_profile

        add_list(doc, "remote", f"http://127.0.0.1:{server.server_address[1]}/list.txt", format="abp")
        add_list_to_profile(doc, "remote", "default")

    guardian.apply_config_edit(mutate)
    assert guardian.refresh_lists(["remote"]).changed
    _ListServer.text = ("[Adblock Plus 2.0]\n" + rules + "||newly-blocked.example^\n").encode()

    failures, done = [], threading.Event()

    def steady_stream():
        try:
            c = RawClient(proxy_port(guardian))
            i = 0
            while not done.is_set():
                c.send(f"GET {origin.base}/s{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                r = c.read_response()
                if r.status != 200:
                    failures.append(r.status)
                i += 1
        except Exception as exc:  # a close without an answer, a reset, a timeout: failed too, not a silent end
            failures.append(repr(exc))

    threads = [threading.Thread(target=steady_stream) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    summary = guardian.refresh_lists(["remote"])
    time.sleep(0.3)
    done.set()
    for t in threads:
        t.join(10)
    server.shutdown()
    assert not any(t.is_alive() for t in threads)
    assert summary.changed
    assert failures == []
    r = request(guardian, "GET http://newly-blocked.example/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 403


SAFE = '''
[[profiles]]
name = "default"
safe_search = true
youtube = "strict"
'''


def test_safe_search_connects_to_the_vendors_safe_address(tmp_path, origin, echo_server):
    """A resolver we control: the search host's own address has nothing behind it, the safe
    address is the loopback origin (plain HTTP) or the echo server (CONNECT)."""
    guardian = start_guardian(tmp_path, SAFE)
    asked = []

    def resolver(host: str, port: int):
        asked.append(host)
        if host == "forcesafesearch.google.com":
            return [(socket.AF_INET, ("127.0.0.1", origin.port if port == 80 else echo_server.port))]
        if host == "restrict.youtube.com":
            return [(socket.AF_INET, ("127.0.0.1", echo_server.port))]
        return [(socket.AF_INET, ("127.0.0.1", 9))]  # the real search host: nothing listens there

    guardian.ctx.resolver = resolver
    try:
        r = request(guardian, "GET http://www.google.com/search?q=cats HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        seen = origin.stats.requests[-1]
        assert seen.header("host") == "www.google.com"  # the name the browser asked for is kept
        assert "safe=active" in seen.target and "q=cats" in seen.target
        for name in ("www.google.com", "www.youtube.com"):
            c = RawClient(proxy_port(guardian))
            c.send(f"CONNECT {name}:443 HTTP/1.1\r\nHost: {name}:443\r\n\r\n".encode())
            assert c._until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
            c.send(b"hello")
            assert c._exact(5) == b"hello"
            c.close()  # an open tunnel would hold the stop for its whole grace period
        assert "www.google.com" not in asked and "www.youtube.com" not in asked
    finally:
        guardian.stop()
