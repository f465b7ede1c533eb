"""Issue 13, in a real browser against a whole Guardian on loopback: the set-up code as a
parent types it (item 13), the setup guide's addresses (item 11), each device's PAC file
and the fallback trade-off (item 2)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardian.service import Guardian, Overrides
from guardian.web.credentials import Credentials
from guardian.web.lan import lan_addresses
from tests.support.household import start_guardian
from tests.support.serve import free_port
from tests.web.test_web_browser import _CodeCatcher, browser  # noqa: F401 - the module's browser fixture

PASSWORD = "a long household password"
KIDS = """names = ["guardian.lan"]

[[profiles]]
name = "kids"

[[profiles]]
name = "adverts only"
pac_fallback = "direct"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"

[[devices]]
name = "Dad's laptop"
match = ["127.0.0.3"]
profile = "adverts only"
"""


@pytest.fixture
def guardian(tmp_path: Path) -> Iterator[tuple[Guardian, str]]:
    import logging

    catcher = _CodeCatcher()
    logging.getLogger("guardian").addHandler(catcher)
    try:
        g = start_guardian(tmp_path, KIDS)
    finally:
        logging.getLogger("guardian").removeHandler(catcher)
    g.setup_log = catcher.text  # type: ignore[attr-defined]
    yield g, f"http://{g.config.web.listen}"
    g.stop()


def fetch(port: int, source: str, target: str, host: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("GET", target, headers={"Host": host})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_the_setup_code_with_spaces_and_capitals_and_typed_values_kept(browser, guardian) -> None:  # noqa: F811
    g, base = guardian
    code = re.search(r"set-up code (\S+)", g.setup_log).group(1)
    page = browser.new_context().new_page()
    page.goto(base + "/setup")
    page.fill("input[name=code]", "ZZZZ ZZZZ ZZZZ")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button:has-text('Set the password')")
    page.locator("text=That is not the code").wait_for()
    # nothing typed is lost
    assert page.locator("input[name=code]").input_value() == "ZZZZ ZZZZ ZZZZ"
    assert page.locator("input[name=password]").input_value() == PASSWORD
    assert page.locator("input[name=confirm]").input_value() == PASSWORD
    # as read off a console: capitals, spaces instead of dashes
    page.fill("input[name=code]", " " + code.upper().replace("-", " ") + " ")
    page.click("button:has-text('Set the password')")
    page.wait_for_url("**/guide")
    assert Credentials(g.data_dir).verify(PASSWORD)


def login(browser, base: str, data_dir: Path):  # noqa: F811
    Credentials(data_dir).set_password(PASSWORD)
    page = browser.new_context().new_page()
    page.goto(base + "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base + "/")
    return page


def test_the_guide_says_a_loopback_proxy_cannot_be_reached_and_explains_the_fallback(browser, guardian) -> None:  # noqa: F811
    g, base = guardian
    page = login(browser, base, g.data_dir)
    page.goto(base + "/guide")
    warning = page.locator("#loopback-only").inner_text()
    assert "Other devices cannot reach Guardian" in warning and "0.0.0.0" in warning
    when_off = page.locator("#when-off").inner_text()
    assert "kids: no internet until Guardian is back" in when_off
    assert "adverts only: they use the internet without filtering" in when_off

    # a parent changes the kids' fallback on the profile page
    page.goto(base + "/profiles/edit?name=kids")
    page.select_option("select[name=pac_fallback]", "direct")
    page.click("form[action='/profiles/options'] button")
    page.locator("text=Saved.").wait_for()
    assert g.config.profile("kids").pac_fallback == "direct"


def test_each_device_gets_the_pac_file_of_its_profile(guardian) -> None:
    g, _ = guardian
    web_port = g.config.web.listen.port
    proxy_port = g.proxy.address[1]
    status, kids = fetch(web_port, "127.0.0.2", "/proxy.pac", f"127.0.0.1:{web_port}")
    assert status == 200 and f'"PROXY {g.proxy_address()}";' in kids and "DIRECT\";\n}" not in kids
    _, dad = fetch(web_port, "127.0.0.3", "/proxy.pac", f"127.0.0.1:{web_port}")
    assert f'"PROXY {g.proxy_address()}; DIRECT";' in dad
    # fetched through Guardian's own proxy, the file is still the asking device's own
    _, via_proxy = fetch(proxy_port, "127.0.0.3", "http://guardian.lan/proxy.pac", "guardian.lan")
    assert f'"PROXY {g.proxy_address()}; DIRECT";' in via_proxy
    _, via_proxy = fetch(proxy_port, "127.0.0.2", "http://guardian.lan/proxy.pac", "guardian.lan")
    assert "; DIRECT" not in via_proxy


def test_the_guide_shows_the_lan_addresses_when_listening_on_all(browser, tmp_path) -> None:  # noqa: F811
    lan = lan_addresses()
    if not lan:
        pytest.skip("this machine has no network address besides loopback")
    web_port = free_port()
    config = tmp_path / "guardian.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[proxy]\nlisten = "0.0.0.0:{free_port()}"\n'
                      f'[web]\nlisten = "127.0.0.1:{web_port}"\n')
    g = Guardian(str(config), Overrides())
    g.start()
    try:
        page = login(browser, f"http://127.0.0.1:{web_port}", g.data_dir)
        page.goto(f"http://127.0.0.1:{web_port}/guide")
        text = page.locator("#lan-addresses").inner_text()
        assert all(address in text for address in lan)
        assert page.locator("#loopback-only").count() == 0
        assert "127.0.0.1" not in page.locator("#proxy").inner_text()
    finally:
        g.stop()


def serve_process(tmp_path: Path, env: dict[str, str]):
    from tests.support.serve import GuardianProcess

    proxy_port, web_port = free_port(), free_port()
    config = tmp_path / "guardian.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ntimezone = "Europe/London"\n'
                      f'[proxy]\nlisten = "127.0.0.1:{proxy_port}"\n[web]\nlisten = "127.0.0.1:{web_port}"\n')
    Credentials(tmp_path / "data").set_password(PASSWORD)
    return GuardianProcess(config, tmp_path, proxy_port, env=env), config, f"http://127.0.0.1:{web_port}"


def test_a_new_proxy_address_waits_for_a_restart_that_systemd_performs(browser, tmp_path) -> None:  # noqa: F811
    process, _, base = serve_process(tmp_path, {"INVOCATION_ID": "0123456789abcdef"})
    try:
        page = browser.new_context().new_page()
        page.goto(base + "/login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(base + "/")
        page.goto(base + "/settings")
        new_port = free_port()
        page.fill("input[name=proxy_listen]", f"127.0.0.1:{new_port}")
        page.click("#network button")
        notice = page.locator(".restart-notice")
        notice.wait_for()
        assert "Takes effect after a restart" in notice.inner_text() and "the proxy's address" in notice.inner_text()
        page.goto(base + "/profiles")  # on every page until the restart
        assert page.locator(".restart-notice").count() == 1
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("text=Restart Guardian now")
        page.locator("text=Guardian is restarting").wait_for()
        assert process.proc.wait(30) == 75  # systemd's Restart=on-failure starts it again
    finally:
        process.stop()


def test_a_new_data_dir_in_the_file_says_what_to_do_without_systemd(browser, tmp_path) -> None:  # noqa: F811
    import time

    process, config, base = serve_process(tmp_path, {"INVOCATION_ID": ""})
    try:
        config.write_text(config.read_text().replace('/data"', '/elsewhere"'))
        deadline = time.monotonic() + 15
        while "takes effect after a restart" not in process.log():
            assert time.monotonic() < deadline, process.log()
            time.sleep(0.1)
        page = browser.new_context().new_page()
        page.goto(base + "/login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(base + "/")
        notice = page.locator(".restart-notice").inner_text()
        assert "where Guardian keeps its data" in notice and "start it the same way again" in notice
        assert page.locator("text=Restart Guardian now").count() == 0
        assert process.proc.poll() is None
    finally:
        process.stop()
