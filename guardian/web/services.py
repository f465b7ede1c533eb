"""What the settings page needs from the running Guardian, written down as a Protocol.

`create_app(services)` is given the live `guardian.service.Guardian`; tests give it a
stand-in built from the same real parts. The page only ever reads these attributes and
calls these methods, so the two can never drift apart unnoticed (`mypy guardian` in `make test` checks the
Protocol, and the tests exercise every member).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from guardian.config import Config
from guardian.config_problems import Problem
from guardian.lists import ListStore, RefreshSummary
from guardian.logstore import LogQueries
from guardian.policy import PauseStore, PolicyHolder, SeenDevices


class ConfigConflict(Exception):
    """The configuration file changed since the editor read it (another browser, the
    command line, a text editor); the edit was not applied."""


class CacheStats(Protocol):
    """The one cache, or the worker processes' caches summed (guardian/workers)."""

    def stats(self) -> dict[str, int]: ...


class Services(Protocol):
    config: Config  # the configuration in force; replaced as a whole on every reload
    config_path: Path | None  # None: running on the embedded defaults
    data_dir: Path
    policy: PolicyHolder  # `.policy.explain(...)` is the tester
    pauses: PauseStore
    devices_seen: SeenDevices
    list_store: ListStore
    client_header_secret: str  # the proxy signs the Guardian-Client header it adds with it
    config_problems: list[Problem]  # the file's problems while the last-known-good copy is in force
    restart_changes: list[str]  # keys (proxy.listen, web.listen, data_dir, ...) that wait for a restart

    @property
    def log_queries(self) -> LogQueries | None: ...  # None: the request log is off or unavailable

    @property
    def cache(self) -> CacheStats | None: ...  # None: no cache (its stats are then not shown)

    def writable_config_path(self) -> Path:
        """Where edits are written (the file in use, or where a new one is created)."""
        ...

    def config_version(self) -> str:
        """A hash of the configuration file's text as it is now on disk."""
        ...

    def apply_config_edit(self, mutate: Callable[[Any], None], expected_version: str | None) -> Config:
        """Run `mutate` on the file's tomlkit document, validate, write atomically keeping
        comments, and apply live. Raises ConfigConflict when `expected_version` is given
        and no longer matches, ConfigError (naming the key) when the result is invalid."""
        ...

    def replace_config_text(self, text: str, expected_version: str | None) -> bool:
        """Write a whole checked file text (ConfigError naming every problem, nothing written,
        when it is invalid; ConfigConflict on a stale version) and reload; True when in force."""
        ...

    def can_restart(self) -> bool:
        """True when `restart()` will bring Guardian back (it runs under systemd)."""
        ...

    def restart(self) -> None:
        """Stop, to be started again by systemd with the new settings."""
        ...

    def restore_last_good(self) -> bool:
        """Put the last-known-good copy back over the file and reload; True when in force."""
        ...

    def refresh_lists(self, ids: list[str] | None, force: bool) -> RefreshSummary:
        """Refresh the given lists (None: every enabled one) and rebuild the policy if any changed."""
        ...

    def proxy_address(self) -> str:
        """HOST:PORT that devices on the network use as their proxy."""
        ...

    def web_address(self) -> str:
        """HOST:PORT of this settings page as devices on the network reach it."""
        ...
