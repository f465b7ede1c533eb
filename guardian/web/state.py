"""Everything the settings page keeps between requests, hung on the app, not on modules.

`create_app` builds one `WebState` and stores it in `app.extensions["guardian"]`; views
reach it through `web_state()`. Keeping it per app means tests can run several apps
side by side and swap a clock or a credential store without touching globals.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import abort, current_app

from guardian.config import ProfileConfig

from .credentials import Credentials
from .hosts import HostPolicy
from .refresher import ListRefresher
from .services import Services
from .throttle import LoginThrottle


@dataclass
class WebState:
    services: Services
    credentials: Credentials
    hosts: HostPolicy
    refresher: ListRefresher
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _setup_code: str | None = None
    _code_lock: threading.Lock = field(default_factory=threading.Lock)

    def setup_code(self) -> str:
        """The one-time code the set-up form asks for; made (and logged) on first need, new at every start."""
        with self._code_lock:
            if self._setup_code is None:
                self._setup_code = self.credentials.announce_setup_code(self.services.web_address())
            return self._setup_code

    def forget_setup_code(self) -> None:
        with self._code_lock:
            self._setup_code = None


def web_state() -> WebState:
    return current_app.extensions["guardian"]


def services() -> Services:
    return web_state().services


def profile_or_404(name: str | None) -> ProfileConfig:
    """The configured profile a page's `name` parameter names; 404 when there is none."""
    try:
        return services().config.profile(name or "")
    except KeyError:
        abort(404)
