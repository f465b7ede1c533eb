"""Fixtures for the settings page: a household built from Guardian's real parts in
tmp_path (configuration file, policy, pauses, seen devices, lists, log store, cache),
standing in for guardian.service.Guardian with exactly the `Services` members."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from guardian.cache import Cache
from guardian.config import Config, load_config
from guardian.config_edit import edit_config
from guardian.lastgood import restore_last_good, write_text
from guardian.lists import ListStore, RefreshSummary, refresh_lists, texts_for
from guardian.logstore import LogQueries, LogStore
from guardian.policy import NeighbourTable, PauseStore, Policy, PolicyHolder, SeenDevices
from guardian.records import RequestRecord
from guardian.web import create_app
from guardian.web.services import ConfigConflict

HOUSEHOLD = """# The household's own comment, which every edit must keep.
data_dir = "{data_dir}"
timezone = "Europe/London"

[web]
listen = "127.0.0.1:8080"
names = ["guardian.lan"]

[[lists]]
id = "starter"
name = "Guardian starter list"
url = "builtin:starter"
format = "domains"

[[lists]]
id = "local"
name = "Local test list"
url = "{local_list}"
format = "domains"

[[profiles]]
name = "default"
lists = ["starter", "local"]

[[profiles]]
name = "kids"
lists = ["starter", "local"]
block = ["tiktok.com"]

# Sam's tablet gets the kids' rules.
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
"""


class Household:
    """A `guardian.web.services.Services` from real parts, without the proxy server."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "data"
        local_list = root / "local.txt"
        local_list.write_text("blocked.example\nads.example\n")
        self.config_path: Path | None = root / "guardian.toml"
        self.config_path.write_text(HOUSEHOLD.format(data_dir=self.data_dir, local_list=local_list))
        self.config: Config = load_config(self.config_path)
        self.list_store = ListStore.for_data_dir(self.data_dir)
        self.pauses = PauseStore.for_data_dir(self.data_dir)
        self.neighbours = NeighbourTable(arp_path=None, ip_command=None)
        self.devices_seen = SeenDevices(self.data_dir / "devices_seen.json", self.neighbours)
        refresh_lists(self.config, self.list_store)
        self.policy = PolicyHolder(self._build(self.config))
        self.log_store: LogStore | None = LogStore(self.data_dir / "guardian.db", flush_interval=0.02)
        self.cache: Cache | None = Cache(self.config.cache)
        self.refreshes: list[list[str] | None] = []
        self.config_problems: list = []
        self.restart_changes: list[str] = []
        self.restarts = 0
        self.client_header_secret = secrets.token_hex(16)

    def _build(self, config: Config) -> Policy:
        return Policy(config, texts_for(config, self.list_store), neighbours=self.neighbours,
                      seen=self.devices_seen, pauses=self.pauses)

    @property
    def log_queries(self) -> LogQueries | None:
        return self.log_store.queries if self.log_store is not None else None

    def writable_config_path(self) -> Path:
        return self.config_path or self.data_dir / "guardian.toml"

    def config_version(self) -> str:
        path = self.writable_config_path()
        return hashlib.sha256(path.read_bytes() if path.exists() else b"").hexdigest()

    def apply_config_edit(self, mutate: Callable[[Any], None], expected_version: str | None) -> Config:
        if expected_version is not None and expected_version != self.config_version():
            raise ConfigConflict("changed elsewhere")
        self.config = edit_config(self.config_path, mutate, create_at=self.writable_config_path())
        self.config_path = self.writable_config_path()
        self.policy.swap(self._build(self.config))
        return self.config

    def replace_config_text(self, text: str, expected_version: str | None) -> bool:
        if expected_version is not None and expected_version != self.config_version():
            raise ConfigConflict("changed elsewhere")
        write_text(self.writable_config_path(), text)
        self.config = load_config(self.writable_config_path())
        self.policy.swap(self._build(self.config))
        return True

    def can_restart(self) -> bool:
        return True

    def restart(self) -> None:
        self.restarts += 1

    def restore_last_good(self) -> bool:
        assert self.config_path is not None
        restore_last_good(self.config_path)
        return self.replace_config_text(self.config_path.read_text(), None)

    def refresh_lists(self, ids: list[str] | None, force: bool) -> RefreshSummary:
        """Refreshes the lists on this machine for real; tests stay off the internet, so
        http(s) lists are only recorded in `refreshes`."""
        self.refreshes.append(ids)
        local = [e.id for e in self.config.lists if (ids is None or e.id in ids) and e.enabled
                 and not e.url.startswith(("http://", "https://"))]
        summary = refresh_lists(self.config, self.list_store, local, force=force)
        if summary.changed:
            self.policy.swap(self._build(self.config))
        return summary

    def proxy_address(self) -> str:
        return "192.0.2.10:3128"

    def web_address(self) -> str:
        return "192.0.2.10:8080"

    # ------------------------------------------------------------ test helpers

    def log(self, **fields: Any) -> None:
        """Record one request in the log store and wait until it can be read back."""
        assert self.log_store is not None
        record = RequestRecord(**{"started": time.time(), "duration_ms": 3.0, "client_addr": "127.0.0.2",
                                  "method": "GET", "scheme": "http", "host": "example.com", "port": 80,
                                  "target": "/", "status": 200, **fields})
        before = len(self.log_store.queries.search(limit=1000).records) if self.log_store.path.exists() else 0
        self.log_store.record(record)
        deadline = time.monotonic() + 5
        while len(self.log_store.queries.search(limit=1000).records) <= before:
            assert time.monotonic() < deadline, "the log store did not write the record"
            time.sleep(0.01)

    def close(self) -> None:
        if self.log_store is not None:
            self.log_store.close()


class Web:
    """Flask's test client plus the hidden fields a browser would send from the page."""

    def __init__(self, client: FlaskClient, household: Household) -> None:
        self.client = client
        self.household = household

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            if "csrf" not in session:
                session["csrf"] = "t" * 43
            return session["csrf"]

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, version: bool = True, **kwargs: Any):
        fields = {"csrf_token": self.csrf(), **(data or {})}
        if version:
            fields.setdefault("version", self.household.config_version())
        return self.client.post(path, data=fields, **kwargs)

    def api(self, method: str, path: str, body: Any = None, **kwargs: Any):
        headers = {"X-CSRF-Token": self.csrf(), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, json=body, headers=headers, **kwargs)

    def login(self, password: str = "correct horse battery") -> None:
        from guardian.web.credentials import Credentials

        credentials = Credentials(self.household.data_dir)
        if not credentials.has_password():
            credentials.set_password(password)
        response = self.post("/login", {"password": password}, version=False)
        assert response.status_code == 303, response.text


def page_field(html: str, name: str) -> str:
    """The value of the first hidden input called `name` in a page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


@pytest.fixture
def household(tmp_path: Path) -> Iterator[Household]:
    h = Household(tmp_path)
    yield h
    h.close()


@pytest.fixture
def app(household: Household) -> Flask:
    app = create_app(household)
    app.testing = True
    return app


@pytest.fixture
def web(app: Flask, household: Household) -> Web:
    return Web(app.test_client(), household)


@pytest.fixture
def admin(web: Web) -> Web:
    web.login()
    return web
