"""The Squid-format access log: its lines, size-based rotation, reopening."""

from __future__ import annotations

import time

from guardian.accesslog import AccessLog, squid_line
from guardian.records import RequestRecord


def record(**overrides) -> RequestRecord:
    base = dict(started=1_700_000_000.25, duration_ms=12.4, client_addr="192.168.1.23", method="GET",
                scheme="http", host="example.org", port=80, target="/a b?x=1", status=200,
                bytes_to_client=1234, upstream_addr="93.184.216.34", content_type="text/html; charset=utf-8")
    return RequestRecord(**{**base, **overrides})


def test_squid_native_format():
    assert squid_line(record()) == ("1700000000.250     12 192.168.1.23 TCP_MISS/200 1234 GET "
                                    "http://example.org/a%20b?x=1 - HIER_DIRECT/93.184.216.34 text/html\n")
    blocked = squid_line(record(action="blocked", status=403, upstream_addr=None, content_type=None))
    assert " TCP_DENIED/403 " in blocked and blocked.endswith(" - HIER_NONE/- -\n")
    tunnel = squid_line(record(method="CONNECT", scheme="https", port=443, target=""))
    assert " TCP_TUNNEL/200 " in tunnel and " CONNECT example.org:443 " in tunnel
    assert " TCP_HIT/200 " in squid_line(record(cache="HIT"))


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.05)
    return predicate()


def test_rotates_by_size_and_keeps_n(tmp_path):
    path = tmp_path / "access.log"
    log = AccessLog(path, max_bytes=2000, keep=2)
    try:
        for round_ in range(4):
            for _ in range(20):
                log.record(record())
            assert wait_for(lambda r=round_: (tmp_path / "access.log.1").exists() if r == 0 else True)
            time.sleep(AccessLog.FLUSH_SECONDS * 2)
    finally:
        log.close()
    assert (tmp_path / "access.log.1").exists() and (tmp_path / "access.log.2").exists()
    assert not (tmp_path / "access.log.3").exists()
    for name in ("access.log.1", "access.log.2"):
        assert (tmp_path / name).read_text().count("\n") >= 15


def test_reopen_follows_an_external_rotation(tmp_path):
    path = tmp_path / "access.log"
    log = AccessLog(path)
    try:
        log.record(record(target="/first"))
        assert wait_for(lambda: path.exists() and "/first" in path.read_text())
        path.rename(tmp_path / "moved.log")
        log.reopen()
        time.sleep(AccessLog.FLUSH_SECONDS * 2)
        log.record(record(target="/second"))
        assert wait_for(lambda: path.exists() and "/second" in path.read_text())
    finally:
        log.close()
    assert "/second" not in (tmp_path / "moved.log").read_text()


def test_a_failed_rotation_does_not_stop_the_log(tmp_path):
    path = tmp_path / "access.log"
    # A directory where the rotated file must go: os.replace fails every time.
    (tmp_path / "access.log.1").mkdir()
    (tmp_path / "access.log.1" / "keep").write_text("x")
    log = AccessLog(path, max_bytes=500, keep=1)
    try:
        for _ in range(10):
            log.record(record())
        assert wait_for(lambda: path.exists() and path.read_text().count("\n") == 10)
        # the writer thread survived the failed rotation and still writes
        log.record(record(target="/after"))
        assert wait_for(lambda: "/after" in path.read_text())
        assert log._writer.is_alive()
    finally:
        log.close()


def test_dropped_lines_are_counted_exactly_from_many_threads(tmp_path):
    import sys
    import threading

    log = AccessLog(tmp_path / "access.log", max_pending=0)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: lost updates show
    try:
        def flood():
            for _ in range(10000):
                log.record(record())

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
        log.close()
    assert log.dropped == 4 * 10000
