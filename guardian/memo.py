"""Answers remembered in a dict that is emptied when full.

The engine, the cache, the public-suffix table and the privacy rules each remember answers
keyed on what requests carry. A household asks about the same few hundred hosts, pages and
URLs, so a memo that is simply emptied when it reaches its size refills within moments,
costs nothing to keep in order, and can never grow: the keys come from clients and origins.
Each caller bounds its keys' length itself, as what is long differs.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> None:
    """Keep `value` under `key`, emptying `memo` first when it holds `limit` entries."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
