"""The file kinds Guardian ships (`lists/file_types.toml`): groups of extensions and MIME types.

Kept apart from policy (and free of third-party imports) because the configuration
checks `block_file_types` entries against it, and configuration loading must work with
nothing but the standard library (install.sh checks a file before the venv exists).
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import NamedTuple

import guardian

# the `lists/` folder beside the package, as guardian.lists.catalog.lists_dir() finds it
_GROUPS_FILE = Path(guardian.__file__).resolve().parent.parent / "lists" / "file_types.toml"
_EXTENSION = re.compile(r"[a-z0-9]{1,16}")


class FileGroup(NamedTuple):
    name: str  # "programs"
    label: str  # "programs", as the block page says it
    extensions: frozenset[str]
    mime_types: frozenset[str]
    tracker_announces: bool  # torrents: a tracker's `info_hash` query


@functools.cache
def file_groups() -> dict[str, FileGroup]:
    """The shipped groups, by name."""
    raw = tomllib.loads(_GROUPS_FILE.read_text(encoding="utf-8"))
    groups = {}
    for name, table in raw["groups"].items():
        groups[name] = FileGroup(
            name=name,
            label=table["label"],
            extensions=frozenset(e.lower() for e in table["extensions"]),
            mime_types=frozenset(t.lower() for t in table["mime_types"]),
            tracker_announces=bool(table.get("tracker_announces", False)),
        )
    return groups


def check_file_kind(value: str) -> str | None:
    """None when `value` is a group name or an extension; else why it is neither."""
    if value in file_groups():
        return None
    bare = value.lower().lstrip(".")
    if _EXTENSION.fullmatch(bare):
        return None
    return (f"{value!r} is neither a file kind ({', '.join(file_groups())}) "
            "nor a file extension such as \"exe\"")
