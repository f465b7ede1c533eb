"""Crash-safe file writes, and files only Guardian may read.

Every file Guardian keeps (configuration, stored lists, pauses, device names, index
caches) is replaced the same way: write a temporary file in the same directory, fsync
it, rename it over the old one, then fsync the directory so the rename itself is on
disk. After a power cut at any moment the file is either the old or the new version;
after a kill the temporary file is left behind, and `remove_stale_temp_files` clears
such leftovers at the next start.

The browsing history (the data directory, guardian.db, access.log) is private whatever
the umask: `private_dir` and `private_file` set 0700/0600 explicitly, because outside
systemd a umask of 022 would make them readable by every account on the machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

log = logging.getLogger(__name__)

# Older than this, a `.name.XXXX.tmp` cannot belong to a write still in progress.
STALE_TEMP_SECONDS = 5.0


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` when the block ends without an error (written
    to a temporary file, fsynced, renamed, the directory fsynced); nothing changes otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            yield tmp
            tmp.flush()
            os.fchmod(tmp.fileno(), mode)
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_writer(path, mode) as out:
        out.write(data)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(directory: Path) -> Path:
    """Create `directory` (and parents) if needed and make it 0700."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.chmod(directory, 0o700)
    except PermissionError as exc:  # another account owns it: work on, but say so
        log.warning("cannot make %s private (0700): %s", directory, exc)
    return directory


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, and make it 0600 (SQLite gives its -wal and -shm
    files the mode of the database file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except PermissionError as exc:
        log.warning("cannot make %s private (0600): %s", path, exc)
    finally:
        os.close(fd)
    return Path(path)


def open_private_append(path: Path) -> TextIO:
    """`open(path, "a")` for a file that must stay 0600."""
    private_file(path)
    return open(path, "a", encoding="utf-8")


def remove_stale_temp_files(directory: Path, name: str = "*", recursive: bool = True,
                            older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the `.<name>.XXXX.tmp` files atomic writes left in `directory` (and below,
    when `recursive`) when Guardian was killed mid-write; returns what was removed."""
    removed = []
    cutoff = time.time() - older_than
    pattern = f".{name}.*.tmp"
    found = Path(directory).rglob(pattern) if recursive else Path(directory).glob(pattern)
    for path in found:
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError as exc:
            log.warning("cannot remove the leftover temporary file %s: %s", path, exc)
    return removed
