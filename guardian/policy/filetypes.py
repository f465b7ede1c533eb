"""Blocking downloads by file kind: "programs", "mobile-apps", or a single extension.

Strategy: the groups are data (`lists/file_types.toml`, loaded once). A profile's
`block_file_types` compiles into two frozen lookups, extension -> kind and MIME type ->
kind, so a request costs one `rfind` on the path and a dict lookup, and a response one
lookup of its Content-Type plus, when it names a file, one of that name's extension.

A request is judged on the last segment of the URL path, percent-decoded, with the query
string ignored (`setup.php?file=x.exe` is not an exe; `x%2Eexe` is). A response is judged
on its Content-Type and on the file name in Content-Disposition, so `download.php?id=7`
that returns an APK is caught on its head, before a byte of the body moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import unquote

from guardian.filekinds import file_groups

_MAX_NAME = 2048  # longer file names are judged on their last 2 KiB


class FileKind(NamedTuple):
    """What matched: the group's words for the block page and the log."""

    label: str  # "programs" or "files"
    extension: str | None  # "exe"; None when the Content-Type alone told

    def describe(self) -> str:
        shown = f" (.{self.extension})" if self.extension else ""
        return f"Downloads of {self.label}{shown}"


class FileTypeRules:
    """The file kinds one profile (or one schedule) blocks."""

    __slots__ = ("_announces", "_by_extension", "_by_mime", "kinds")

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = tuple(kinds)
        by_extension: dict[str, FileKind] = {}
        by_mime: dict[str, FileKind] = {}
        announces: FileKind | None = None
        groups = file_groups()
        for kind in self.kinds:
            group = groups.get(kind)
            if group is None:
                extension = kind.lower().lstrip(".")
                by_extension.setdefault(extension, FileKind("files", extension))
                continue
            for extension in group.extensions:
                by_extension.setdefault(extension, FileKind(group.label, extension))
            for mime in group.mime_types:
                by_mime.setdefault(mime, FileKind(group.label, None))
            if group.tracker_announces:
                announces = FileKind(group.label, None)
        self._by_extension = by_extension
        self._by_mime = by_mime
        self._announces = announces

    def match_request(self, target: str) -> FileKind | None:
        """The kind a request target (path and query) asks for, judged on its path."""
        path, _, query = target.partition("?")
        slash = path.rfind("/")
        name = path[slash + 1:]
        if "%" in name:
            name = unquote(name[-_MAX_NAME:])
        kind = self._by_name(name)
        if kind is None and self._announces is not None and "info_hash=" in query:
            return self._announces
        return kind

    def match_response(self, content_type: str | None, disposition: str | None) -> FileKind | None:
        """The kind a response carries, from its Content-Type and Content-Disposition."""
        if disposition:
            name = disposition_file_name(disposition)
            if name:
                kind = self._by_name(name)
                if kind is not None:
                    return kind
        if content_type:
            mime = content_type.partition(";")[0].strip().lower()
            return self._by_mime.get(mime)
        return None

    def _by_name(self, name: str) -> FileKind | None:
        dot = name.rfind(".")
        if dot < 0:
            return None
        return self._by_extension.get(name[dot + 1:].lower())


def disposition_file_name(value: str) -> str | None:
    """The file name a Content-Disposition header gives, decoded; None if it gives none.
    `filename*=UTF-8''name.apk` (RFC 6266, 8187) wins over `filename="name.apk"` or
    `filename=name.apk`. One pass over the parameters, linear on any header."""
    plain = None
    for parameter in _parameters(value):
        key, equals, raw = parameter.partition("=")
        if not equals:
            continue
        key = key.strip().lower()
        if key == "filename*":
            parts = raw.strip().split("'", 2)
            if len(parts) == 3 and parts[2]:
                return unquote(parts[2][-_MAX_NAME:])
        elif key == "filename" and plain is None:
            plain = raw.strip().strip('"')[-_MAX_NAME:] or None
    return plain


def _parameters(value: str) -> list[str]:
    """`value` split at the semicolons outside double quotes (a quoted file name may hold one)."""
    if '"' not in value:
        return value.split(";")
    parts: list[str] = []
    start, quoted = 0, False
    for i, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts
