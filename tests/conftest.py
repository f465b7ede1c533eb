"""Fixtures shared by the whole suite: a loopback origin and an in-process proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from guardian.config import Address, ProxyConfig
from guardian.proxy.context import ProxyContext, ProxySettings
from guardian.proxy.hooks import AllowAll, Decider
from guardian.proxy.server import ProxyServer, open_listener
from guardian.records import RequestRecord
from tests.support.origin import EchoServer, Origin

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.lock = threading.Lock()
        self.event = threading.Condition(self.lock)

    def record(self, record: RequestRecord) -> None:
        with self.lock:
            self.records.append(record)
            self.event.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        with self.lock:
            self.event.wait_for(lambda: len(self.records) >= count, timeout)
            return list(self.records)


class RunningProxy:
    def __init__(self, server: ProxyServer, recorder: ListRecorder) -> None:
        self.server = server
        self.recorder = recorder
        self.port = server.address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def ctx(self) -> ProxyContext:
        return self.server.ctx

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout)


def loopback_proxy_config(**overrides) -> ProxyConfig:
    """Loopback tests need the origin on 127.0.0.1, which the defaults deny."""
    base = ProxyConfig(listen=Address("127.0.0.1", 0), deny_destinations=(), deny_own_addresses=False,
                       access_log=False)
    return replace(base, **overrides)


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def make_proxy() -> Iterator:
    started: list[ProxyServer] = []

    def factory(decider: Decider | None = None, *, core: int | None = None, **proxy_overrides) -> RunningProxy:
        """A started proxy; `core`: the core its request threads run on (guardian/proxy/cores.py)."""
        config = loopback_proxy_config(**proxy_overrides)
        listener = open_listener(config.listen)
        config = replace(config, listen=Address("127.0.0.1", listener.getsockname()[1]))
        recorder = ListRecorder()
        ctx = ProxyContext(settings=ProxySettings.build(config),
                           decider=decider or AllowAll(), recorder=recorder)
        server = ProxyServer(ctx, listener)
        server.start(core)
        started.append(server)
        return RunningProxy(server, recorder)

    yield factory
    for server in started:
        server.stop(grace=1.0)


@pytest.fixture
def proxy(make_proxy) -> RunningProxy:
    return make_proxy()
