"""The access log: one line per request or tunnel in Squid's native format.

    time.ms elapsed client code/status bytes method URL ident hierarchy/peer type

Records are queued by the request path and formatted and written by one thread, so the
proxy never waits on the disk (a full queue drops lines and counts them). The file rotates by size
(`access.log.1` ... `.N`), and `reopen()` (SIGUSR1) lets an external logrotate take over.

The privacy level (`[log] detail`) holds here as in the request log: at "host" the URL
loses its path and query; at "none" a line keeps only time, status, bytes, method and
type (no client address, URL or origin address).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import ClassVar

from guardian.fsutil import open_private_append, private_dir
from guardian.records import RequestRecord

log = logging.getLogger(__name__)


def squid_line(record: RequestRecord, detail: str = "full") -> str:
    if record.action == "blocked" or record.status == 403:
        code = "TCP_DENIED"
    elif record.method == "CONNECT":
        code = "TCP_TUNNEL"
    elif record.cache == "HIT":
        code = "TCP_HIT"
    elif record.cache == "REVALIDATED":
        code = "TCP_REFRESH_UNMODIFIED"
    elif record.action == "error":
        code = "TAG_NONE" if record.status == 0 else "TCP_MISS"
    else:
        code = "TCP_MISS"
    hidden = detail == "none"
    if hidden or not record.host:
        url = "-"
    elif record.method == "CONNECT":
        url = f"{record.host}:{record.port}"
    else:
        host = f"[{record.host}]" if ":" in record.host else record.host
        port = "" if record.port == 80 else f":{record.port}"
        url = f"{record.scheme}://{host}{port}{record.target if detail == 'full' else '/'}"
    if record.upstream_addr:
        hierarchy = "HIER_DIRECT/-" if hidden else f"HIER_DIRECT/{record.upstream_addr}"
    else:
        hierarchy = "HIER_NONE/-"
    client = "-" if hidden else record.client_addr
    content_type = (record.content_type or "-").split(";", 1)[0].strip() or "-"
    # %-formatting: about 0.1 µs (a tenth) cheaper per line than the same f-string.
    return "%.3f %6d %s %s/%03d %d %s %s - %s %s\n" % (  # noqa: UP031 -- measured cheaper
        record.started, round(record.duration_ms), client, code, record.status, record.bytes_to_client,
        record.method, url.replace(" ", "%20"), hierarchy, content_type)


class AccessLog:
    # The writer wakes on a timer rather than per record: waking a thread for every
    # request costs the proxy a GIL hand-off each time. Ten times a second when idle; fifty
    # while lines come. Formatting holds the GIL, and a tenth of a second's lines at full
    # speed (about 1,400) held it for 1.7 ms at a time, which every request waiting then
    # waited out: the core's p99 on one core went from a median of 6.95 to 5.4 ms, its
    # requests per second the same within the noise (docs/benchmarks.md). Records waiting
    # also scatter Python's memory: at 0.5 s a 5 s burst left about 5 MiB more resident
    # (bench/memory.py).
    FLUSH_SECONDS: ClassVar[float] = 0.1  # ClassVar: compiled, a plain one is an instance default
    BUSY_FLUSH_SECONDS: ClassVar[float] = 0.02

    def __init__(self, path: Path, max_bytes: int = 16 * 2**20, keep: int = 4, max_pending: int = 50000,
                 detail: str = "full") -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self.max_pending = max_pending
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self.detail = detail  # the privacy level; applied when a record is queued
        self._pending: collections.deque[tuple[RequestRecord, str]] = collections.deque()
        self._reopen = threading.Event()
        self._stop = threading.Event()
        private_dir(self.path.parent)
        self._file = open_private_append(self.path)  # owned by the writer thread
        self._writer = threading.Thread(target=self._write_loop, name="access-log", daemon=True)
        self._writer.start()

    @property
    def dropped(self) -> int:
        """Lines dropped because the queue was full."""
        return self._dropped

    def count_dropped(self, n: int) -> None:
        """Lines lost before they reached this log (a worker process's full queue)."""
        with self._dropped_lock:
            self._dropped += n

    def record(self, record: RequestRecord) -> None:
        if len(self._pending) >= self.max_pending:
            with self._dropped_lock:  # many request threads count at once
                self._dropped += 1
            return
        self._pending.append((record, self.detail))

    def reopen(self) -> None:
        self._reopen.set()

    def close(self) -> None:
        self._stop.set()
        self._writer.join(5)

    def _write_loop(self) -> None:
        wait = self.FLUSH_SECONDS
        while True:
            stopping = self._stop.wait(wait)
            lines = []
            with contextlib.suppress(IndexError):
                while True:
                    lines.append(squid_line(*self._pending.popleft()))
            wait = self.BUSY_FLUSH_SECONDS if lines else self.FLUSH_SECONDS
            try:
                if self._reopen.is_set():
                    self._reopen.clear()
                    # opened before the old one is closed: a failure leaves the writer a file
                    new = open_private_append(self.path)
                    self._file.close()
                    self._file = new
                if lines:
                    self._file.write("".join(lines))
                    self._file.flush()
                if self.max_bytes and self._file.tell() >= self.max_bytes:
                    self._rotate()
            except OSError:
                log.exception("cannot write the access log %s", self.path)
            if stopping:
                self._file.close()
                return

    def _rotate(self) -> None:
        """Rename the files, then reopen. The writer always ends with an open file: when a
        rename fails (a full or read-only disk, a directory in the way) the log goes on
        in the file it had, and rotation is tried again after the next write."""
        try:
            if self.keep == 0:
                os.truncate(self.path, 0)
            else:
                for n in range(self.keep - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{n}")
                    if older.exists():
                        os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        finally:
            self._file.close()
            self._file = open_private_append(self.path)  # owned by the writer thread
