"""A smoke test through the real proxy core on loopback: the Verdicts are complete answers."""

from __future__ import annotations

from pathlib import Path

from guardian.config import parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.policy.blockpage import TRANSPARENT_GIF
from tests.support.client import RawClient

CONFIG = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[[profiles]]
name = "default"
[[profiles]]
name = "kids"
block = ["blocked.invalid", "/ads/*"]
[[devices]]
name = "Loopback"
match = ["127.0.0.1"]
profile = "kids"
"""


def test_blocked_requests_get_their_answers_before_any_lookup(make_proxy, origin, tmp_path: Path) -> None:
    holder = PolicyHolder(Policy(parse_config(CONFIG.format(data_dir=tmp_path)), {}))
    proxy = make_proxy(decider=holder, connect_ports=(443,))

    # blocked.invalid cannot resolve: an answer proves the decision came first.
    client = RawClient(proxy.port)
    client.send(b"GET http://blocked.invalid/page HTTP/1.1\r\nHost: blocked.invalid\r\n"
                b"Accept: text/html,*/*;q=0.8\r\n\r\n")
    page = client.read_response()
    assert page.status == 403
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert b"http://blocked.invalid/page" in page.body and b"A parent blocked this site" in page.body

    client.send(b"GET http://blocked.invalid/logo.png HTTP/1.1\r\nHost: blocked.invalid\r\n"
                b"Sec-Fetch-Dest: image\r\n\r\n")
    image = client.read_response()
    assert (image.status, image.body) == (200, TRANSPARENT_GIF)
    client.close()

    tunnel = RawClient(proxy.port)
    tunnel.send(b"CONNECT blocked.invalid:443 HTTP/1.1\r\nHost: blocked.invalid:443\r\n\r\n")
    refused = tunnel.read_response()
    assert refused.status == 403 and refused.header("X-Guardian-Block") == "A parent blocked this site"
    tunnel.close()

    allowed = RawClient(proxy.port)
    allowed.send(f"GET {origin.base}/hello HTTP/1.1\r\nHost: {origin.base[7:]}\r\n\r\n".encode())
    assert allowed.read_response().status == 200
    allowed.close()
    records = proxy.recorder.wait_for(4)
    blocked = [r for r in records if r.action == "blocked"]
    assert len(blocked) == 3 and all(r.device == "Loopback" and r.profile == "kids" for r in blocked)
    assert {r.rule for r in blocked} == {"blocked.invalid"}
