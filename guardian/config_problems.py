"""Every problem in a configuration file, each with the key and the line it is on.

Validation (`config.parse_config`) stops at the first problem, which suits loading but
not a parent fixing a file: they want the whole list at once. `find_problems` runs the
same validation again and again, each time removing the key the last error named (its
default then applies), so each run finds the next problem. A problem inside one entry
of an array of tables (`[[profiles]]`) that cannot be removed without renumbering the
entries gives up on its section (and on sections that refer into it, so no made-up
problems follow); other sections are still checked.

Line numbers come from the text itself (tomllib keeps none): `line_of` walks the table
headers, counting array-of-tables entries, to the table the key path names and then to
the key's line in it.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from guardian.config import ConfigError, validate_raw

MAX_PROBLEMS = 50
_PATH_RE = re.compile(r"^((?:[A-Za-z_][A-Za-z0-9_-]*(?:\[\d+\])*)(?:\.[A-Za-z_][A-Za-z0-9_-]*(?:\[\d+\])*)*): ")
_SEGMENT_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)")
_TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")
_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r'^\s*"?([A-Za-z0-9_-]+)"?\s*=')


@dataclass(frozen=True, slots=True)
class Problem:
    key: str  # the dotted key path, "" when the file is not TOML at all
    line: int | None
    message: str  # what is wrong, without the file name

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


def find_problems(text: str) -> list[Problem]:
    """Every problem in `text` (empty when it is a valid configuration)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE_RE.search(str(exc))
        return [Problem("", int(m.group(1)) if m else None, f"not valid TOML: {exc}")]
    problems: list[Problem] = []
    raw = copy.deepcopy(raw)
    for _ in range(2 * MAX_PROBLEMS):
        try:
            validate_raw(raw)
            break
        except ConfigError as exc:
            message = str(exc)
        m = _PATH_RE.match(message)
        if m is None:
            problems.append(Problem("", None, message))
            break
        key = m.group(1)
        if any(p.key == key for p in problems):  # removing it made it missing: give up on its section
            _drop_section(raw, _segments(key)[0][0])
            continue
        problems.append(Problem(key, line_of(text, key), message))
        if len(problems) >= MAX_PROBLEMS:
            break
        if not _remove(raw, key):
            _drop_section(raw, _segments(key)[0][0])
    return sorted(problems, key=lambda p: p.line or 0)


def _drop_section(raw: dict[str, Any], section: str) -> None:
    """Give up on a whole top-level section, and on what refers into it (devices name
    profiles, profiles name lists), so its removal causes no made-up problems."""
    raw.pop(section, None)
    if section == "profiles":
        raw.pop("devices", None)
    elif section == "lists":
        for profile in raw.get("profiles", []) if isinstance(raw.get("profiles"), list) else []:
            if isinstance(profile, dict):
                profile.pop("lists", None)


def _segments(key: str) -> list[tuple[str, list[int]]]:
    return [(m.group(1), [int(i) for i in re.findall(r"\d+", m.group(2))])
            for m in _SEGMENT_RE.finditer(key)]


def _remove(raw: dict[str, Any], key: str) -> bool:
    """Delete the table key that `key` names (array items go with their whole array);
    False when the key is an entry of an array of tables, which cannot go alone."""
    segments = _segments(key)
    node: Any = raw
    for name, indices in segments[:-1]:
        if not isinstance(node, dict) or name not in node:
            return False
        node = node[name]
        for i in indices:
            if not isinstance(node, list) or i >= len(node):
                return False
            node = node[i]
    name, _ = segments[-1]
    if not isinstance(node, dict) or name not in node:
        return False  # a missing required key: the entry itself is what is wrong
    del node[name]
    return True


def line_of(text: str, key: str) -> int | None:
    """The line (from 1) where `key` (like `profiles[1].schedules[0].from`) is set, or
    the header line of its table when the key itself is not written there."""
    segments = _segments(key)
    if not segments:
        return None
    wanted_tables = [(name, indices[0] if indices else None) for name, indices in segments]
    counters: dict[tuple[str, ...], int] = {}
    current: list[tuple[str, int | None]] = []
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header and not _KEY_RE.match(line):
            names = [part.strip().strip('"') for part in header.group(2).split(".")]
            path = tuple(names)
            if header.group(1) == "[[":
                index = counters.get(path, -1) + 1
                counters[path] = index
                for other in list(counters):  # a new parent entry starts its children's count again
                    if len(other) > len(path) and other[:len(path)] == path:
                        del counters[other]
                current = [(n, counters.get(tuple(names[:i + 1]))) for i, n in enumerate(names[:-1])]
                current.append((names[-1], index))
            else:
                current = [(n, counters.get(tuple(names[:i + 1]))) for i, n in enumerate(names)]
            if _is_prefix(current, wanted_tables):
                best = number
            continue
        key_match = _KEY_RE.match(line)
        if key_match is None:
            continue
        depth = len(current)
        if depth < len(wanted_tables) and _is_prefix(current, wanted_tables):
            name, _ = wanted_tables[depth]
            if key_match.group(1) == name:
                return number
    return best


def _is_prefix(current: list[tuple[str, int | None]], wanted: list[tuple[str, int | None]]) -> bool:
    if len(current) > len(wanted):
        return False
    for (name, index), (want_name, want_index) in zip(current, wanted, strict=False):
        if name != want_name or (index is not None and index != want_index):
            return False
    return True
