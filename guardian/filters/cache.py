"""The built index on disk, so a restart loads in milliseconds instead of parsing lists.

The file name carries a hash of the lists' names, formats and texts plus the format
version, so changed lists simply miss. The file holds a checksum of its payload: a torn or
tampered file fails the check and is rebuilt, never trusted. marshal is used rather than
pickle because the index is only tuples, dicts, strs and ints, which marshal loads
fastest, and because loading marshal data cannot run code.
"""

from __future__ import annotations

import hashlib
import marshal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guardian.fsutil import atomic_writer

from .compact import ListFile

FORMAT_VERSION = 2
_MAGIC = b"GUARDIAN-FILTERS\x00"
_DIGEST_SIZE = 32
_PREFIX = "filters-"
_STALE_AFTER_S = 14 * 24 * 3600


def lists_key(lists: Mapping[str, str | ListFile], formats: Mapping[str, str]) -> str:
    """A hash of everything the built index depends on. A list file stands for itself by
    its path and identity (the store replaces a list by rename, never in place): hashing
    millions of lines on every start would cost more than the start should."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}".encode())
    for name, source in lists.items():
        text = source if isinstance(source, str) else (
            f"file\x00{source.path}\x00{source.size}\x00{source.mtime_ns}\x00{source.inode}")
        for part in (name, formats.get(name, "auto"), text):
            encoded = part.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "big"))
            digest.update(encoded)
    return digest.hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{_PREFIX}{key[:40]}.marshal"


def read_cache(path: Path) -> Any | None:
    """The cached payload, or None if the file is missing, torn, or not ours."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 1
    if len(data) < head + _DIGEST_SIZE or not data.startswith(_MAGIC) or data[len(_MAGIC)] != FORMAT_VERSION:
        return None
    checksum = data[head : head + _DIGEST_SIZE]
    payload = memoryview(data)[head + _DIGEST_SIZE :]
    if hashlib.blake2b(payload, digest_size=_DIGEST_SIZE).digest() != checksum:
        return None
    try:
        return marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None


def write_cache(path: Path, payload: Any) -> None:
    """Write atomically (temp file, fsync, rename) and drop cache files long unused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = marshal.dumps(payload)
    checksum = hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest()
    with atomic_writer(path) as out:
        out.write(_MAGIC + bytes([FORMAT_VERSION]) + checksum)
        out.write(body)
    _prune(path)


def _prune(keep: Path) -> None:
    # Lists refresh daily, and each refresh leaves a file under a new key. Other engines
    # (other profiles' lists) may share the directory, so only old files go.
    cutoff = time.time() - _STALE_AFTER_S
    for old in keep.parent.glob(f"{_PREFIX}*.marshal"):
        try:
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue
