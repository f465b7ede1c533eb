"""A rule change that blocks the site of a decrypted tunnel closes the tunnel, but never
under a request inside it that waits for its answer: that request gets the answer, then
the tunnel closes (the same promise as for plain HTTP, tests/proxy/test_rule_change_in_flight.py)."""

from __future__ import annotations

import ssl
import time

import pytest

from guardian.proxy.hooks import RequestInfo, Verdict
from guardian.tls.intercept import Interceptor
from tests.support.client import RawClient
from tests.support.switch import Switch
from tests.tls.origins import MapResolver, TLSOrigin
from tests.tls.test_inspect_exchange import _get, _tab, origin_ca

__all__ = ["origin_ca"]  # the fixture shared with test_inspect_exchange


class InspectingSwitch(Switch):
    """Every tunnel decrypted while the site is allowed."""

    def decide(self, request: RequestInfo) -> Verdict:
        verdict = super().decide(request)
        if verdict.allowed and request.method == "CONNECT":
            return Verdict(allowed=True, intercept="inspect")
        return verdict


@pytest.fixture
def inspecting(make_proxy, guardian_ca, origin_ca, tmp_path):
    origin = TLSOrigin(origin_ca.issue_cert("site.test"))
    origin_ca_file = tmp_path / "origin-ca.pem"
    origin_ca.cert_pem.write_to_path(str(origin_ca_file))
    switch = InspectingSwitch()
    proxy = make_proxy(decider=switch, connect_ports=(443, "1024-65535"))
    proxy.ctx.tls = Interceptor(guardian_ca, 64, str(origin_ca_file))
    proxy.ctx.resolver = MapResolver({"site.test": "127.0.0.1"})
    yield proxy, switch, origin
    origin.close()


def _ended(tab) -> bool:
    """True when the tunnel has ended (a clean close, an abrupt one or a reset); False while it is open."""
    tab.sock.settimeout(3.0)
    try:
        return tab.sock.recv(65536) == b""
    except TimeoutError:
        return False
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_a_request_waiting_inside_a_decrypted_tunnel_gets_its_answer_then_the_tunnel_closes(
        inspecting, ca_file) -> None:
    proxy, switch, origin = inspecting
    host = f"site.test:{origin.port}"
    tab = _tab(proxy, "site.test", origin.port, ca_file)
    assert _get(tab, host, "/size/10").status == 200
    tab.send(f"GET /slow HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())  # answers after 1.5 s
    time.sleep(0.3)
    switch.block = True  # what a reload or a list refresh does: new rules, then the open connections re-decided
    proxy.ctx.connections.wake()
    answer = tab.read_response()  # before: the tunnel was closed under it, no answer at all
    assert answer.status == 200 and answer.body == b"slow but complete"
    t0 = time.monotonic()
    assert _ended(tab)
    assert time.monotonic() - t0 < 1.0
    fresh = RawClient(proxy.port)  # and a new tunnel to the site is refused
    fresh.send(f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert fresh.read_response().status == 403
    fresh.close()
