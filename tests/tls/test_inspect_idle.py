"""An idle decrypted tunnel is not parked: its inner connection keeps the serving thread of the
CONNECT that opened it (guardian/proxy/parking.py parks only the core's own connections)."""

from __future__ import annotations

import time

from tests.tls.test_inspect_exchange import _get, _tab, origin_ca, proxy, tls_origin

__all__ = ["origin_ca", "proxy", "tls_origin"]  # fixtures shared with test_inspect_exchange


def test_an_idle_inspected_tunnel_keeps_its_thread_and_serves_its_next_request(proxy, tls_origin, ca_file):
    host = f"site.test:{tls_origin.port}"
    tab = _tab(proxy, "site.test", tls_origin.port, ca_file)
    assert _get(tab, host, "/download?type=text/plain").status == 200
    time.sleep(0.5)  # long after a connection of the core itself would have parked
    assert len(proxy.server.lot) == 0
    assert proxy.server.lot.serving == 1
    assert _get(tab, host, "/download?type=text/plain&size=5").body == b"FFFFF"
    assert len(proxy.server.lot) == 0
    tab.close()
