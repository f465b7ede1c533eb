"""Refreshing subscribed lists, and handing the engine a complete set of list texts.

Strategy: each list is refreshed on its own in a small thread pool, so a server that hangs
or a list that keeps failing never holds up the others. One list's refresh: skip it if
its `! Expires:` interval has not passed (unless forced); conditional GET with the stored
ETag / Last-Modified; transient failures (timeouts, refused connections, 5xx) are retried
a few times with growing delays (`sleep` is injectable); a new body is validated and only
then stored. Every failure keeps the last good copy and is recorded in words in the
metadata. Built-in lists (`builtin:NAME`) are never fetched: `texts_for` reads them from
the source tree on every build.

`texts_for` is what an engine build uses: the last good copy of every enabled list, never
a partial set; a list that failed tonight contributes what it had yesterday.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from guardian.config import Config, ListConfig, ProxyConfig, RefreshConfig
from guardian.filters.compact import ListFile
from guardian.proxy.upstream import DestinationPolicy

from .catalog import is_builtin, read_builtin
from .download import DownloadError, Fetched, Limits, fetch
from .store import FAILED_KEPT, FAILED_NONE, OK, UNCHANGED, ListMeta, ListStore, sha256_hex, utcnow
from .validate import ValidationError, check_list

log = logging.getLogger(__name__)
T = TypeVar("T")

UPDATED = "updated"
SKIPPED = "skipped"
FAILED = "failed"
BUILTIN = "built in"


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    limits: Limits = field(default_factory=Limits)
    attempts: int = 3  # tries per list for transient failures
    first_delay: float = 10.0  # seconds before the second try
    backoff: float = 4.0  # each further delay is this many times longer
    workers: int = 4
    # None: taken from the configuration (`refresh_lists`) or its defaults (`refresh_one`).
    destinations: DestinationPolicy | None = None
    max_rules: int | None = None  # rules one list may have; None: `[refresh] max_rules_per_list`


def destinations_for(proxy: ProxyConfig) -> DestinationPolicy:
    """The proxy's own destination check, for list downloads: the same networks and the
    machine's own addresses are refused (the proxy port too, as a request loop)."""
    return DestinationPolicy(proxy.deny_destinations, {proxy.listen.port}, proxy.deny_own_addresses)


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """The memory the filter engine may use for all enabled lists together, and what the
    stored copies of the lists use now (their estimates, by list id)."""

    limit_bytes: int
    used_bytes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Config, store: ListStore) -> MemoryBudget:
        used = {}
        for entry in config.lists:
            meta = store.load_meta(entry.id) if entry.enabled and not is_builtin(entry.url) else None
            if meta is not None and store.has_copy(entry.id):
                used[entry.id] = meta.memory_bytes
        return cls(config.refresh.memory_budget_mb * 2**20, used)

    def refusal(self, entry: ListConfig, needs: int) -> str | None:
        """Why a copy of `entry` that needs `needs` bytes cannot replace the stored one, or None."""
        others = sum(used for list_id, used in self.used_bytes.items() if list_id != entry.id)
        if others + needs <= self.limit_bytes:
            return None
        return (f"the list {entry.name!r} is too big for this Guardian: it would need about {_mib(needs)} of memory"
                f"{f' beside the {_mib(others)} of the other lists' if others else ''}, more than the "
                f"{_mib(self.limit_bytes)} set aside for lists (memory_budget_mb)")


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else f"{size / 2**20:.1f} MiB"


@dataclass(frozen=True, slots=True)
class ListResult:
    id: str
    outcome: str  # UPDATED, UNCHANGED, SKIPPED, FAILED or BUILTIN
    message: str  # one line for the command line and the log

    @property
    def changed(self) -> bool:
        return self.outcome == UPDATED


@dataclass(frozen=True, slots=True)
class RefreshSummary:
    results: tuple[ListResult, ...]

    @property
    def changed(self) -> bool:
        """Whether the engine needs rebuilding."""
        return any(result.changed for result in self.results)

    @property
    def failed(self) -> tuple[ListResult, ...]:
        return tuple(result for result in self.results if result.outcome == FAILED)


def refresh_lists(
    config: Config,
    store: ListStore,
    ids: Iterable[str] | None = None,
    *,
    force: bool = False,
    policy: RefreshPolicy = RefreshPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utcnow,
) -> RefreshSummary:
    """Refresh the lists named by `ids` (default: every enabled list); unknown ids raise KeyError."""
    entries = [config.list_by_id(i) for i in ids] if ids is not None else [e for e in config.lists if e.enabled]
    if not entries:
        return RefreshSummary(())
    budget = MemoryBudget.of(config, store)
    policy = replace(
        policy,
        destinations=policy.destinations or destinations_for(config.proxy),
        max_rules=policy.max_rules or config.refresh.max_rules_per_list,
    )
    with ThreadPoolExecutor(max_workers=max(1, min(policy.workers, len(entries))),
                            thread_name_prefix="list-refresh") as pool:
        futures = [pool.submit(refresh_one, e, store, force=force, policy=policy, sleep=sleep, now=now,
                               budget=budget) for e in entries]
        results = tuple(future.result() for future in futures)
    for result in results:
        log.log(logging.WARNING if result.outcome == FAILED else logging.INFO,
                "list %s: %s", result.id, result.message)
    return RefreshSummary(results)


def refresh_one(
    entry: ListConfig,
    store: ListStore,
    *,
    force: bool = False,
    policy: RefreshPolicy = RefreshPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utcnow,
    budget: MemoryBudget | None = None,
) -> ListResult:
    """Refresh one list; with a `budget`, a copy that would take the lists over it is refused."""
    if is_builtin(entry.url):
        return ListResult(entry.id, BUILTIN, "built in, read from the source tree")
    if policy.destinations is None or policy.max_rules is None:
        policy = replace(policy, destinations=policy.destinations or destinations_for(ProxyConfig()),
                         max_rules=policy.max_rules or RefreshConfig().max_rules_per_list)
    with store.lock(entry.id):
        try:
            return _refresh_locked(entry, store, force, policy, sleep, now, budget)
        except Exception as exc:  # a bug must cost one list, not the whole refresh
            log.exception("list %s: refresh crashed", entry.id)
            return ListResult(entry.id, FAILED, f"internal error: {exc}")


def _refresh_locked(
    entry: ListConfig,
    store: ListStore,
    force: bool,
    policy: RefreshPolicy,
    sleep: Callable[[float], None],
    now: Callable[[], datetime],
    budget: MemoryBudget | None,
) -> ListResult:
    stored = store.read_bytes(entry.id)
    old = store.load_meta(entry.id)
    # The metadata describes the stored copy only if the URL and the checksum agree; if not
    # (a changed URL, a cut between the two writes), trust neither validators nor counts.
    trusted = old is not None and stored is not None and old.url == entry.url and old.sha256 == sha256_hex(stored)
    meta = old if trusted and old is not None else ListMeta(entry.id, entry.url)
    # The shrink check compares with the copy this list had, even if its checksum is off.
    baseline = old.rules if old is not None and stored is not None and old.url == entry.url else None
    started = now()

    if not force and trusted and meta.expires_seconds and meta.confirmed_at:
        fresh_until = meta.confirmed_at + timedelta(seconds=meta.expires_seconds)
        if started < fresh_until:
            hours = (fresh_until - started).total_seconds() / 3600
            return ListResult(entry.id, SKIPPED, f"skipped: the list asks for at most one download per "
                              f"{_duration(meta.expires_seconds)} ({hours:.1f} h to go)")

    def fail(message: str) -> ListResult:
        meta.status = FAILED_KEPT if stored is not None else FAILED_NONE
        meta.error = message
        meta.checked_at = now()
        _save_meta_quietly(store, meta)
        return ListResult(entry.id, FAILED, f"{meta.status}: {message}")

    try:
        fetched = _fetch_with_retries(entry.url, meta if trusted else None, policy, sleep)
    except DownloadError as exc:
        return fail(str(exc))

    checked = now()
    if fetched.body is None or (trusted and sha256_hex(fetched.body) == meta.sha256):
        meta.status, meta.error = UNCHANGED, None
        meta.etag, meta.last_modified = fetched.etag, fetched.last_modified
        meta.checked_at = meta.confirmed_at = checked
        _save_meta_quietly(store, meta)
        return ListResult(entry.id, UNCHANGED, "unchanged")

    assert policy.max_rules is not None  # refresh_list filled it in
    try:
        result = check_list(entry.id, fetched.body, entry.format, baseline, force, policy.max_rules)
    except ValidationError as exc:
        return fail(f"rejected: {exc}")
    refusal = budget.refusal(entry, result.memory_bytes) if budget is not None else None
    if refusal is not None:
        return fail(f"rejected: {refusal}")

    new = ListMeta(
        id=entry.id, url=entry.url, status=OK, etag=fetched.etag, last_modified=fetched.last_modified,
        fetched_at=checked, checked_at=checked, confirmed_at=checked, size=len(fetched.body),
        sha256=sha256_hex(fetched.body), format=result.format, rules=result.rules, errors=result.errors,
        kinds=result.kinds, expires_seconds=result.expires_seconds, refused=result.refused,
        memory_bytes=result.memory_bytes,
    )
    try:
        store.save_copy(new, fetched.body)
    except OSError as exc:
        return fail(f"could not save the new copy: {exc.strerror or exc}")
    dropped = f", {result.errors} invalid lines dropped" if result.errors else ""
    if result.refused:
        dropped += f" ({_refused_words(result.refused)})"
    return ListResult(entry.id, UPDATED, f"updated: {result.rules} rules ({result.format}){dropped}")


def _fetch_with_retries(
    url: str, meta: ListMeta | None, policy: RefreshPolicy, sleep: Callable[[float], None]
) -> Fetched:
    delay = policy.first_delay
    attempt = 1
    while True:
        try:
            return fetch(url, etag=meta.etag if meta else None, last_modified=meta.last_modified if meta else None,
                         limits=policy.limits, destinations=policy.destinations)
        except DownloadError as exc:
            if not exc.transient or attempt >= policy.attempts:
                raise
            log.info("%s: %s; trying again in %g s", url, exc, delay)
            sleep(delay)
            delay *= policy.backoff
            attempt += 1


def _save_meta_quietly(store: ListStore, meta: ListMeta) -> None:
    # Metadata is a report, not the list: a full disk here must not turn into a crash.
    try:
        store.save_meta(meta)
    except OSError as exc:
        log.warning("list %s: could not save its metadata: %s", meta.id, exc)


def _refused_words(refused: dict[str, int]) -> str:
    return "refused as unsafe: " + "; ".join(f"{reason} ({count})" for reason, count in sorted(refused.items()))


def _duration(seconds: int) -> str:
    return f"{seconds // 86400} days" if seconds % 86400 == 0 else f"{seconds / 3600:g} h"


def texts_for(config: Config, store: ListStore) -> dict[str, str]:
    """{list id: text} of every enabled list that has a good copy, for `FilterEngine.from_lists`.

    A list that has never been downloaded is left out (it has nothing to contribute yet);
    a list whose last refresh failed contributes its last good copy.
    """
    return _enabled_lists(config, store.read_text)


def sources_for(config: Config, store: ListStore) -> dict[str, str | ListFile]:
    """Like `texts_for`, but a stored list is handed over as its file: the engine maps it
    (and the compact host table beside it) instead of holding its text in memory."""

    def stored_file(list_id: str) -> ListFile | None:
        try:
            return ListFile.of(store.text_path(list_id))
        except FileNotFoundError:
            return None  # never downloaded: nothing to contribute yet

    return _enabled_lists(config, stored_file)


def _enabled_lists(config: Config, stored: Callable[[str], T | None]) -> dict[str, str | T]:
    """Every enabled list: a built-in one as its text, a stored one as `stored` gives it."""
    found: dict[str, str | T] = {}
    for entry in config.lists:
        if not entry.enabled:
            continue
        source = _builtin_text(entry) if is_builtin(entry.url) else stored(entry.id)
        if source is not None:
            found[entry.id] = source
    return found


def _builtin_text(entry: ListConfig) -> str | None:
    try:
        return read_builtin(entry.url)
    except (OSError, ValueError) as exc:
        log.error("list %s: cannot read built-in list %s: %s", entry.id, entry.url, exc)
        return None


def formats_for(config: Config) -> dict[str, str]:
    """{list id: format} for `FilterEngine.from_lists(texts, formats=...)`."""
    return {entry.id: entry.format for entry in config.lists if entry.enabled}
