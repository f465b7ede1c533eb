"""The "Trust Guardian on your devices" page and its downloads (no login), and the
per-device trust status on the Devices page."""

from __future__ import annotations

import plistlib

from cryptography import x509

from guardian.tls.ca import CertificateAuthority
from guardian.tls.trust import TrustRecords
from tests.web.conftest import Web


def test_the_trust_page_and_downloads_need_no_login(web: Web) -> None:
    assert "Guardian has no certificate yet" in web.get("/trust").text
    assert web.get("/guardian-ca.crt").status_code == 404
    ca = CertificateAuthority.for_service(web.household.data_dir, "the Smiths")
    page = web.get("/trust")
    assert page.status_code == 200  # not a redirect to the login page
    assert ca.fingerprint() in page.text and ca.common_name in page.text
    for system in ("iPhone and iPad", "Android", "Windows", "Chromebook", "Firefox", "Linux", "Mac"):
        assert system in page.text
    der = web.get("/guardian-ca.crt")
    assert der.mimetype == "application/x-x509-ca-cert"
    assert x509.load_der_x509_certificate(der.data) == ca.certificate
    assert x509.load_pem_x509_certificate(web.get("/guardian-ca.pem").data) == ca.certificate
    profile = web.get("/guardian.mobileconfig")
    assert profile.mimetype == "application/x-apple-aspen-config"
    payload = plistlib.loads(profile.data)["PayloadContent"][0]
    assert payload["PayloadType"] == "com.apple.security.root"
    assert x509.load_der_x509_certificate(payload["PayloadContent"]) == ca.certificate
    for response in (page, der, profile):
        assert b"PRIVATE KEY" not in response.data


def test_devices_page_says_which_devices_trust_guardian(admin: Web) -> None:
    household = admin.household
    named = household.config.devices[0]
    page = admin.get("/devices").text
    assert "Trusts Guardian's certificate: not seen yet" in page
    ip = next(m for m in named.match if m.count(".") == 3 and "/" not in m)
    TrustRecords(household.data_dir / "tls" / "trust.json").note(ip, False)
    assert "Trusts Guardian's certificate: <b>no</b>" in admin.get("/devices").text
    TrustRecords(household.data_dir / "tls" / "trust.json").note(ip, True)
    assert "Trusts Guardian's certificate: yes" in admin.get("/devices").text


def test_the_guide_links_the_trust_page(admin: Web) -> None:
    assert 'href="/trust"' in admin.get("/guide").text


def test_a_profile_turns_on_https_inspection_in_plain_words(admin: Web) -> None:
    page = admin.get("/profiles/edit?name=kids").text
    assert "Look inside HTTPS connections" in page and "Nothing is decrypted." in page
    response = admin.post("/profiles/https", {"profile": "kids", "inspect_https": "hosts",
                                               "inspect_hosts": "YouTube.com, google.com", "https_block_page": "on"})
    assert response.status_code == 303
    kids = admin.household.config.profile("kids")
    assert (kids.inspect_https, kids.inspect_hosts, kids.https_block_page) == ("hosts", ("youtube.com", "google.com"),
                                                                               True)
    assert admin.household.policy.policy.inspects("kids", "www.youtube.com")
    text = admin.household.writable_config_path().read_text()
    assert "# The household's own comment" in text and "https_block_page" not in text  # defaults stay out
    admin.post("/profiles/https", {"profile": "kids", "inspect_https": "hosts", "inspect_hosts": ""})
    assert admin.household.config.profile("kids").inspect_https == "hosts"  # refused: no site named
    admin.post("/profiles/https", {"profile": "kids", "inspect_https": "off", "inspect_hosts": "x.example"})
    kids = admin.household.config.profile("kids")
    assert kids.inspect_https == "off" and not kids.https_block_page
