"""Editing the configuration file in place, keeping the user's comments and layout.

Strategy: the file is loaded with tomlkit (a style-preserving TOML parser), a caller's
`mutate` function changes the document, and the result is checked with the same
`parse_config` that `guardian serve` uses before anything is written, so an edit can
never leave a file Guardian refuses to start with. The write is atomic (`fsutil`) and
keeps the file's permissions. If the file changed on disk while the edit was being
prepared (the settings page and the command line at once), the edit starts over on the
new text instead of overwriting it.

When Guardian runs on its embedded defaults (no file), the edit starts from the default
text and writes a new file where the caller says.

Mutations for lists and profiles live here too; the settings page reuses `edit_config`
with its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Comment, Table, Whitespace

from guardian.config import Config, ConfigError, default_config_text, parse_config
from guardian.fsutil import atomic_write_text

_ATTEMPTS = 3
_lock = threading.Lock()  # one edit at a time within a process
_CREATED_HEADER = "# Guardian configuration, created from the embedded defaults by an edit.\n"


def edit_config(
    path: Path | None, mutate: Callable[[TOMLDocument], None], *, create_at: Path | None = None
) -> Config:
    """Apply `mutate` to the file at `path` (None: the embedded defaults, saved to `create_at`).

    Returns the validated new configuration; raises ConfigError (nothing written) if the
    file cannot be read or the edited text is not a valid configuration.
    """
    if path is None:
        if create_at is None:
            raise ConfigError("running on the embedded defaults: say where to create the configuration file")
        if create_at.exists():
            raise ConfigError(f"{create_at}: already exists; edit that file instead")
        target = create_at
    else:
        target = Path(path)
    with _lock:
        for _ in range(_ATTEMPTS):
            original = _read(path)
            doc = _parse(original, target)
            mutate(doc)
            text = tomlkit.dumps(doc)
            if path is None:
                text = _CREATED_HEADER + text
            config = parse_config(text, source=str(target), relative_to=target.parent)
            if _read(path) != original:
                continue  # someone else saved meanwhile: redo the edit on their version
            mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
            try:
                atomic_write_text(target, text, mode=mode)
            except OSError as exc:
                raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
            return config
    raise ConfigError(f"{target}: it kept changing while being edited; try again")


def _read(path: Path | None) -> str:
    if path is None:
        return default_config_text()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def _parse(text: str, target: Path) -> TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{target}: not valid TOML: {exc}") from None


# ---------------------------------------------------------------- list and profile edits


def add_list(
    doc: TOMLDocument,
    list_id: str,
    url: str,
    *,
    name: str | None = None,
    format: str = "auto",
    enabled: bool = True,
    refresh: str | None = None,
) -> None:
    """Append a `[[lists]]` entry; ConfigError if the id is taken."""
    lists = doc.get("lists")
    if lists is not None and any(table.get("id") == list_id for table in lists):
        raise ConfigError(f"a list with the id {list_id!r} already exists")
    table = tomlkit.table()
    table["id"] = list_id
    table["name"] = name or list_id
    table["url"] = url
    table["format"] = format
    if not enabled:
        table["enabled"] = False
    if refresh:
        table["refresh"] = refresh
    table.add(tomlkit.nl())  # a blank line before whatever table follows
    if lists is None:
        doc.append("lists", tomlkit.aot())
        lists = doc["lists"]
    lists.append(table)


def remove_list(doc: TOMLDocument, list_id: str) -> None:
    """Remove a `[[lists]]` entry and every profile's reference to it; ConfigError if absent."""
    lists = doc.get("lists")
    index = next((i for i, table in enumerate(lists or ()) if table.get("id") == list_id), None)
    if lists is None or index is None:
        raise ConfigError(f"no list has the id {list_id!r}")
    # tomlkit files the comments between two tables under the first one; the comments after
    # the removed entry usually introduce what follows it, so they move to the entry before.
    trailing = _trailing_trivia(lists[index])
    del lists[index]
    if index > 0:
        for item in trailing:
            lists[index - 1].value.append(None, item)
    if not len(lists):
        del doc["lists"]
    for profile in doc.get("profiles") or ():
        names = profile.get("lists")
        if names is not None and list_id in names:
            del names[list(names).index(list_id)]


def _trailing_trivia(table: Table) -> list[Comment | Whitespace]:
    body = table.value.body
    start = len(body)
    while start and body[start - 1][0] is None and isinstance(body[start - 1][1], Comment | Whitespace):
        start -= 1
    trivia = [item for _, item in body[start:] if isinstance(item, Comment | Whitespace)]
    first_comment = next((i for i, item in enumerate(trivia) if isinstance(item, Comment)), len(trivia))
    return trivia[first_comment:]  # the blank line before it is already the previous entry's


def add_list_to_profile(doc: TOMLDocument, list_id: str, profile: str) -> None:
    """Make `profile` use the list. The implicit default profile (no `[[profiles]]` entry
    named "default") already takes every enabled list, so it needs no edit."""
    for table in doc.get("profiles") or ():
        if table.get("name") == profile:
            if "lists" not in table:
                table["lists"] = tomlkit.array()
            if list_id not in table["lists"]:
                table["lists"].append(list_id)
            return
    if profile != "default":
        raise ConfigError(f"no profile is named {profile!r}")
