"""Pauses and allowances: temporary exceptions a parent grants, kept in the data dir.

A *pause* turns blocking off for a profile or a device for N minutes; an *allowance*
lets one host (and its subdomains) through for a profile or a device for N minutes
("30 more minutes of YouTube"). Both are entries with an expiry in
`<data_dir>/pauses.json`:

    {"version": 1, "entries": [
      {"id": "3fa9c1d2", "kind": "pause" | "allow", "scope": "profile" | "device",
       "name": "kids", "host": null | "youtube.com",
       "created": "2026-12-01T20:00:00+00:00", "expires": "2026-12-01T20:30:00+00:00"}]}

Strategy: an entry ends by itself because every lookup compares its expiry with the
time asked about; expired entries are dropped from the file at the next write. The
running server and the command line may both change the file, so each change is a
read-modify-write under an advisory lock (`pauses.json.lock`) that re-reads the file
first, and the write is atomic (fsutil). The request path never takes a lock nor
touches the file: it reads an immutable index swapped in whole. This process's own
changes install a new index at once; another process's (the command line's) are picked
up by `refresh()`, which the service's scheduler calls every second: it stats the file
and re-reads it when its mtime, inode or size changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from guardian.fsutil import atomic_write_text

from .parent_rules import is_public_suffix

log = logging.getLogger(__name__)

PAUSES_FILE = "pauses.json"
Kind = Literal["pause", "allow", "end"]  # "end": a schedule ended early; `host` holds its name
Scope = Literal["profile", "device"]


@dataclass(frozen=True, slots=True)
class Pause:
    id: str
    kind: Kind
    scope: Scope
    name: str  # the profile's or the device's name
    host: str | None  # allowances only
    created: float  # Unix time
    expires: float

    def to_plain(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["created"] = _iso(self.created)
        plain["expires"] = _iso(self.expires)
        return plain

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> Pause:
        kind, scope = plain["kind"], plain["scope"]
        if kind not in ("pause", "allow", "end") or scope not in ("profile", "device"):
            raise ValueError(f"unknown kind or scope: {kind!r}, {scope!r}")
        return cls(
            id=str(plain["id"]), kind=kind, scope=scope, name=str(plain["name"]),
            host=str(plain["host"]) if plain.get("host") else None,
            created=datetime.fromisoformat(plain["created"]).timestamp(),
            expires=datetime.fromisoformat(plain["expires"]).timestamp(),
        )

    def describe(self, zone: Any) -> str:
        """In words, with the end in local time: 'youtube.com is allowed for the device
        Sam's tablet until 17:00'."""
        until = datetime.fromtimestamp(self.expires, zone).strftime("%H:%M")
        who = f"the {self.scope} {self.name}"
        if self.kind == "pause":
            return f"Filtering is paused for {who} until {until}"
        if self.kind == "end":
            return f"{self.host} is over for {who} until {until}"
        return f"{self.host} is allowed for {who} until {until}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def normalise_host(text: str) -> str:
    """'https://WWW.YouTube.com/watch' -> 'www.youtube.com'; a host as given otherwise."""
    host = text.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].split("?", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.strip(".")
    if not host.isascii():
        with contextlib.suppress(UnicodeError):  # the form browsers send, as parents' rules are read
            host = host.encode("idna").decode("ascii")
    return host


class _Index:
    """What the request path looks at: the latest pause and the allowances per target."""

    __slots__ = ("allows", "ended", "pauses")

    def __init__(self, entries: list[Pause]) -> None:
        self.pauses: dict[tuple[str, str], Pause] = {}
        self.allows: dict[tuple[str, str], dict[str, Pause]] = {}
        self.ended: dict[tuple[str, str, str], float] = {}  # (scope, name, schedule) -> until
        for entry in entries:
            key = (entry.scope, entry.name)
            if entry.kind == "pause":
                if key not in self.pauses or self.pauses[key].expires < entry.expires:
                    self.pauses[key] = entry
            elif entry.kind == "end":
                assert entry.host is not None
                schedule_key = (entry.scope, entry.name, entry.host)
                self.ended[schedule_key] = max(self.ended.get(schedule_key, 0.0), entry.expires)
            else:
                hosts = self.allows.setdefault(key, {})
                assert entry.host is not None
                if entry.host not in hosts or hosts[entry.host].expires < entry.expires:
                    hosts[entry.host] = entry


class PauseStore:
    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: list[Pause] = []
        self._index: _Index | None = None  # None: nothing granted, the common case
        self._signature: tuple[int, int, int] | None = None
        with self._lock:
            self._reload(force=True)

    @classmethod
    def for_data_dir(cls, data_dir: Path, **kwargs: Any) -> PauseStore:
        return cls(Path(data_dir) / PAUSES_FILE, **kwargs)

    # ------------------------------------------------------------ the request path

    def find(self, profile: str, device: str | None, host: str, now: float) -> Pause | None:
        """The pause or allowance that lets this request through at `now`, if any.
        A device's own entries are looked at before its profile's. Request path: reads
        the index in memory only."""
        index = self._index
        if index is None:
            return None
        keys = (("device", device), ("profile", profile)) if device is not None else (("profile", profile),)
        pauses = index.pauses
        for key in keys:
            entry = pauses.get(key)
            if entry is not None and entry.expires > now:
                return entry
        if index.allows:
            for key in keys:
                hosts = index.allows.get(key)
                if hosts is None:
                    continue
                name = host
                while True:
                    entry = hosts.get(name)
                    if entry is not None and entry.expires > now:
                        return entry
                    dot = name.find(".")
                    if dot < 0:
                        break
                    name = name[dot + 1 :]
        return None

    def schedule_ended(self, profile: str, device: str | None, schedule: str, now: float) -> bool:
        """True when a parent ended this schedule early ("end bedtime now") and it has not come round again."""
        index = self._index
        if index is None or not index.ended:
            return False
        return (index.ended.get(("profile", profile, schedule), 0.0) > now
                or (device is not None and index.ended.get(("device", device, schedule), 0.0) > now))

    # ------------------------------------------------------------ changes

    def end_schedule(self, profile: str, schedule: str, minutes: float, now: float | None = None) -> Pause:
        """End a running schedule of a profile now, for the `minutes` it had left."""
        return self._add("end", "profile", profile, schedule, minutes, now)

    def add_pause(self, scope: Scope, name: str, minutes: float, now: float | None = None) -> Pause:
        return self._add("pause", scope, name, None, minutes, now)

    def add_allowance(self, scope: Scope, name: str, host: str, minutes: float, now: float | None = None) -> Pause:
        host = normalise_host(host)
        if not host:
            raise ValueError("no host given")
        if is_public_suffix(host):
            raise ValueError(f"{host} is an ending shared by many unrelated sites (every name ending in .{host}); "
                             f"allow one site instead, like example.{host}")
        return self._add("allow", scope, name, host, minutes, now)

    def cancel(self, entry_id: str) -> Pause | None:
        """End an entry now; returns it, or None when no active entry has that id."""
        found: list[Pause] = []

        def change(entries: list[Pause]) -> list[Pause]:
            found.extend(e for e in entries if e.id == entry_id)
            return [e for e in entries if e.id != entry_id]

        self._change(change)
        return found[0] if found else None

    def active(self, now: float | None = None) -> list[Pause]:
        """Entries not yet expired, soonest to end first (the file is re-read first)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._reload(force=False)
            return sorted((e for e in self._entries if e.expires > now), key=lambda e: e.expires)

    def _add(self, kind: Kind, scope: Scope, name: str, host: str | None, minutes: float,
             now: float | None) -> Pause:
        if scope not in ("profile", "device"):
            raise ValueError(f"scope must be 'profile' or 'device', not {scope!r}")
        if not 0 < minutes <= 7 * 24 * 60:
            raise ValueError("minutes must be more than 0 and at most a week (10080)")
        start = self._clock() if now is None else now
        entry = Pause(secrets.token_hex(4), kind, scope, name, host, start, start + minutes * 60)
        self._change(lambda entries: [*entries, entry])
        return entry

    def _change(self, change: Callable[[list[Pause]], list[Pause]]) -> None:
        with self._lock, self._file_lock():
            self._reload(force=True)  # another process may have written since we last looked
            now = self._clock()
            entries = change([e for e in self._entries if e.expires > now])
            text = json.dumps({"version": 1, "entries": [e.to_plain() for e in entries]}, indent=2) + "\n"
            atomic_write_text(self.path, text)
            self._install(entries, self._stat())

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # ------------------------------------------------------------ reading the file

    def refresh(self) -> None:
        """Scheduler: pick up changes another process made to the file."""
        with self._lock:
            self._reload(force=False)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _reload(self, force: bool) -> None:
        signature = self._stat()
        if not force and signature == self._signature:
            return
        entries: list[Pause] = []
        if signature is not None:
            try:
                plain = json.loads(self.path.read_text(encoding="utf-8"))
                entries = [Pause.from_plain(item) for item in plain["entries"]]
            except FileNotFoundError:
                signature = None
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # A damaged file must not stop the proxy; the next write replaces it.
                log.warning("%s: unreadable, ignoring pauses and allowances: %s", self.path, exc)
        self._install(entries, signature)

    def _install(self, entries: list[Pause], signature: tuple[int, int, int] | None) -> None:
        self._entries = entries
        self._index = _Index(entries) if entries else None
        self._signature = signature
