"""Which devices trust Guardian's certificate, as their handshakes have shown.

A device that completes a TLS handshake with a Guardian-made certificate trusts the CA;
one that aborts it with an unknown-CA or bad-certificate alert does not. The service
notes every such handshake in memory and writes `<data_dir>/tls/trust.json` whenever a
device's answer changes (a first handshake, or a device that starts or stops trusting),
so the settings page, a separate thread with no reach into the proxy, can show it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from guardian.fsutil import atomic_write_text

log = logging.getLogger(__name__)
MAX_DEVICES = 4096  # addresses remembered; the oldest answer goes first


class TrustRecords:
    """Per device address: did its last handshake with a Guardian certificate succeed?"""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[bool, float]] = read_trust_file(path) if path is not None else {}

    def note(self, client_ip: str, trusted: bool) -> None:
        with self._lock:
            before = self._seen.get(client_ip)
            self._seen[client_ip] = (trusted, time.time())
            changed = before is None or before[0] != trusted
            if changed and len(self._seen) > MAX_DEVICES:
                oldest = min(self._seen, key=lambda ip: self._seen[ip][1])
                del self._seen[oldest]
            snapshot = dict(self._seen) if changed else None
        if snapshot is not None and self.path is not None:
            try:
                atomic_write_text(self.path, json.dumps({ip: list(v) for ip, v in snapshot.items()}), mode=0o600)
            except OSError as exc:
                log.warning("cannot write %s: %s", self.path, exc)

    def status(self, client_ip: str) -> tuple[bool, float] | None:
        with self._lock:
            return self._seen.get(client_ip)


def read_trust_file(path: Path) -> dict[str, tuple[bool, float]]:
    """The stored answers; empty when there is no file or it cannot be read."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    result = {}
    for ip, value in raw.items():
        if isinstance(ip, str) and isinstance(value, list) and len(value) == 2 and isinstance(value[0], bool) \
                and isinstance(value[1], int | float):
            result[ip] = (value[0], float(value[1]))
    return result
