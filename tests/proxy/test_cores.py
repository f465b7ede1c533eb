"""The proxy's request threads run on one core (guardian/proxy/cores.py); the rest of the
process keeps every core. Read from the kernel: each thread's CPU mask, by its name."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from guardian.proxy.cores import core_for
from tests.support.client import RawClient
from tests.support.household import start_guardian
from tests.support.origin import EchoServer, Origin
from tests.tls.conftest import connect_tunnel

ALLOWED = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(ALLOWED) < 2, reason="placing threads on cores needs a machine with two")


def masks_by_name(older: set[int | None]) -> dict[str, set[frozenset[int]]]:
    """This process's threads by name, but for the `older` ones (another test's still ending):
    the cores each may run on, as the kernel has them."""
    out: dict[str, set[frozenset[int]]] = {}
    for thread in threading.enumerate():
        if thread.native_id in older and thread is not threading.main_thread():
            continue
        try:
            mask = frozenset(os.sched_getaffinity(thread.native_id or 0))
        except ProcessLookupError:  # it ended meanwhile
            continue
        out.setdefault(thread.name, set()).add(mask)
    return out


def test_processes_take_cores_from_the_last_one_down() -> None:
    assert core_for(0) == ALLOWED[-1]
    assert core_for(1) == ALLOWED[-2]
    assert core_for(len(ALLOWED)) == ALLOWED[-1]  # more workers than cores: they share


def test_a_process_that_may_run_on_one_core_places_nothing() -> None:
    answers: list[int | None] = []

    def on_one_core() -> None:
        os.sched_setaffinity(0, {ALLOWED[0]})  # this thread only
        answers.append(core_for(0))

    thread = threading.Thread(target=on_one_core)
    thread.start()
    thread.join()
    assert answers == [None]


def test_the_threads_that_serve_run_on_the_core_given_and_the_caller_is_left_as_it_was(make_proxy,
                                                                                      origin: Origin) -> None:
    core = ALLOWED[0]
    before = os.sched_getaffinity(0)
    older = {thread.native_id for thread in threading.enumerate()}
    proxy = make_proxy(core=core)
    assert os.sched_getaffinity(0) == before
    client = RawClient(proxy.port)
    client.send(f"GET {origin.base}/hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert client.read_response().status == 200
    masks = masks_by_name(older)
    for name in ("proxy-serve", "proxy-lot", "proxy-accept"):
        assert masks[name] == {frozenset({core})}, name
    assert masks["proxy-pool-reaper"] == {frozenset(ALLOWED)}  # housekeeping runs anywhere
    client.sock.close()


def test_a_core_the_kernel_refuses_leaves_the_threads_where_they_were_and_the_proxy_serves(
        make_proxy, origin: Origin, caplog: pytest.LogCaptureFixture) -> None:
    older = {thread.native_id for thread in threading.enumerate()}
    with caplog.at_level(logging.INFO, logger="guardian.proxy.cores"):
        proxy = make_proxy(core=max(ALLOWED) + 4096)  # no such core here
    # the kernel's reason, for whoever reads the journal: a filter would say "Operation not permitted"
    assert f"placing them on core {max(ALLOWED) + 4096} was refused (Invalid argument)" in caplog.text
    client = RawClient(proxy.port)
    client.send(f"GET {origin.base}/hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert client.read_response().status == 200
    assert masks_by_name(older)["proxy-serve"] == {frozenset(ALLOWED)}
    client.sock.close()


def test_a_tunnel_moves_its_bytes_from_any_core_and_its_thread_comes_back_after(make_proxy,
                                                                                 echo_server: EchoServer) -> None:
    core = ALLOWED[0]
    older = {thread.native_id for thread in threading.enumerate()}
    proxy = make_proxy(core=core, connect_ports=(echo_server.port,))
    tunnel = connect_tunnel(proxy.port, f"127.0.0.1:{echo_server.port}")
    tunnel.sendall(b"ping")
    assert tunnel.recv(4) == b"ping"  # the relay is running
    assert frozenset(ALLOWED) in masks_by_name(older)["proxy-serve"]
    tunnel.close()
    deadline = time.monotonic() + 5
    while masks_by_name(older)["proxy-serve"] != {frozenset({core})}:
        assert time.monotonic() < deadline, "the relay's thread was not placed back on the proxy's core"
        time.sleep(0.02)


def test_one_process_serves_and_logs_on_one_core_and_leaves_the_others_free(tmp_path: Path, origin: Origin) -> None:
    older = {thread.native_id for thread in threading.enumerate()}
    guardian = start_guardian(tmp_path, "[log]\nenabled = true")
    try:
        client = RawClient(guardian.proxy.address[1])
        client.send(f"GET {origin.base}/hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert client.read_response().status == 200
        masks = masks_by_name(older)
        last = frozenset({ALLOWED[-1]})
        for name in ("proxy-serve", "proxy-lot", "proxy-accept", "logstore-writer", "access-log"):
            assert masks[name] == {last}, name
        assert masks["MainThread"] == {frozenset(ALLOWED)}  # and what it starts later: the page, refreshes
        client.sock.close()
    finally:
        guardian.stop()
