"""The whole service: counted use reaches the control socket, rewards apply live, and
stopping writes what was counted."""

from __future__ import annotations

import socket
from pathlib import Path

from guardian import control
from guardian.logstore.usage import UsageStore
from tests.support.household import start_guardian

BODY = """
[[profiles]]
name = "kids"
[[profiles.limits]]
name = "YouTube"
services = ["youtube", "youtube-kids"]
minutes = 45
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.1"]
profile = "kids"
"""


def test_use_through_the_proxy_shows_in_usage_and_a_reward_applies_live(tmp_path: Path, origin) -> None:
    guardian = start_guardian(tmp_path, BODY)
    try:
        guardian.ctx.resolver = lambda host, port: [(socket.AF_INET, ("127.0.0.1", port))]
        port = origin.base.rsplit(":", 1)[1]
        with socket.create_connection(guardian.proxy.address, timeout=5) as sock:
            sock.sendall(f"GET http://www.youtube.com:{port}/hello HTTP/1.1\r\nHost: www.youtube.com\r\n"
                         "Connection: close\r\n\r\n".encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        rows = control.call(guardian.data_dir, "usage", device="Sam's tablet")["rows"]
        assert [(r["limit"], r["used_minutes"], r["left_minutes"]) for r in rows] == [("YouTube", 1, 44)]
        reply = control.call(guardian.data_dir, "usage-add", device="Sam's tablet", service="youtube", minutes=30)
        assert reply["ok"] and reply["rows"][0]["left_minutes"] == 74
        refused = control.call(guardian.data_dir, "usage-add", device="Sam's tablet", service="nope", minutes=30)
        assert not refused["ok"] and "no service" in refused["error"]
    finally:
        guardian.stop()
    store = UsageStore(guardian.data_dir / "usage.db")
    used = store.used(guardian.usage.day_of(guardian.usage.clock())[0])
    store.close()
    assert used == {("device:Sam's tablet", "YouTube"): 1}
