"""The catalog of well-known public lists and the lists Guardian ships itself.

Both live in the `lists/` folder at the top of the source tree, beside the `guardian`
package: `catalog.toml` describes public lists (read-only data, parsed and checked here
so a malformed entry is caught by the tests rather than by a user), and `NAME.txt` files
are the built-in lists a configuration names as `builtin:NAME`. Built-in lists are read
straight from there on every engine build; they are never downloaded or copied.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import guardian

CATEGORIES = ("ads", "privacy", "malware", "adult", "social", "gambling")
CATALOG_FORMATS = ("abp", "hosts", "domains")
BUILTIN_PREFIX = "builtin:"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FIELDS = ("id", "name", "url", "format", "category", "homepage", "licence")


class CatalogError(ValueError):
    """The catalog file is unreadable or an entry is malformed."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    name: str
    url: str
    format: str
    category: str
    homepage: str
    licence: str


def lists_dir() -> Path:
    """The `lists/` folder of this installation (a source checkout or an editable install)."""
    return Path(guardian.__file__).resolve().parent.parent / "lists"


def is_builtin(url: str) -> bool:
    return url.startswith(BUILTIN_PREFIX)


def builtin_path(url: str) -> Path:
    """The file behind `builtin:NAME`; the name is checked so it cannot leave `lists/`."""
    name = url[len(BUILTIN_PREFIX):]
    if not _NAME_RE.match(name):
        raise ValueError(f"{url!r}: a built-in list name is lower-case letters, digits, '-' or '_'")
    return lists_dir() / f"{name}.txt"


def read_builtin(url: str) -> str:
    return builtin_path(url).read_text(encoding="utf-8")


def load_catalog(path: Path | None = None) -> tuple[CatalogEntry, ...]:
    path = path or lists_dir() / "catalog.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for i, table in enumerate(raw.get("lists", [])):
        where = f"{path}: lists[{i}]"
        missing = [key for key in _FIELDS if not isinstance(table.get(key), str) or not table[key]]
        if missing or set(table) - set(_FIELDS):
            raise CatalogError(f"{where}: needs exactly the string fields {', '.join(_FIELDS)}")
        entry = CatalogEntry(**{key: table[key] for key in _FIELDS})
        if not _NAME_RE.match(entry.id) or entry.id in seen:
            raise CatalogError(f"{where}: id {entry.id!r} is malformed or used twice")
        if entry.format not in CATALOG_FORMATS:
            raise CatalogError(f"{where}: format {entry.format!r} is not one of {', '.join(CATALOG_FORMATS)}")
        if entry.category not in CATEGORIES:
            raise CatalogError(f"{where}: category {entry.category!r} is not one of {', '.join(CATEGORIES)}")
        if not entry.url.startswith("https://"):
            raise CatalogError(f"{where}: catalog lists are fetched over https only")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


def find_entry(list_id: str, catalog: tuple[CatalogEntry, ...] | None = None) -> CatalogEntry | None:
    for entry in catalog if catalog is not None else load_catalog():
        if entry.id == list_id:
            return entry
    return None
