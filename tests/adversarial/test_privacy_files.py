"""Every file honours the privacy level: what `[log] detail` hides is in no file at all.

Requests carrying a secret path (allowed, blocked and malformed, whose error reason
quotes the request line) go through the real proxy into the real access log and the
real SQLite log; then the bytes of every file are searched for what must not be there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian.accesslog import AccessLog, squid_line
from guardian.logstore import LogStore
from guardian.logstore.privacy import without_excerpts
from guardian.proxy.context import FanOutRecorder
from guardian.proxy.hooks import ALLOW, RequestInfo, Verdict
from guardian.records import RequestRecord
from tests.support.client import RawClient

SECRET = "diary-entry-4711"


class BlockGames:
    def decide(self, request: RequestInfo) -> Verdict:
        if request.host == "games.example":
            return Verdict(allowed=False, status=403, body=b"blocked", reason="a parent's rule")
        return ALLOW


def files_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def browse(proxy, origin) -> None:
    for raw in (
        f"GET {origin.base}/{SECRET}?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET http://games.example/{SECRET} HTTP/1.1\r\nHost: games.example\r\n\r\n",
        f"GET {origin.base}/{SECRET}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",  # malformed: the reason quotes it
        f"GET {origin.base}/{SECRET}  HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        client = RawClient(proxy.port)
        client.send(raw.encode("latin-1"))
        client.read_response()
        client.sock.close()
    proxy.recorder.wait_for(4)


@pytest.mark.parametrize("detail", ["host", "none"])
def test_no_file_keeps_what_the_privacy_level_hides(detail, make_proxy, origin, tmp_path):
    data = tmp_path / "data"
    access_log = AccessLog(data / "logs" / "access.log", detail=detail)
    store = LogStore(data / "guardian.db", detail=detail, flush_interval=0.02)
    proxy = make_proxy(decider=BlockGames())
    recorder = proxy.recorder
    proxy.ctx.recorder = FanOutRecorder(recorder, access_log, store)
    browse(proxy, origin)
    access_log.close()
    store.close()

    everything = files_bytes(data)
    assert SECRET.encode() not in everything
    text = (data / "logs" / "access.log").read_text()
    assert len(text.splitlines()) == 4
    if detail == "host":
        assert "http://games.example/ " in text and "TCP_DENIED/403" in text
        assert [r.host for r in store.queries.search().records].count("games.example") == 1
    else:
        assert "127.0.0.1" not in text and "games.example" not in text
        assert b"games.example" not in everything
        assert all(line.split()[2] == "-" and line.split()[6] == "-" for line in text.splitlines())
    assert store.queries.totals(0, 4e9).requests == 4


def test_full_detail_keeps_everything(make_proxy, origin, tmp_path):
    access_log = AccessLog(tmp_path / "access.log")
    store = LogStore(tmp_path / "guardian.db", flush_interval=0.02)
    proxy = make_proxy(decider=BlockGames())
    proxy.ctx.recorder = FanOutRecorder(proxy.recorder, access_log, store)
    browse(proxy, origin)
    access_log.close()
    store.close()
    assert (tmp_path / "access.log").read_text().count(SECRET) == 2
    reasons = [r.reason or "" for r in store.queries.search().records]
    assert sum(SECRET in reason for reason in reasons) == 2  # the malformed lines, quoted


def test_squid_line_at_each_level():
    record = RequestRecord(started=1_700_000_000.0, duration_ms=3, client_addr="192.168.1.23", method="GET",
                           scheme="http", host="example.org", port=8080, target="/private?x=1", status=200,
                           bytes_to_client=10, upstream_addr="93.184.216.34")
    assert " 192.168.1.23 " in squid_line(record) and "http://example.org:8080/private?x=1" in squid_line(record)
    host = squid_line(record, "host")
    assert " http://example.org:8080/ " in host and "private" not in host
    none = squid_line(record, "none")
    assert none.split()[2:] == ["-", "TCP_MISS/200", "10", "GET", "-", "-", "HIER_DIRECT/-", "-"]


def test_reason_excerpts_are_removed_at_host_level():
    assert without_excerpts("malformed request line b'GET http://a/secret HTTP/1.1'") == "malformed request line …"
    assert without_excerpts('invalid host name "x\\"y" here') == "invalid host name … here"
    assert without_excerpts("a parent's rule") == "a parent's rule"  # a lone apostrophe is no excerpt
    assert without_excerpts(None) is None
