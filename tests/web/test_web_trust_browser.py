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
block = ["games.example"]

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


LISTS = """
[[lists]]
id = "starter"
name = "Guardian starter list"
url = "builtin:starter"
format = "domains"

[[profiles]]
name = "default"
lists = ["starter"]

[[profiles]]
name = "kids"
lists = ["starter"]
"""


def test_lists_count_every_rule_and_ask_which_profiles_get_a_new_list(browser, tmp_path) -> None:  # noqa: F811
    from guardian.filters import FilterEngine
    from guardian.lists.catalog import read_builtin

    starter = FilterEngine.from_lists({"s": read_builtin("builtin:starter")}, formats={"s": "domains"}).rule_count
    assert starter > 0
    g = start_guardian(tmp_path, LISTS)
    base = f"http://{g.config.web.listen}"
    try:
        page = login(browser, base, g.data_dir)
        assert f"1\nlist, {starter} rules" in page.locator(".tile", has_text="list,").inner_text()
        page.goto(base + "/lists")
        card = page.locator("article.list", has_text="Guardian starter list")
        assert f"{starter} rules" in card.inner_text()
        assert "Used by profiles default, kids" in card.inner_text()

        # a new list by address: every profile is ticked; the parent leaves the kids out
        form = page.locator("form[action='/lists/add']")
        assert form.locator("input[name=profiles][value=kids]").is_checked()
        assert form.locator("input[name=profiles][value=default]").is_checked()
        form.locator("input[name=name]").fill("School list")
        form.locator("input[name=url]").fill("http://127.0.0.1:9/school.txt")
        form.locator("input[name=profiles][value=kids]").uncheck()
        form.locator("button").click()
        page.locator("text=Subscribed to School list (profile default)").wait_for()
        assert "school-list" in g.config.profile("default").lists
        assert "school-list" not in g.config.profile("kids").lists
        assert "Used by profile default" in page.locator("article.list", has_text="School list").inner_text()

        # unticking everything is refused with a reason
        form = page.locator("form[action='/lists/add']")
        form.locator("input[name=name]").fill("Nobody's list")
        form.locator("input[name=url]").fill("http://127.0.0.1:9/nobody.txt")
        form.locator("input[name=profiles][value=kids]").uncheck()
        form.locator("input[name=profiles][value=default]").uncheck()
        form.locator("button").click()
        page.locator("text=Tick at least one profile").wait_for()
        assert all(entry.id != "nobody-s-list" for entry in g.config.lists)
    finally:
        g.stop()


def test_the_zone_in_force_and_the_local_time_are_shown(browser, guardian) -> None:  # noqa: F811
    from datetime import datetime
    from zoneinfo import ZoneInfo

    g, base = guardian
    page = login(browser, base, g.data_dir)
    for path in ("/profiles/edit?name=kids", "/settings"):
        page.goto(base + path)
        zone = page.locator("#zone").inner_text()
        now = datetime.now(ZoneInfo("Europe/London"))
        assert "Europe/London" in zone and "chosen in Settings" in zone
        assert now.strftime("%A") in zone and page.locator(".zone-now").inner_text()[-5:-3] == now.strftime("%H")
        assert "UTC" not in zone


def test_utc_is_warned_with_the_browsers_zone_as_a_suggestion(browser, tmp_path) -> None:  # noqa: F811
    web_port = free_port()
    config = tmp_path / "guardian.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ntimezone = "UTC"\n'
                      f'[proxy]\nlisten = "127.0.0.1:{free_port()}"\n'
                      f'[web]\nlisten = "127.0.0.1:{web_port}"\n[[profiles]]\nname = "kids"\n')
    g = Guardian(str(config), Overrides())
    g.start()
    base = f"http://127.0.0.1:{web_port}"
    try:
        Credentials(g.data_dir).set_password(PASSWORD)
        page = browser.new_context(timezone_id="Europe/Paris").new_page()
        page.goto(base + "/login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(base + "/")
        for path in ("/profiles/edit?name=kids", "/settings"):
            page.goto(base + path)
            warning = page.locator(".zone-warning")
            assert "probably not the time on your clocks" in warning.inner_text()
            page.locator("[data-browser-zone]", has_text="Europe/Paris").wait_for()
    finally:
        g.stop()


def test_allowances_are_shown_beside_pauses_and_can_be_ended_or_extended(browser, guardian, tmp_path) -> None:  # noqa: F811
    import subprocess
    import sys
    import time

    from tests.support.household import source_bound_client

    g, base = guardian

    def status_for_tablet() -> int:
        with source_bound_client(g.proxy.address[1], "127.0.0.2") as sock:
            sock.sendall(b"GET http://games.example/ HTTP/1.1\r\nHost: games.example\r\nConnection: close\r\n\r\n")
            return int(sock.recv(4096).split()[1])

    assert status_for_tablet() == 403
    for who in (["--device", "Sam's tablet"], ["--profile", "kids"]):
        config = str(tmp_path / "guardian.toml")
        out = subprocess.run([sys.executable, "-m", "guardian.cli", "allow", "--config", config, *who,
                              "--host", "games.example", "--minutes", "15"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    page = login(browser, base, g.data_dir)
    running = page.locator("#running").inner_text()
    assert "games.example allowed for the device Sam's tablet until" in running
    assert "games.example allowed for the profile kids until" in running

    page.goto(base + "/profiles/edit?name=kids")
    assert "games.example allowed until" in page.locator("#running").inner_text()
    page.goto(base + "/profiles")
    assert "games.example allowed until" in page.locator("article.card", has_text="kids").inner_text()

    page.goto(base + "/devices")
    device = page.locator("article.device", has_text="Sam's tablet")
    before = max(e.expires for e in g.pauses.active() if e.scope == "device")
    device.locator("button:has-text('+15 min')").first.click()
    page.locator("text=games.example is allowed for the device Sam's tablet until").wait_for()
    after = max(e.expires for e in g.pauses.active() if e.scope == "device")
    assert abs(after - (before + 15 * 60)) < 2

    # end both (the device's, with its extension, and the profile's): blocked again at once
    page.goto(base + "/devices")
    page.locator("article.device", has_text="Sam's tablet").locator("button:has-text('end now')").click()
    page.locator("text=Ended.").wait_for()
    page.goto(base + "/profiles/edit?name=kids")
    page.locator("#running button:has-text('end now')").click()
    page.locator("text=Ended.").wait_for()
    assert [e for e in g.pauses.active() if e.kind == "allow"] == []
    deadline = time.monotonic() + 10
    while status_for_tablet() != 403:
        assert time.monotonic() < deadline
        time.sleep(0.2)


BEDTIME = """
[[profiles]]
name = "kids"
block = ["tiktok.com"]

[[profiles.schedules]]
name = "bedtime"
from = "21:00"
to = "07:00"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
"""


def _logged(g: Guardian, **fields) -> int:
    """A request as the proxy records it, at a moment the test chooses; returns its log id."""
    import time

    from guardian.records import RequestRecord

    record = RequestRecord(**{"duration_ms": 1.0, "client_addr": "127.0.0.2", "method": "CONNECT",
                              "scheme": "https", "port": 443, "target": "", "status": 403, "action": "blocked",
                              "device": "Sam's tablet", "profile": "kids", **fields})
    g.log_store.record(record)
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in g.log_queries.search(limit=50).records if r.host == record.host]
        if found:
            return found[0].id
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_why_page_offers_only_what_changes_the_outcome_and_allow_conflicts_are_told(browser, tmp_path) -> None:  # noqa: F811
    from datetime import datetime
    from zoneinfo import ZoneInfo

    g = start_guardian(tmp_path, BEDTIME)
    base = f"http://{g.config.web.listen}"
    night = datetime(2026, 11, 30, 21, 30, tzinfo=ZoneInfo("Europe/London")).timestamp()
    day = datetime(2026, 11, 30, 15, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
    try:
        page = login(browser, base, g.data_dir)
        # a bedtime block: "always allow" would change nothing, so it is not offered
        bedtime = _logged(g, started=night, host="wikipedia.org", reason="Bedtime until 07:00", schedule="bedtime")
        page.goto(f"{base}/log/{bedtime}")
        assert page.locator("button:has-text('Always allow')").count() == 0
        assert "bedtime comes before always-allowed sites" in page.locator("#no-always").inner_text()
        assert page.locator("button:has-text('15 minutes')").count() == 1

        # the parent's own block: the honest action is removing the rule
        own = _logged(g, started=day, host="tiktok.com", reason="A parent blocked this site", rule="tiktok.com",
                      list_id="custom")
        page.goto(f"{base}/log/{own}")
        assert page.locator("button:has-text('Always allow')").count() == 0
        page.locator("button:has-text('Remove the block rule tiktok.com')").wait_for()

        # adding the allow rule on the profile page: told before saving, shown after
        page.goto(base + "/profiles/edit?name=kids")
        page.locator("input[data-check-rule=allow]").fill("tiktok.com")
        page.locator("input[data-check-rule=allow]").press("Enter")
        warning = page.locator("#check-allow")
        warning.wait_for()
        assert "undoes your own block rule tiktok.com" in warning.inner_text()
        assert "During bedtime (21:00 to 07:00) tiktok.com is still blocked" in warning.inner_text()
        assert "tiktok.com" not in g.config.profile("kids").allow  # nothing saved yet
        page.click("button:has-text('Save it anyway')")
        page.locator("text=Added tiktok.com to the allow rules").wait_for()
        assert "tiktok.com" in g.config.profile("kids").allow
        conflicts = page.locator("p.conflict").all_inner_texts()
        assert any("still blocked" in c for c in conflicts)
        assert any(c.startswith("Undone by the always-allowed tiktok.com") for c in conflicts)

        # a site no rule of the parents' blocks outside bedtime: only the bedtime warning
        page.locator("input[data-check-rule=allow]").fill("example.org")
        page.locator("input[data-check-rule=allow]").press("Enter")
        assert "undoes" not in page.locator("#check-allow").inner_text()
    finally:
        g.stop()


def test_end_bedtime_now_from_the_why_page(browser, tmp_path) -> None:  # noqa: F811
    import time
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Europe/London"))
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    g = start_guardian(tmp_path, f"""
[[profiles]]
name = "kids"

[[profiles.schedules]]
name = "homework"
from = "{start}"
to = "{end}"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
""")
    base = f"http://{g.config.web.listen}"
    try:
        assert g.policy.policy.explain("http://wikipedia.org/", "127.0.0.2")["schedule"] == "homework"
        record = _logged(g, started=time.time(), host="wikipedia.org", reason=f"Homework until {end}",
                         schedule="homework")
        page = login(browser, base, g.data_dir)
        page.goto(f"{base}/log/{record}")
        page.click("button:has-text('End homework now')")
        page.locator(f"text=homework is over for the profile kids until {end}").wait_for()
        assert g.policy.policy.explain("http://wikipedia.org/", "127.0.0.2")["action"] == "allow"
        # shown beside pauses, and "end now" on it puts the schedule back
        page.goto(base + "/")
        running = page.locator("#running")
        assert "homework ended early for the profile kids" in running.inner_text()
        running.locator("button:has-text('end now')").click()
        page.locator("text=Ended.").wait_for()
        assert g.policy.policy.explain("http://wikipedia.org/", "127.0.0.2")["schedule"] == "homework"
    finally:
        g.stop()
