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
from the list file (kept open, so a refresh that replaces the file does not change what
this table reads) and parsed again with the list's own line parser, and only a line that
really names the host as a plain rule counts. A collision therefore costs one line parse
and can never block a site, and the rule's text (and line number) come from the list.

The table is mapped read-only, so every worker process that maps it shares the same
page-cache pages. The list text is read with pread rather than mapped: a fault on a
mapped page makes the kernel map up to 64 KiB around it, and one blocked host would keep
sixteen pages of a huge list resident. Built once per list file and written atomically
(temporary file, fsync, rename); a torn, foreign or stale table fails its checks and is
rebuilt.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import mmap
import os
import re
import struct
import threading
import weakref
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from guardian.fsutil import atomic_writer

from .hosts import _NOT_TARGETS as NOT_TARGETS
from .hosts import FORMATS, detect_format, domain_line, hosts_line
from .index import read_list, rule_kind
from .report import ParseReport
from .request_types import ALL_TYPES
from .rules import HOST_ANCHOR, NetworkRule, Refused, Skipped, parse_line
from .safety import too_broad

FORMAT_VERSION = 1
SUFFIX = ".compact"
_MAGIC = b"GUARDIAN-HOSTS\x00\x00"
# magic, version, format code, bucket bits, label counts present (bit n: some host has n
# labels), entry count, text size, text mtime_ns, text inode, checksum
_HEADER = struct.Struct("<16sIIII4Q32s")
_FORMAT_CODES = {"abp": 1, "hosts": 2, "domains": 3}
_FORMAT_NAMES = {code: name for name, code in _FORMAT_CODES.items()}
# Line breaks str.splitlines() honours beyond \n and \r\n: a file holding one is read by
# the general path instead, so line numbers always agree with it.
_ODD_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_ODD_TEXT_BREAKS = ("\x85", "\u2028", "\u2029")
_READ_CHUNK = 1 << 20
_LINE_READ = 512  # bytes read to find one line; longer lines take another read


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
    def of(cls, path: Path | str | os.PathLike[str]) -> ListFile:
        stat = os.stat(path)
        return cls(Path(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def table_path(text_path: Path) -> Path:
    return text_path.with_suffix(SUFFIX)


class HostTable:
    """One list's plain host rules; see the module docstring."""

    __slots__ = ("__weakref__", "_directory", "_fingerprints", "_format", "_labels", "_offsets", "_shift",
                 "_text", "count")

    def __init__(self, fmt: str, bits: int, labels: int, directory: memoryview, fingerprints: memoryview,
                 offsets: memoryview, text: BinaryIO) -> None:
        self._format = fmt
        self._labels = labels
        self._shift = 32 - bits
        self._directory = directory
        self._fingerprints = fingerprints
        self._offsets = offsets
        self._text = text  # the list file, kept open: a replaced list keeps this version
        weakref.finalize(self, text.close)
        self.count = len(fingerprints)

    def find(self, host: str, cancelled: frozenset[str] | None = None) -> str | None:
        """The text of the first plain rule of this list for exactly `host` (lower case, no
        trailing dot), skipping rules whose text is in `cancelled`; None if there is none."""
        found = self.find_nearest(host, cancelled, 1)
        return found[1] if found is not None else None

    def find_nearest(self, host: str, cancelled: frozenset[str] | None = None,
                     levels: int = 127) -> tuple[int, str] | None:
        """(depth, rule text) for the nearest of `host` and its parent domains (depth 0 is the
        host, 1 its parent, ...) that this list blocks by a plain rule; at most `levels` of
        them are tried. One call walks them all: this is the hot path of every request."""
        if not host.isascii():
            return None  # list hosts are ASCII (IDNA); a Unicode name is in no list
        name = host.encode()
        directory = self._directory
        fingerprints = self._fingerprints
        shift = self._shift
        crc32 = zlib.crc32
        labels = name.count(b".") + 1
        present = self._labels if labels < 31 else -1  # bit n: some listed host has n labels
        stop = levels if levels < labels else labels
        depth = start = 0
        while depth < stop:
            if present >> (labels - depth) & 1:
                key = crc32(name[start:])
                bucket = key >> shift
                position = directory[bucket]
                end = directory[bucket + 1]
                while position < end:
                    if fingerprints[position] == key:
                        raw = self._confirm(self._offsets[position], host[start:])
                        if raw is not None and (cancelled is None or raw not in cancelled):
                            return depth, raw
                    position += 1
            start = name.find(b".", start) + 1
            depth += 1
        return None

    def _confirm(self, offset: int, host: str) -> str | None:
        """The rule text of the line at `offset` if that line is a plain rule for `host`."""
        line = self._line_at(offset).decode("utf-8", "replace").lstrip("\ufeff")
        names, raw = plain_hosts_of(line, self._format)
        return raw if host in names else None

    def _line_at(self, offset: int) -> bytes:
        # Read, not mapped: a fault on a mapped page makes the kernel map up to 64 KiB
        # around it, so each blocked host would keep 16 pages of a huge list resident.
        fileno = self._text.fileno()
        size = _LINE_READ
        while True:
            chunk = os.pread(fileno, size, offset)
            end = chunk.find(b"\n")
            if end >= 0:
                return chunk[:end]
            if len(chunk) < size:
                return chunk
            size *= 4

    def line_number(self, rule: str, host: str) -> int | None:
        """The line number of `rule` for `host` (for reports; reads the text up to it)."""
        key = zlib.crc32(host.encode("ascii", "ignore"))
        bucket = key >> self._shift
        for position in range(self._directory[bucket], self._directory[bucket + 1]):
            if self._fingerprints[position] == key and self._confirm(self._offsets[position], host) == rule:
                return _count_lines(self._text.fileno(), self._offsets[position]) + 1
        return None


def plain_hosts_of(line: str, fmt: str) -> tuple[list[str], str]:
    """(hosts, rule text) of one line that a table may hold: the hosts it names as plain
    rules of a list in format `fmt` (none if it is anything else)."""
    if fmt == "abp":
        rule = parse_line(line)
        if isinstance(rule, NetworkRule):
            host = plain_host(rule)
            if host is not None:
                return [host], rule.raw
        return [], ""
    names, error = (hosts_line if fmt == "hosts" else domain_line)(line)
    return (names, line.split("#", 1)[0].strip()) if error is None else ([], "")


def plain_host(rule: NetworkRule) -> str | None:
    """The host of a blocking rule that is a whole host with no option (it belongs in a
    host table); None for any other rule."""
    if rule.flags == HOST_ANCHOR and rule.types == ALL_TYPES and rule.domains is None:
        return rule.host
    return None


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
    labels: int  # bit n set: some host has n labels


def readable(data: bytes | BinaryIO) -> bool:
    """Whether a file's lines split by \\n (and \\r\\n) alone are exactly str.splitlines()'s:
    otherwise the general path reads it, so line numbers and rules never differ. A stream
    is read in chunks from the start and left at its start."""
    if not isinstance(data, bytes):
        return _stream_readable(data)
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


def _stream_readable(stream: BinaryIO) -> bool:
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    carried_cr = False  # the previous chunk ended in \r: the next must start with \n
    try:
        while chunk := stream.read(_READ_CHUNK):
            if carried_cr and not chunk.startswith(b"\n"):
                return False
            carried_cr = chunk.endswith(b"\r")
            body = chunk[:-1] if carried_cr else chunk
            if body.count(b"\r") != body.count(b"\r\n") or any(mark in chunk for mark in _ODD_BREAKS):
                return False
            text = decoder.decode(chunk)
            if not chunk.isascii() and any(mark in text for mark in _ODD_TEXT_BREAKS):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return not carried_cr


def _lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """(byte offset, line without its break) of each line, streamed (no list of lines)."""
    offset = 0
    for raw in stream:
        yield offset, _decoded(raw, offset)
        offset += len(raw)


def _decoded(raw: bytes, offset: int) -> str:
    text = raw.decode("ascii") if raw.isascii() else raw.decode("utf-8", "replace")
    if offset == 0:
        text = text.lstrip("\ufeff")
    return text.rstrip("\r\n")


# The usual lines of each format, read without decoding: whatever these accept, and has
# no empty label and no label starting or ending with "-" (checked in the loop: cheaper
# than a regex of labels), the general line parsers (hosts.py, rules.py) read as exactly
# this one plain host. Anything else takes those parsers.
_NAME = rb"([a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)"
_END = rb"[ \t]*\r?\n?"
_USUAL_LINE = {
    "hosts": re.compile(rb"(?:0\.0\.0\.0|127\.0\.0\.1)[ \t]+" + _NAME + _END),
    "domains": re.compile(_NAME + _END),
    "abp": re.compile(rb"\|\|" + _NAME + rb"\^" + _END),
}
_MAX_NAME = 253
_NOT_TARGETS = frozenset(name.encode() for name in NOT_TARGETS)
_DOTTED_QUAD = re.compile(rb"\d{1,3}(?:\.\d{1,3}){3}")


class TooManyRules(ValueError):
    """A list has more rules for the token index than allowed; `report` counts them all."""

    def __init__(self, report: ParseReport) -> None:
        super().__init__(f"{report.rule_count - report.compact} rules")
        self.report = report


def read_list_file(
    name: str, data: bytes | BinaryIO, fmt: str = "auto", max_rules: int | None = None
) -> CompactRead | None:
    """Read a list file (its bytes, or the open file: then it is streamed, never held
    whole), its plain hosts aside for a host table; None if the file must be read by the
    general path instead (see `readable`). With `max_rules`, a list with more rules for
    the token index raises TooManyRules, having kept no more than that many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown list format {fmt!r}; expected one of {', '.join(FORMATS)}")
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    if not readable(data):
        return None
    if fmt == "auto":
        fmt = detect_format(line for _, line in _lines(stream))
        stream.seek(0)
    report = ParseReport(name, fmt)
    rules: list[tuple[int, NetworkRule]] = []
    fingerprints = array("I")
    offsets = array("I")
    add_fingerprint = fingerprints.append
    add_offset = offsets.append
    crc32 = zlib.crc32
    usual = _USUAL_LINE[fmt].fullmatch
    not_targets = _NOT_TARGETS
    read_hosts = hosts_line if fmt == "hosts" else domain_line
    labels = 0  # bit n set: some host has n labels (capped at 31)
    over = False
    number = 0
    offset = 0
    for raw in stream:
        number += 1
        found = usual(raw)
        if found is not None:
            host = found.group(1)
            # (host[0] > 57: not a digit, so not an address; most names skip that regex)
            if (len(host) <= _MAX_NAME and b".." not in host and b".-" not in host and b"-." not in host
                    and host not in not_targets and (host[0] > 57 or not _DOTTED_QUAD.fullmatch(host))):
                add_fingerprint(crc32(host))
                add_offset(offset)
                count = host.count(b".") + 1
                labels |= 1 << (count if count < 31 else 31)
                offset += len(raw)
                continue
        line = _decoded(raw, offset)
        if fmt == "abp":
            parsed = parse_line(line)
            if isinstance(parsed, NetworkRule):
                host = plain_host(parsed)
                broad = None if host is not None else too_broad(parsed)
                if broad is not None:
                    report.add_refused(number, line.strip(), broad)
                elif host is not None:
                    add_fingerprint(crc32(host.encode("ascii")))
                    add_offset(offset)
                    labels |= 1 << min(host.count(".") + 1, 31)
                else:
                    report.rules[rule_kind(parsed)] += 1
                    if max_rules is None or len(rules) < max_rules:
                        rules.append((number, parsed))
                    else:  # count on, keep no more: the caller refuses the list
                        over = True
            elif isinstance(parsed, Refused):
                report.add_refused(number, line.strip(), parsed.reason)
            elif isinstance(parsed, Skipped):
                report.skipped[parsed.reason] += 1
            else:
                report.add_error(number, line.strip(), parsed.reason)
        else:
            names, error = read_hosts(line)
            if error is not None:
                report.add_error(number, line.strip(), error)
            elif not names:
                report.skipped["comment or blank" if not line.split("#", 1)[0].strip() else "not a target"] += 1
            for host_name in names:
                add_fingerprint(crc32(host_name.encode("ascii")))
                add_offset(offset)
                labels |= 1 << min(host_name.count(".") + 1, 31)
        offset += len(raw)
    if fingerprints:
        report.rules["host"] += len(fingerprints)
    report.lines = number
    report.compact = len(fingerprints)
    if over:
        raise TooManyRules(report)
    return CompactRead(rules, report, fmt, fingerprints, offsets, labels)


# Resident memory per rule, measured (docs/benchmarks.md, bench/big_lists.py) and rounded
# up: a host in a compact table (fingerprint, offset, directory share); another whole-host
# rule (`||host^$third-party`, or a plain host read by the general path: a dict slot, a
# tuple, strings); any other rule (its tuple, pattern, tokens and index slots).
COMPACT_HOST_BYTES = 12
HOST_RULE_BYTES = 800
INDEX_RULE_BYTES = 1400


def read_report(name: str, data: bytes, fmt: str = "auto", max_rules: int | None = None) -> ParseReport:
    """The parse report of a list file's bytes, as the engine will read it, without
    building an index: a list of millions of hosts costs a few bytes per host here.
    `max_rules` bounds the token-index rules kept while reading (see read_list_file); the
    general path (a file `readable` refuses) must be bounded by the caller beforehand."""
    read = read_list_file(name, data, fmt, max_rules)
    if read is not None:
        return read.report
    return read_list(name, data.decode("utf-8-sig", errors="replace"), fmt)[1]


def estimated_bytes(report: ParseReport) -> int:
    """About how much memory the engine needs for a list with this report."""
    hosts = report.rules.get("host", 0)
    return (report.compact * COMPACT_HOST_BYTES + (hosts - report.compact) * HOST_RULE_BYTES
            + (report.rule_count - hosts) * INDEX_RULE_BYTES)


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


def write_table(path: Path, source: ListFile, fmt: str, labels: int, fingerprints: array, offsets: array) -> None:
    """Write the table of `source` atomically (temporary file, fsync, rename)."""
    bits, directory, keys, places = _layout(fingerprints, offsets)
    checksum = hashlib.blake2b(digest_size=32)
    for part in (directory, keys, places):
        checksum.update(part)
    header = _HEADER.pack(_MAGIC, FORMAT_VERSION, _FORMAT_CODES[fmt], bits, labels, len(keys),
                          source.size, source.mtime_ns, source.inode, checksum.digest())
    with atomic_writer(path) as out:
        out.write(header)
        for part in (directory, keys, places):
            part.tofile(out)


def table_in_memory(source: ListFile, fmt: str, labels: int, fingerprints: array, offsets: array) -> HostTable | None:
    """A table kept in memory, for a list whose directory cannot take the file."""
    bits, directory, keys, places = _layout(fingerprints, offsets)
    text = _open_text(source)
    if text is None:
        return None
    return HostTable(fmt, bits, labels, memoryview(directory), memoryview(keys), memoryview(places), text)


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
            magic, version, fmt_code, bits, labels, count, size, mtime_ns, inode, checksum = _HEADER.unpack(head)
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
            mapped = _map_randomly(handle.fileno())
    except (OSError, ValueError, struct.error):
        return None
    text = _open_text(source)
    if text is None:
        mapped.close()
        return None
    whole = memoryview(mapped)
    start = _HEADER.size
    directory = whole[start : start + 4 * ((1 << bits) + 1)].cast("I")
    start += len(directory) * 4
    fingerprints = whole[start : start + 4 * count].cast("I")
    offsets = whole[start + 4 * count : start + 8 * count].cast("I")
    return HostTable(_FORMAT_NAMES[fmt_code], bits, labels, directory, fingerprints, offsets, text)


def _map_randomly(fileno: int) -> mmap.mmap:
    """Map a file read-only for lookups that land anywhere: no read-ahead."""
    mapped = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    with contextlib.suppress(AttributeError, OSError):
        mapped.madvise(mmap.MADV_RANDOM)
    return mapped


def _open_text(source: ListFile) -> BinaryIO | None:
    """The list file, open; None if it is no longer the one the table is for."""
    try:
        handle = open(source.path, "rb", buffering=0)  # noqa: SIM115 -- the table keeps it open
    except OSError:
        return None
    stat = os.fstat(handle.fileno())
    if (stat.st_size, stat.st_mtime_ns, stat.st_ino) != (source.size, source.mtime_ns, source.inode):
        handle.close()
        return None
    return handle


def _count_lines(fileno: int, end: int) -> int:
    """Line breaks before byte `end` (reports only: reads the file up to there)."""
    count = position = 0
    while position < end:
        chunk = os.pread(fileno, min(_READ_CHUNK, end - position), position)
        if not chunk:
            break
        count += chunk.count(b"\n")
        position += len(chunk)
    return count


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
            write_table(path, source, read.format, read.labels, read.fingerprints, read.offsets)
            table = open_table(path, source)
            if table is not None:
                return table
    return table_in_memory(source, read.format, read.labels, read.fingerprints, read.offsets)


def cached_table(source: ListFile) -> HostTable | None:
    """The table already built for `source`, if one is on disk and still valid."""
    return open_table(table_path(source.path), source)


def open_source(source: ListFile) -> tuple[ListFile, BinaryIO]:
    """The list file, open, and the identity of the file actually opened (a refresh may
    have replaced it since `source` was taken)."""
    handle = open(source.path, "rb")  # noqa: SIM115 -- the caller closes it
    stat = os.fstat(handle.fileno())
    return ListFile(source.path, stat.st_size, stat.st_mtime_ns, stat.st_ino), handle
