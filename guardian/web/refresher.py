""""Update now" for lists without holding the browser: the refresh runs on a thread.

A download of a big list can take a minute; the page starts the refresh here, answers
at once, and shows "updating" until the thread is done. One refresh at a time: asking
again while one runs is reported, not queued, so repeated taps cannot pile up downloads.
The last result stays for the page to show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from guardian.lists import RefreshSummary

log = logging.getLogger("guardian")


class ListRefresher:
    def __init__(self, refresh: Callable[[list[str] | None, bool], RefreshSummary]) -> None:
        self._refresh = refresh
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.running_ids: list[str] | None = None  # what the running refresh covers (None: all)
        self.last: RefreshSummary | None = None
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, ids: list[str] | None) -> bool:
        """Start refreshing `ids` (None: every enabled list); False if one is already running."""
        with self._lock:
            if self.running:
                return False
            self.running_ids = ids
            self._thread = threading.Thread(target=self._run, args=(ids,), name="web-list-refresh", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """For tests and the API's `wait`: True when no refresh is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _run(self, ids: list[str] | None) -> None:
        try:
            self.last, self.last_error = self._refresh(ids, True), None
        except Exception as exc:  # the thread must report, not die silently
            log.exception("list refresh from the settings page failed")
            self.last_error = str(exc)
