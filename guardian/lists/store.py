"""The stored copies of subscribed lists: `<data_dir>/lists/<id>.txt` and `<id>.json`.

Strategy: the `.txt` file is always the last good copy, exactly the bytes that passed
validation; it is replaced only by another copy that passed. The `.json` file beside it
says where the copy came from and what happened at the last attempt. Both are written
with `fsutil.atomic_write_bytes` (temporary file, fsync, rename, fsync the directory), the
list first: a power cut between the two leaves a new list with old metadata, which the
refresh notices by its SHA-256 and heals by downloading unconditionally once. Temporary
files left by a cut are removed when the store is opened.

The filter engine keeps `<id>.compact` beside a list: its compact host table
(guardian/filters/compact.py), rebuilt whenever the list file changes.

Files whose names start with `_` are the store's own (list ids cannot start with one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guardian.filters.compact import table_path
from guardian.fsutil import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

OK = "ok"
UNCHANGED = "unchanged"
FAILED_KEPT = "failed, using the last good copy"
FAILED_NONE = "failed, no copy yet"
_TIME_FIELDS = ("fetched_at", "checked_at", "confirmed_at")


@dataclass(slots=True)
class ListMeta:
    id: str
    url: str
    status: str = FAILED_NONE
    error: str | None = None  # the last attempt's failure, in words; None when it worked
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: datetime | None = None  # when the stored copy was downloaded
    checked_at: datetime | None = None  # the last attempt, whatever its outcome
    confirmed_at: datetime | None = None  # the last time the server vouched for the copy (200 or 304)
    size: int = 0
    sha256: str = ""
    format: str = ""  # the format the copy parsed as ("auto" resolved)
    rules: int = 0
    errors: int = 0  # lines dropped as invalid
    kinds: dict[str, int] = field(default_factory=dict)  # rules by kind, from the parse report
    refused: dict[str, int] = field(default_factory=dict)  # reason -> rules refused as unsafe
    expires_seconds: int | None = None  # the list's `! Expires:` as seconds
    memory_bytes: int = 0  # the engine's memory for the stored copy, about (compact.estimated_bytes)

    def to_json(self) -> str:
        plain: dict[str, Any] = asdict(self)
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            plain[name] = value.isoformat() if value else None
        return json.dumps(plain, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ListMeta:
        plain = json.loads(text)
        known = {f.name for f in fields(cls)}
        plain = {key: value for key, value in plain.items() if key in known}
        for name in _TIME_FIELDS:
            if plain.get(name):
                plain[name] = datetime.fromisoformat(plain[name])
        return cls(**plain)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


class ListStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._clean_temporaries()

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> ListStore:
        return cls(Path(data_dir) / "lists")

    def text_path(self, list_id: str) -> Path:
        return self.root / f"{list_id}.txt"

    def meta_path(self, list_id: str) -> Path:
        return self.root / f"{list_id}.json"

    @contextlib.contextmanager
    def lock(self, list_id: str) -> Iterator[None]:
        """Serialise refreshes of one list in this process (a manual update racing the nightly one)."""
        with self._locks_guard:
            lock = self._locks.setdefault(list_id, threading.Lock())
        with lock:
            yield

    def has_copy(self, list_id: str) -> bool:
        return self.text_path(list_id).is_file()

    def read_bytes(self, list_id: str) -> bytes | None:
        try:
            return self.text_path(list_id).read_bytes()
        except FileNotFoundError:
            return None

    def read_text(self, list_id: str) -> str | None:
        data = self.read_bytes(list_id)
        return None if data is None else decode(data)

    def load_meta(self, list_id: str) -> ListMeta | None:
        try:
            return ListMeta.from_json(self.meta_path(list_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            # Unreadable metadata must not hide the copy: start over as if never fetched.
            log.warning("list %s: ignoring unreadable metadata: %s", list_id, exc)
            return None

    def save_copy(self, meta: ListMeta, data: bytes) -> None:
        """Replace the stored copy, then its metadata (see the module docstring for the order)."""
        atomic_write_bytes(self.text_path(meta.id), data)
        self.save_meta(meta)

    def save_meta(self, meta: ListMeta) -> None:
        atomic_write_text(self.meta_path(meta.id), meta.to_json())

    def remove(self, list_id: str) -> bool:
        removed = False
        for path in (self.text_path(list_id), self.meta_path(list_id), table_path(self.text_path(list_id))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = True
        return removed

    def _clean_temporaries(self) -> None:
        # fsutil names its temporaries `.NAME.*.tmp`; one left here was cut off mid-write.
        if self.root.is_dir():
            for stray in self.root.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    stray.unlink()


def decode(data: bytes) -> str:
    """Lists are UTF-8 in practice; a stray byte in a comment must not reject the whole list."""
    return data.decode("utf-8-sig", errors="replace")
