"""Who is asking, on a dual-stack `[::]` listener: IPv4 clients are known by their IPv4 address.

On a `[::]` listener an IPv4 client arrives as `::ffff:a.b.c.d`. The proxy's edge turns
that into `a.b.c.d` once, so a device configured by IP or by MAC is recognised, the
log and the access log name it by its IPv4 address, and a device remembered as "seen"
(and then named by a parent) is matched by what was remembered.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from guardian.config import Address, parse_config
from guardian.policy import NeighbourTable, Policy, PolicyHolder, SeenDevices
from guardian.proxy.context import ProxyContext, ProxySettings
from guardian.proxy.server import ProxyServer, client_address, open_listener
from guardian.web.serving import create_server as create_web_server
from tests.conftest import ListRecorder, loopback_proxy_config
from tests.support.client import RawClient, Response

CONFIG = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[[profiles]]
name = "default"
[[profiles]]
name = "kids"
block = ["blocked.invalid"]
{devices}
"""

ARP = """IP address       HW type     Flags       HW address            Mask     Device
127.0.0.1        0x1         0x2         aa:bb:cc:dd:ee:01     *        lo
"""


class DualStackProxy:
    def __init__(self, tmp_path: Path, devices: str) -> None:
        arp = tmp_path / "arp"
        arp.write_text(ARP)
        self.neighbours = NeighbourTable(arp, None, min_interval=0)
        self.neighbours.refresh()  # the service's scheduler does this; requests read the snapshot
        self.seen = SeenDevices(tmp_path / "devices_seen.json", self.neighbours)
        config = parse_config(CONFIG.format(data_dir=tmp_path, devices=devices))
        self.holder = PolicyHolder(Policy(config, {}, neighbours=self.neighbours, seen=self.seen))
        listener = open_listener(Address("::", 0))
        self.port = listener.getsockname()[1]
        proxy_config = replace(loopback_proxy_config(), listen=Address("::", self.port))
        self.recorder = ListRecorder()
        ctx = ProxyContext(settings=ProxySettings.build(proxy_config),
                           decider=self.holder, recorder=self.recorder)
        self.server = ProxyServer(ctx, listener)
        self.server.start()

    def get_over_ipv4(self, url: str) -> Response:
        client = RawClient(self.port)  # 127.0.0.1: IPv4 into the [::] listener
        host = url.split("/")[2]
        client.send(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return client.read_response()


@pytest.fixture
def dual_stack(tmp_path: Path) -> Iterator:
    started: list[DualStackProxy] = []

    def factory(devices: str) -> DualStackProxy:
        proxy = DualStackProxy(tmp_path, devices)
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        proxy.server.stop(grace=1.0)


def test_edge_turns_ipv4_mapped_addresses_into_ipv4():
    assert client_address("::ffff:10.0.0.2") == "10.0.0.2"
    assert client_address("::ffff:a00:2") == "::ffff:a00:2"  # never produced by the kernel; left alone
    assert client_address("2001:db8::1") == "2001:db8::1"
    assert client_address("192.168.1.5") == "192.168.1.5"


def test_device_configured_by_ip_is_recognised_on_a_dual_stack_listener(dual_stack):
    proxy = dual_stack('[[devices]]\nname = "Tablet"\nmatch = ["127.0.0.1"]\nprofile = "kids"')
    assert proxy.get_over_ipv4("http://blocked.invalid/").status == 403
    (record,) = proxy.recorder.wait_for(1)
    assert (record.client_addr, record.device, record.profile, record.action) == (
        "127.0.0.1", "Tablet", "kids", "blocked")


def test_device_configured_by_mac_is_recognised_on_a_dual_stack_listener(dual_stack):
    proxy = dual_stack('[[devices]]\nname = "Phone"\nmatch = ["aa:bb:cc:dd:ee:01"]\nprofile = "kids"')
    assert proxy.get_over_ipv4("http://blocked.invalid/").status == 403
    (record,) = proxy.recorder.wait_for(1)
    assert (record.client_addr, record.device) == ("127.0.0.1", "Phone")


def test_seen_device_is_remembered_by_ipv4_and_once_named_is_matched(dual_stack, tmp_path):
    unknown = dual_stack("")
    unknown.get_over_ipv4("http://blocked.invalid/")
    unknown.recorder.wait_for(1)
    unknown.seen.flush()
    (seen,) = json.loads((tmp_path / "devices_seen.json").read_text())["devices"]
    assert (seen["ip"], seen["mac"]) == ("127.0.0.1", "aa:bb:cc:dd:ee:01")
    unknown.server.stop(grace=1.0)

    # "Name this device" writes the remembered address into the configuration.
    named = dual_stack(f'[[devices]]\nname = "Kid laptop"\nmatch = ["{seen["ip"]}"]\nprofile = "kids"')
    assert named.get_over_ipv4("http://blocked.invalid/").status == 403
    (record,) = named.recorder.wait_for(1)
    assert (record.device, record.profile) == ("Kid laptop", "kids")


def test_the_settings_page_sees_ipv4_clients_of_a_dual_stack_listener_as_ipv4():
    def remote_addr(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["REMOTE_ADDR"].encode()]

    listener = open_listener(Address("::", 0), "the settings page")
    server = create_web_server(remote_addr, listener)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        client = RawClient(listener.getsockname()[1])  # IPv4 into the [::] listener
        client.send(b"GET /proxy.pac HTTP/1.1\r\nHost: guardian\r\nConnection: close\r\n\r\n")
        assert client.read_response().body == b"127.0.0.1"
    finally:
        server.close()
        thread.join(5)
