"""A process killed with SIGKILL in the middle of writing leaves a good database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from guardian.logstore import LogStore

# Numbers its records 0, 1, 2, ... in `port` and writes without pause until killed.
_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from guardian.logstore import LogStore
    from guardian.records import RequestRecord

    store = LogStore(Path(sys.argv[1]), batch_size=50, flush_interval=0.01)
    n = 0
    while True:
        store.record(RequestRecord(started=time.time(), duration_ms=1.0, client_addr="10.0.0.9",
                                   method="GET", scheme="http", host="crash.example", port=n,
                                   target="/" + "x" * 200, status=200))
        n += 1
        if n % 50 == 0:
            time.sleep(0.002)  # let the writer keep up, so nothing is dropped
""")


def _rows(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT port FROM requests ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # schema not there yet
        return []
    finally:
        conn.close()


def test_sigkill_mid_write_keeps_every_flushed_batch(db_path, clock, wait):
    db_path.parent.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(db_path)])
    try:
        wait(lambda: len(_rows(db_path)) >= 2000, timeout=20)
        seen = len(_rows(db_path))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    ports = [row[0] for row in _rows(db_path)]
    assert len(ports) >= seen  # everything committed before the kill is there
    assert ports == list(range(len(ports)))  # whole batches only: no holes, no torn rows

    with LogStore(db_path, clock=clock) as store:  # opens as it is: nothing set aside
        assert store.queries.search(limit=1).records[0].port == len(ports) - 1
    assert not list(db_path.parent.glob("*.corrupt-*"))
