"""`guardian lists ...`: the functions behind the command line.

Each returns an exit code (0 done, 1 a list failed to refresh, 2 nothing done: a usage or
configuration error) and writes to the streams it is given, so the CLI only parses
arguments and the settings page or tests can call them directly. Configuration edits go
through `guardian.config_edit`, which keeps comments and validates before writing.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from tomlkit import TOMLDocument

from guardian import control
from guardian.config import Config, ConfigError
from guardian.config_edit import add_list, add_list_to_profile, edit_config, remove_list
from guardian.filters import FilterEngine
from guardian.sizes import size_text

from .catalog import CATEGORIES, CatalogError, find_entry, is_builtin, load_catalog, read_builtin
from .download import file_url_path
from .refresh import FAILED, RefreshPolicy, refresh_lists
from .store import ListStore

OK, FAILURE, USAGE = 0, 1, 2
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def lists_status_command(config: Config, *, out: TextIO | None = None) -> int:
    """The status table: one row per subscribed list, its error (if any) under it."""
    out = out or sys.stdout
    store = ListStore.for_data_dir(config.data_dir)
    zone = config.zone()
    rows = [("ID", "STATUS", "RULES", "SIZE", "UPDATED", "CHECKED")]
    notes: dict[int, str] = {}
    for entry in config.lists:
        suffix = "" if entry.enabled else " (disabled)"
        if is_builtin(entry.url):
            rows.append((entry.id, "built in" + suffix, _builtin_rules(entry.id, entry.url, entry.format),
                         "-", "-", "-"))
            continue
        meta = store.load_meta(entry.id)
        if meta is None:
            rows.append((entry.id, "not downloaded yet" + suffix, "-", "-", "-", "-"))
            continue
        rows.append((entry.id, meta.status + suffix, f"{meta.rules:,}" if meta.fetched_at else "-",
                     size_text(meta.size) if meta.fetched_at else "-",
                     _when(meta.fetched_at, zone), _when(meta.checked_at, zone)))
        if meta.error:
            notes[len(rows) - 1] = f"error: {meta.error}"
        elif meta.refused:
            refused = "; ".join(f"{reason} ({count})" for reason, count in sorted(meta.refused.items()))
            notes[len(rows) - 1] = f"rules refused as unsafe: {refused}"
    if len(rows) == 1:
        print("No lists are subscribed. See `guardian lists catalog` and `guardian lists add`.", file=out)
        return OK
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
        if number in notes:
            print(f"    {notes[number]}", file=out)
    return OK


def lists_update_command(
    config: Config,
    ids: Sequence[str] = (),
    force: bool = False,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    policy: RefreshPolicy | None = None,
) -> int:
    """Refresh the stored copies of `ids` (default: every enabled list) now."""
    out, err = out or sys.stdout, err or sys.stderr
    known = {entry.id for entry in config.lists}
    unknown = [i for i in ids if i not in known]
    if unknown:
        print(f"guardian lists update: no list has the id {', '.join(map(repr, unknown))}"
              f" (subscribed: {', '.join(sorted(known)) or 'none'})", file=err)
        return USAGE
    summary = refresh_lists(config, ListStore.for_data_dir(config.data_dir), list(ids) or None,
                            force=force, policy=policy or RefreshPolicy())
    for result in summary.results:
        print(f"{result.id}: {result.message}", file=out)
    return FAILURE if any(result.outcome == FAILED for result in summary.results) else OK


def lists_add_command(
    config_path: Path | None,
    url: str,
    id: str | None = None,
    name: str | None = None,
    format: str | None = None,
    profile: str | None = None,
    *,
    create_at: Path = Path("guardian.toml"),
    out: TextIO | None = None,
    err: TextIO | None = None,
    fetch: Callable[[Config, str], int] | None = None,
) -> int:
    """Subscribe to `url`: a catalog id, an http(s) URL or a readable file (path or file:// URL).
    Anything else is refused with the catalog ids it resembles. With `fetch`, the new list is
    downloaded at once: `fetch(config, list_id)` returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        print(f"guardian lists add: {exc}", file=err)
        return USAGE
    entry = find_entry(url, catalog)
    if entry is not None:
        url, id, name, format = entry.url, id or entry.id, name or entry.name, format or entry.format
    else:
        problem, url = _source(url, [e.id for e in catalog])
        if problem:
            print(f"guardian lists add: {problem}", file=err)
            return USAGE
    list_id = id or _id_from_url(url)
    profile = profile or "default"

    def mutate(doc: TOMLDocument) -> None:
        add_list(doc, list_id, url, name=name, format=format or "auto")
        add_list_to_profile(doc, list_id, profile)

    try:
        config = edit_config(config_path, mutate, create_at=create_at)
    except ConfigError as exc:
        print(f"guardian lists add: {exc}", file=err)
        return USAGE
    print(f"Added list {list_id!r} ({url}) to profile {profile!r} in {config.source}.", file=out)
    if fetch is not None and not is_builtin(url):
        out.flush()
        return fetch(config, list_id)
    if not is_builtin(url):
        print(f"It is downloaded at the next refresh; `guardian lists update {list_id}` fetches it now.", file=out)
    return OK


def _source(given: str, catalog_ids: list[str]) -> tuple[str | None, str]:
    """(a problem or None, the URL to store) for what `lists add` was given that is not a catalog id."""
    lowered = given.lower()
    if lowered.startswith(("http://", "https://")):
        return (None, given) if urlsplit(given).hostname else (f"{given!r} has no host name", given)
    if is_builtin(given):
        try:
            read_builtin(given)
        except (OSError, ValueError):
            return f"{given!r}: Guardian has no built-in list of that name", given
        return None, given
    if lowered.startswith("file://"):
        try:
            path = file_url_path(given)
        except ValueError as exc:
            return str(exc), given
    else:
        path = Path(given).expanduser()
    if lowered.startswith("file://") or "://" not in given:
        try:
            with path.open("rb"):
                pass
        except IsADirectoryError:
            return f"{given!r} is a directory, not a list file", given
        except OSError:
            if "://" in given or "/" in given or path.suffix:
                return f"{given!r}: no readable file there", given
            close = difflib.get_close_matches(given.lower(), catalog_ids, n=3, cutoff=0.5)
            hint = (f"did you mean {' or '.join(close)}?" if close
                    else "see `guardian lists catalog` for the ids")
            return (f"{given!r} is not a catalog id, an http(s) URL or a file; {hint}"), given
        return None, str(path.resolve())  # `serve` may run from another directory
    return f"{given!r}: only http://, https:// and file:// URLs, a file or a catalog id", given


def fetch_now(config: Config, list_id: str, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Download a list just added, as the settings page does: through the running service, so it
    applies at once, or (no service running) straight into the data directory."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        control.call(config.data_dir, "reload", timeout=30)  # the service learns of the new list first
        reply = control.call(config.data_dir, "lists-update", ids=[list_id])
    except control.NotAllowed:
        print("guardian lists add: added, but the running Guardian service cannot be asked to fetch it by this "
              f"user; run `sudo guardian lists update {list_id}`", file=err)
        return FAILURE
    except control.NotRunning:
        print("Fetching it now (no Guardian service is running here; it applies when one starts) ...", file=out)
        out.flush()
        return lists_update_command(config, [list_id], out=out, err=err)
    print("Fetched by the running Guardian service, which applies it at once:", file=out)
    for result in reply.get("results", []):
        print(f"{result['id']}: {result['message']}", file=out)
    if "error" in reply:
        print(f"guardian lists add: {reply['error']}", file=err)
    return OK if reply.get("ok") else FAILURE


def lists_remove_command(
    config_path: Path | None,
    id: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Unsubscribe: remove the `[[lists]]` entry, the profiles' references and the stored copy."""
    out, err = out or sys.stdout, err or sys.stderr
    if config_path is None:
        print("guardian lists remove: running on the embedded defaults; there is no file to edit"
              " (create one with `guardian lists add` or `--config`)", file=err)
        return USAGE
    try:
        config = edit_config(config_path, lambda doc: remove_list(doc, id))
    except ConfigError as exc:
        print(f"guardian lists remove: {exc}", file=err)
        return USAGE
    removed = ListStore.for_data_dir(config.data_dir).remove(id)
    print(f"Removed list {id!r} from {config.source}{' and its stored copy' if removed else ''}.", file=out)
    return OK


def lists_catalog_command(*, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The catalog, grouped by category."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        print(f"guardian lists catalog: {exc}", file=err)
        return USAGE
    width = max(len(entry.id) for entry in catalog)
    for category in CATEGORIES:
        entries = [entry for entry in catalog if entry.category == category]
        if not entries:
            continue
        print(f"{category}:", file=out)
        for entry in entries:
            print(f"  {entry.id.ljust(width)}  {entry.name} [{entry.format}, {entry.licence}]", file=out)
            print(f"  {''.ljust(width)}  {entry.url}", file=out)
    print("\nSubscribe with `guardian lists add ID [--profile P]`.", file=out)
    return OK


def _id_from_url(url: str) -> str:
    """A readable id: the host's name and the file's stem, `example-com-ads` for .../ads.txt."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    stem = Path(parts.path).stem if parts.path not in ("", "/") else ""
    slug = _NOT_SLUG.sub("-", f"{host} {stem}".lower()).strip("-")
    return slug[:64].rstrip("-") or "list"


def _builtin_rules(list_id: str, url: str, fmt: str) -> str:
    try:
        text = read_builtin(url)
    except (OSError, ValueError):
        return "missing"
    return f"{FilterEngine.from_lists({list_id: text}, formats={list_id: fmt}).rule_count:,}"


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"
