"""Compact host tables: a list's plain host rules in about 11 bytes per host, memory-mapped.

Big public host lists (HaGeZi, OISD, StevenBlack) name one to three million hosts, nearly
all as plain rules: `||host^` with no option, hosts-file and domain-list lines. In the
token index each such host costs a dict entry and a str (about 500 bytes); here it costs
a 32-bit fingerprint and a 32-bit offset into the stored list, plus its share of a bucket
directory.

The table of one list file (`<list>.compact`, beside `<list>.txt`):
- a header: magic, format version, the list's format, entry count, bucket bits, the text
  file's size, mtime and inode (a different file is a stale table), a BLAKE2 checksum of
  the body;
- the body: `directory[2**bits + 1]` (u32: where each bucket starts), then per entry its
  fingerprint (u32, the CRC-32 of the host name) and the byte offset of its line (u32),
  grouped by bucket (the fingerprint's top bits) and in file order within a bucket.

A lookup hashes the name, reads two directory slots and compares the bucket's few
fingerprints. A fingerprint is not proof: on a hit the line at the stored offset is read
from the memory-mapped list text and parsed again with the list's own line parser, and
only a line that really names the host as a plain rule counts. A collision therefore
costs one line parse and can never block a site, and the rule's text (and line number)
come from the list itself.

Both files are mapped read-only, so every worker process that maps them shares the same
page-cache pages, and only the pages a lookup touches become resident. Built once per
list file and written atomically (temporary file, fsync, rename); a torn, foreign or
stale table fails its checks and is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mmap
import os
import struct
import tempfile
import threading
import weakref
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .hosts import FORMATS, detect_format, domain_line, hosts_line
from .index import rule_kind
from .report import ParseReport
from .request_types import ALL_TYPES
from .rules import HOST_ANCHOR, NetworkRule, Skipped, parse_line

FORMAT_VERSION = 1
SUFFIX = ".compact"
_MAGIC = b"GUARDIAN-HOSTS\x00\x00"
# magic, version, format code, bucket bits, pad, count, text size, text mtime_ns, text inode, checksum
_HEADER = struct.Struct("<16sIIII4Q32s")
_FORMAT_CODES = {"abp": 1, "hosts": 2, "domains": 3}
_FORMAT_NAMES = {code: name for name, code in _FORMAT_CODES.items()}
_BOM = b"\xef\xbb\xbf"
# Line breaks str.splitlines() honours beyond \n and \r\n: a file holding one is read by
# the general path instead, so line numbers always agree with it.
_ODD_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_ODD_TEXT_BREAKS = ("\x85", "\u2028", "\u2029")
_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ListFile:
    """A list given to the engine by its stored file rather than its text. Two values are
    equal only for the same unchanged file, so an engine built for one is reused only
    while the file stays the same (the list store replaces files by rename)."""

    path: Path
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path | str) -> ListFile:
        stat = os.stat(path)
        return cls(Path(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def table_path(text_path: Path) -> Path:
    return text_path.with_suffix(SUFFIX)


class HostTable:
    """One list's plain host rules; see the module docstring."""

    __slots__ = ("__weakref__", "_bits", "_directory", "_fingerprints", "_format", "_maps", "_offsets",
                 "_shift", "_text", "count")

    def __init__(self, fmt: str, bits: int, directory: memoryview, fingerprints: memoryview,
                 offsets: memoryview, text: mmap.mmap | bytes, maps: tuple[mmap.mmap, ...] = ()) -> None:
        self._format = fmt
        self._bits = bits
        self._shift = 32 - bits
        self._directory = directory
        self._fingerprints = fingerprints
        self._offsets = offsets
        self._text = text
        self._maps = maps  # kept alive with the views into them
        self.count = len(fingerprints)

    def find(self, host: str, cancelled: frozenset[str] | None = None) -> str | None:
        """The text of the first plain rule of this list for exactly `host` (lower case, no
        trailing dot), skipping rules whose text is in `cancelled`; None if there is none."""
        try:
            name = host.encode("ascii")
        except UnicodeEncodeError:
            return None  # list hosts are ASCII (IDNA); a Unicode name is in no list
        key = zlib.crc32(name)
        bucket = key >> self._shift
        position = self._directory[bucket]
        end = self._directory[bucket + 1]
        fingerprints = self._fingerprints
        while position < end:
            if fingerprints[position] == key:
                raw = self._confirm(self._offsets[position], host)
                if raw is not None and (cancelled is None or raw not in cancelled):
                    return raw
            position += 1
        return None

    def _confirm(self, offset: int, host: str) -> str | None:
        """The rule text of the line at `offset` if that line is a plain rule for `host`."""
        text = self._text
        end = text.find(b"\n", offset)
        line = text[offset : end if end >= 0 else len(text)].decode("utf-8", "replace").lstrip("\ufeff")
        names, raw = plain_hosts_of(line, self._format)
        return raw if host in names else None

    def line_number(self, rule: str, host: str) -> int | None:
        """The line number of `rule` for `host` (for reports; reads the text up to it)."""
        name = host.encode("ascii", "ignore")
        key = zlib.crc32(name)
        bucket = key >> self._shift
        for position in range(self._directory[bucket], self._directory[bucket + 1]):
            if self._fingerprints[position] == key and self._confirm(self._offsets[position], host) == rule:
                return self._text[: self._offsets[position]].count(b"\n") + 1
        return None


def plain_hosts_of(line: str, fmt: str) -> tuple[list[str], str]:
    """(hosts, rule text) of one line that a table may hold: the hosts it names as plain
    rules of a list in format `fmt` (none if it is anything else)."""
    if fmt == "abp":
        rule = parse_line(line)
        if isinstance(rule, NetworkRule) and is_plain(rule):
            return [rule.host], rule.raw  # type: ignore[list-item]
        return [], ""
    names, error = (hosts_line if fmt == "hosts" else domain_line)(line)
    return (names, line.split("#", 1)[0].strip()) if error is None else ([], "")


def is_plain(rule: NetworkRule) -> bool:
    """A blocking rule that is a whole host with no option: it belongs in a host table."""
    return rule.host is not None and rule.flags == HOST_ANCHOR and rule.types == ALL_TYPES and rule.domains is None


# ------------------------------------------------------------------ reading a list file


@dataclass(slots=True)
class CompactRead:
    """What reading one list file gives: the rules for the token index, the parse report,
    and the plain hosts as fingerprints and line offsets (in file order)."""

    rules: list[tuple[int, NetworkRule]]
    report: ParseReport
    format: str
    fingerprints: array
    offsets: array


def readable(data: bytes) -> bool:
    """Whether a file's lines split by \\n (and \\r\\n) alone are exactly str.splitlines()'s:
    otherwise the general path reads it, so line numbers and rules never differ."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False
    if any(mark in data for mark in _ODD_BREAKS):
        return False
    if data.isascii():
        return True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(mark in text for mark in _ODD_TEXT_BREAKS)


def _lines(data: bytes) -> Iterator[tuple[int, str]]:
    """(byte offset, line without its break) of each line, streamed (no list of lines)."""
    offset = 0
    for raw in io.BytesIO(data):
        text = raw.decode("utf-8", "replace") if not raw.isascii() else raw.decode("ascii")
        if offset == 0:
            text = text.lstrip("\ufeff")
        yield offset, text.rstrip("\r\n")
        offset += len(raw)


def read_list_file(name: str, data: bytes, fmt: str = "auto") -> CompactRead | None:
    """Read a list file, its plain hosts aside for a host table; None if the file must be
    read by the general path instead (see `readable`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown list format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not readable(data):
        return None
    if fmt == "auto":
        fmt = detect_format(line for _, line in _lines(data))
    report = ParseReport(name, fmt)
    rules: list[tuple[int, NetworkRule]] = []
    fingerprints = array("I")
    offsets = array("I")
    add_fingerprint = fingerprints.append
    add_offset = offsets.append
    crc32 = zlib.crc32
    number = 0
    if fmt == "abp":
        kinds = report.rules
        for number, (offset, line) in enumerate(_lines(data), 1):
            parsed = parse_line(line)
            if isinstance(parsed, NetworkRule):
                if is_plain(parsed):
                    add_fingerprint(crc32(parsed.host.encode("ascii")))  # type: ignore[union-attr]
                    add_offset(offset)
                    kinds["host"] += 1
                else:
                    rules.append((number, parsed))
                    kinds[rule_kind(parsed)] += 1
            elif isinstance(parsed, Skipped):
                report.skipped[parsed.reason] += 1
            else:
                report.add_error(number, line.strip(), parsed.reason)
    else:
        read_hosts = hosts_line if fmt == "hosts" else domain_line
        hosts = 0
        for number, (offset, line) in enumerate(_lines(data), 1):
            names, error = read_hosts(line)
            if error is not None:
                report.add_error(number, line.strip(), error)
            elif not names:
                report.skipped["comment or blank" if not line.split("#", 1)[0].strip() else "not a target"] += 1
            for host in names:
                add_fingerprint(crc32(host.encode("ascii")))
                add_offset(offset)
            hosts += len(names)
        report.rules["host"] += hosts
    report.lines = number
    report.compact = len(fingerprints)
    return CompactRead(rules, report, fmt, fingerprints, offsets)


# ------------------------------------------------------------------ building and mapping


def _bucket_bits(count: int) -> int:
    # About one to two entries per bucket: a directory of 2 to 4 bytes per host.
    return min(max(count.bit_length() - 1, 0), 32)


def _layout(fingerprints: array, offsets: array) -> tuple[int, array, array, array]:
    """(bits, directory, fingerprints, offsets) grouped by bucket, file order kept within
    one (a counting sort: no list of a million ints is ever made)."""
    bits = _bucket_bits(len(fingerprints))
    shift = 32 - bits
    directory = array("I", bytes(4 * ((1 << bits) + 1)))
    for key in fingerprints:
        directory[(key >> shift) + 1] += 1
    total = 0
    for bucket in range(len(directory)):
        total += directory[bucket]
        directory[bucket] = total
    fill = array("I", directory)
    grouped_keys = array("I", bytes(4 * len(fingerprints)))
    grouped_offsets = array("I", bytes(4 * len(fingerprints)))
    for key, offset in zip(fingerprints, offsets, strict=True):
        bucket = key >> shift
        position = fill[bucket]
        fill[bucket] = position + 1
        grouped_keys[position] = key
        grouped_offsets[position] = offset
    return bits, directory, grouped_keys, grouped_offsets


def write_table(path: Path, source: ListFile, fmt: str, fingerprints: array, offsets: array) -> None:
    """Write the table of `source` atomically (temporary file, fsync, rename)."""
    bits, directory, keys, places = _layout(fingerprints, offsets)
    checksum = hashlib.blake2b(digest_size=32)
    for part in (directory, keys, places):
        checksum.update(part)
    header = _HEADER.pack(_MAGIC, FORMAT_VERSION, _FORMAT_CODES[fmt], bits, 0, len(keys),
                          source.size, source.mtime_ns, source.inode, checksum.digest())
    handle, temp_name = _temp(path)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(header)
            for part in (directory, keys, places):
                part.tofile(temp)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _temp(path: Path) -> tuple[int, str]:
    # Named like fsutil's temporaries, which the list store removes when a cut leaves one.
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def table_in_memory(source: ListFile, fmt: str, fingerprints: array, offsets: array) -> HostTable | None:
    """A table kept in memory, for a list whose directory cannot take the file."""
    bits, directory, keys, places = _layout(fingerprints, offsets)
    text = _map_text(source)
    if text is None:
        return None
    return HostTable(fmt, bits, memoryview(directory), memoryview(keys), memoryview(places), text, (text,))


_open_tables: weakref.WeakValueDictionary[tuple[Path, ListFile], HostTable] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def open_table(path: Path, source: ListFile) -> HostTable | None:
    """Map the table at `path` for `source`; None if it is missing, torn, foreign or stale.
    Engines that use the same list share one mapping."""
    with _open_lock:
        table = _open_tables.get((path, source))
        if table is None:
            table = _map_table(path, source)
            if table is not None:
                _open_tables[(path, source)] = table
        return table


def _map_table(path: Path, source: ListFile) -> HostTable | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER.size)
            if len(head) < _HEADER.size:
                return None
            magic, version, fmt_code, bits, _, count, size, mtime_ns, inode, checksum = _HEADER.unpack(head)
            if (magic != _MAGIC or version != FORMAT_VERSION or fmt_code not in _FORMAT_NAMES or bits > 32
                    or (size, mtime_ns, inode) != (source.size, source.mtime_ns, source.inode)):
                return None
            body_size = 4 * ((1 << bits) + 1) + 8 * count
            if os.fstat(handle.fileno()).st_size != _HEADER.size + body_size:
                return None
            # Checked by reading, not through the map, so the check leaves nothing resident.
            digest = hashlib.blake2b(digest_size=32)
            while chunk := handle.read(_READ_CHUNK):
                digest.update(chunk)
            if digest.digest() != checksum:
                return None
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, struct.error):
        return None
    text = _map_text(source)
    if text is None:
        mapped.close()
        return None
    whole = memoryview(mapped)
    start = _HEADER.size
    directory = whole[start : start + 4 * ((1 << bits) + 1)].cast("I")
    start += len(directory) * 4
    fingerprints = whole[start : start + 4 * count].cast("I")
    offsets = whole[start + 4 * count : start + 8 * count].cast("I")
    return HostTable(_FORMAT_NAMES[fmt_code], bits, directory, fingerprints, offsets, text, (mapped, text))


def _map_text(source: ListFile) -> mmap.mmap | bytes | None:
    """The list text, mapped; None if the file is no longer the one the table is for."""
    try:
        with open(source.path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if (stat.st_size, stat.st_mtime_ns, stat.st_ino) != (source.size, source.mtime_ns, source.inode):
                return None
            if stat.st_size == 0:
                return b""
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


def load_table(source: ListFile, read: CompactRead, persist: bool) -> HostTable | None:
    """The table for a list just read: with `persist`, the one already beside the list if
    still valid, else written there and mapped; kept in memory when not persisting or the
    disk refuses (read-only, full). None if the list file changed under us."""
    if persist:
        path = table_path(source.path)
        table = open_table(path, source)
        if table is not None:
            return table
        with contextlib.suppress(OSError):
            write_table(path, source, read.format, read.fingerprints, read.offsets)
            table = open_table(path, source)
            if table is not None:
                return table
    return table_in_memory(source, read.format, read.fingerprints, read.offsets)


def cached_table(source: ListFile) -> HostTable | None:
    """The table already built for `source`, if one is on disk and still valid."""
    return open_table(table_path(source.path), source)


def read_source(source: ListFile) -> tuple[ListFile, bytes]:
    """The file's bytes and the identity of the file actually read (a refresh may have
    replaced it since `source` was taken)."""
    with open(source.path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        data = handle.read()
    return ListFile(source.path, stat.st_size, stat.st_mtime_ns, stat.st_ino), data
