"""The settings page's list of sites Guardian never decrypts (`[https] bypass`)."""

from __future__ import annotations

import html

from guardian.config import load_config
from guardian.tls.bypass import DEFAULT_BYPASS
from guardian.web.credentials import Credentials
from tests.web.conftest import Web


def _inspect_everything(admin: Web) -> None:
    response = admin.post("/profiles/https", {"profile": "default", "inspect_https": "all", "inspect_hosts": "",
                                              "https_block_page": "on"})
    assert response.status_code == 303


def test_the_page_shows_the_shipped_list_and_says_the_first_edit_copies_it(admin: Web) -> None:
    page = admin.get("/settings").text
    assert "Sites Guardian never decrypts" in page
    for site in ("paypal.com", "bitwarden.com", "whatsapp.com"):
        assert f"<li>{site} " in page
    assert "This is the list Guardian comes with" in page and "all of it, with your change" in page
    assert 'href="/settings#bypass"' in admin.get("/profiles/edit?name=kids").text  # linked from each profile


def test_add_a_site_keeps_the_shipped_list_and_the_comments(admin: Web) -> None:
    household = admin.household
    _inspect_everything(admin)
    assert household.policy.policy.inspects("default", "login.mybank.example")
    response = admin.post("/settings/bypass/add", {"site": " *.MyBank.example "})
    assert response.status_code == 303 and response.location.endswith("/settings#bypass")
    assert "mybank.example is now on the list" in admin.get("/settings").text
    text = household.writable_config_path().read_text()
    assert "# The household's own comment, which every edit must keep." in text
    assert "# Sam's tablet gets the kids' rules." in text
    written = load_config(household.writable_config_path()).https.bypass
    assert written == (*DEFAULT_BYPASS, "mybank.example")
    # in force at once: the live policy no longer decrypts it (nor its subdomains)
    assert household.config.https.bypass == written
    assert not household.policy.policy.inspects("default", "login.mybank.example")
    assert "This is your household's own list" in admin.get("/settings").text


def test_remove_a_site(admin: Web) -> None:
    household = admin.household
    _inspect_everything(admin)
    assert not household.policy.policy.inspects("default", "www.dropbox.com")
    response = admin.post("/settings/bypass/remove", {"site": "dropbox.com"})
    assert response.status_code == 303
    bypass = load_config(household.writable_config_path()).https.bypass
    assert "dropbox.com" not in bypass and set(bypass) == set(DEFAULT_BYPASS) - {"dropbox.com"}
    assert household.policy.policy.inspects("default", "www.dropbox.com")
    assert "# The household's own comment" in household.writable_config_path().read_text()
    admin.post("/settings/bypass/remove", {"site": "dropbox.com"})
    assert "dropbox.com is not on the list" in admin.get("/settings").text


def test_a_hand_written_pattern_is_removed_as_the_configuration_reads_it(admin: Web) -> None:
    household = admin.household
    path = household.writable_config_path()
    path.write_text(path.read_text().replace("[web]", '[https]\nbypass = ["*.MyBank.example", "paypal.com"]\n\n[web]'))
    household.replace_config_text(path.read_text(), None)
    admin.post("/settings/bypass/remove", {"site": "mybank.example"})
    assert load_config(path).https.bypass == ("paypal.com",)


def test_invalid_sites_and_public_suffixes_are_refused_and_nothing_is_written(admin: Web) -> None:
    path = admin.household.writable_config_path()
    before = path.read_text()
    for site, words in (("not a site!", "is not a site name"), ("", "please fill this in"),
                        ("co.uk", "an ending shared by many unrelated sites"),
                        ("*.com", "an ending shared by many unrelated sites"),
                        ("github.io", "an ending shared by many unrelated sites"),
                        ("paypal.com", "already on the list"),
                        ("www.paypal.com", "already covered by paypal.com")):
        response = admin.post("/settings/bypass/add", {"site": site})
        page = html.unescape(response.text)  # the page again, the message beside the site typed
        assert response.status_code == 400 and "Not saved" in page and words in page, site
        assert f'name="site" value="{site}"' in page
        assert path.read_text() == before


def test_the_link_from_a_certificate_warning_only_fills_the_form_in(web: Web) -> None:
    path = web.household.writable_config_path()
    before = path.read_text()
    Credentials(web.household.data_dir).set_password("correct horse battery")
    response = web.get("/settings?bypass=expired.example")
    assert response.status_code == 302 and "/login" in response.location
    assert "bypass%3Dexpired.example" in response.location or "bypass=expired.example" in response.location
    web.login()
    page = web.get("/settings?bypass=expired.example").text
    assert 'name="site" value="expired.example"' in page
    assert "Nothing has changed yet" in page
    assert path.read_text() == before
    # a changing request needs the page's CSRF token: a forged form changes nothing
    forged = web.client.post("/settings/bypass/add", data={"site": "expired.example"})
    assert forged.status_code in (400, 403)
    assert path.read_text() == before
