"""How many rules each subscribed list has, counted the same way on every page.

The policy in force knows the lists some profile uses (built-in ones included, which
have no download record); the download record knows the others; a built-in list no
profile uses is parsed once here (it is small and never changes while Guardian runs).
"""

from __future__ import annotations

from functools import lru_cache

from guardian.config import ListConfig
from guardian.filters import FilterEngine
from guardian.lists.catalog import is_builtin, read_builtin

from .state import services


@lru_cache(maxsize=16)
def _builtin_count(list_id: str, url: str, fmt: str) -> int | None:
    try:
        text = read_builtin(url)
    except (OSError, ValueError):
        return None
    return FilterEngine.from_lists({list_id: text}, formats={list_id: fmt}).rule_count


def rule_counts() -> dict[str, int | None]:
    """Rules per configured list id; None when a list has no copy yet."""
    s = services()
    in_force = s.policy.policy.list_rule_counts()
    counts: dict[str, int | None] = {}
    for entry in s.config.lists:
        counts[entry.id] = in_force.get(entry.id, _stored_count(entry))
    return counts


def _stored_count(entry: ListConfig) -> int | None:
    if is_builtin(entry.url):
        return _builtin_count(entry.id, entry.url, entry.format)
    meta = services().list_store.load_meta(entry.id)
    return meta.rules if meta and meta.fetched_at else None
