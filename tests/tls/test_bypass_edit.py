"""A site added on the settings page to the sites never decrypted is tunnelled untouched
by the running proxy at once: the page's edit, the file, the reload and the proxy together."""

from __future__ import annotations

import ssl

import trustme

from guardian.tls.intercept import Interceptor
from guardian.web import create_app
from tests.tls.conftest import connect_tunnel
from tests.tls.origins import MapResolver, TLSOrigin
from tests.web.conftest import Household, Web


def _issuer(proxy, host: str, port: int, context: ssl.SSLContext) -> str:
    with context.wrap_socket(connect_tunnel(proxy.port, f"{host}:{port}"), server_hostname=host) as tls:
        return dict(x[0] for x in tls.getpeercert()["issuer"])["organizationName"]


def test_a_site_added_on_the_settings_page_is_then_tunnelled_untouched(make_proxy, guardian_ca, ca_file,
                                                                      tmp_path) -> None:
    origin_ca = trustme.CA()
    origin_ca_file = tmp_path / "origin-ca.pem"
    origin_ca.cert_pem.write_to_path(str(origin_ca_file))
    origin = TLSOrigin(origin_ca.issue_cert("www.mybank.test"))
    (tmp_path / "home").mkdir()
    household = Household(tmp_path / "home")
    try:
        app = create_app(household)
        app.testing = True
        admin = Web(app.test_client(), household)
        admin.login()
        admin.post("/profiles/https", {"profile": "default", "inspect_https": "all", "inspect_hosts": "",
                                       "https_block_page": "on"})
        proxy = make_proxy(decider=household.policy, connect_ports=(443, "1024-65535"))
        proxy.ctx.tls = Interceptor(guardian_ca, 64, str(origin_ca_file))
        proxy.ctx.resolver = MapResolver({"www.mybank.test": "127.0.0.1"})
        trusts_guardian = ssl.create_default_context(cafile=str(ca_file))
        assert _issuer(proxy, "www.mybank.test", origin.port, trusts_guardian) == "Guardian household filter"

        assert admin.post("/settings/bypass/add", {"site": "mybank.test"}).status_code == 303
        trusts_the_site_only = ssl.create_default_context(cafile=str(origin_ca_file))
        assert _issuer(proxy, "www.mybank.test", origin.port, trusts_the_site_only) != "Guardian household filter"
        record = proxy.recorder.wait_for(2)[-1]
        assert record.method == "CONNECT" and "never decrypts" in record.reason
    finally:
        origin.close()
        household.close()
