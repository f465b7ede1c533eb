"""A typo in the settings file must not take the house offline (issue 13 item 1).

A real `guardian serve`: after a good start the file's text is kept as the
last-known-good copy; a misspelled key plus a restart runs on that copy (devices keep
their internet) and says so in the log, in `guardian config check` (every problem, with
its line) and on every settings page, where a parent can fix the file or go back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from guardian.web.credentials import Credentials
from tests.support.browser import ARGS, CHROMIUM, playwright_or_skip
from tests.support.client import RawClient
from tests.support.serve import GuardianProcess, free_port
from tests.test_serve import run_cli

PASSWORD = "a long household password"


def good_config(tmp_path: Path, port: int, web_port: int) -> str:
    return f'''data_dir = "{tmp_path / "data"}"
timezone = "Europe/London"

[proxy]
listen = "127.0.0.1:{port}"
deny_destinations = []
deny_own_addresses = false

[web]
listen = "127.0.0.1:{web_port}"

[log]
keep_days = 30
'''


def with_typos(text: str) -> str:
    return (text.replace("deny_own_addresses = false", "deny_own_addresess = false")
            .replace("keep_days = 30", "keep_days = 0"))


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port()


def test_a_typo_and_a_restart_run_on_the_last_good_copy(tmp_path, ports, origin) -> None:
    port, web_port = ports
    config = tmp_path / "guardian.toml"
    config.write_text(good_config(tmp_path, port, web_port))
    process = GuardianProcess(config, tmp_path, port)
    assert process.stop() == 0
    last_good = tmp_path / "guardian.toml.last-good"
    assert last_good.read_text() == config.read_text()

    config.write_text(with_typos(config.read_text()))
    process = GuardianProcess(config, tmp_path, port)  # starts, where it used to exit 2
    try:
        log = process.log()
        assert "line 7" in log and "proxy.deny_own_addresess" in log
        assert "line 13" in log and "log.keep_days" in log
        assert "last-known-good" in log
        c = RawClient(port)
        c.send(f"GET {origin.base}/still HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert c.read_response().body == b"hello /still"

        out = run_cli("config", "check", "--config", str(config), cwd=tmp_path)
        assert out.returncode == 2
        assert f"{config}:7: proxy.deny_own_addresess: unknown key" in out.stderr
        assert f"{config}:13: log.keep_days: 0 is out of range" in out.stderr  # every problem, not the first
        assert "last-known-good" in out.stderr
        # the copy is never overwritten by the broken text
        assert "deny_own_addresses = false" in last_good.read_text()
    finally:
        process.stop()


def test_a_file_that_never_loaded_stops_the_start_naming_key_and_line(tmp_path, ports) -> None:
    port, web_port = ports
    config = tmp_path / "guardian.toml"
    config.write_text(with_typos(good_config(tmp_path, port, web_port)))
    out = run_cli("serve", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2
    assert "line 7: proxy.deny_own_addresess: unknown key" in out.stderr
    assert "line 13: log.keep_days" in out.stderr
    assert not (tmp_path / "guardian.toml.last-good").exists()


def test_no_last_good_exits_2_naming_key_and_line_and_keeps_the_copy(tmp_path, ports) -> None:
    """The installed unit's strict mode: systemd sees the failure; its fallback unit runs the copy."""
    port, web_port = ports
    config = tmp_path / "guardian.toml"
    config.write_text(good_config(tmp_path, port, web_port))
    process = GuardianProcess(config, tmp_path, port, ["--no-last-good"])  # a valid file: serves as usual
    assert process.stop() == 0
    last_good = tmp_path / "guardian.toml.last-good"
    assert last_good.read_text() == config.read_text()  # strict mode still keeps the copy up to date

    config.write_text(with_typos(config.read_text()))
    out = run_cli("serve", "--no-last-good", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "line 7: proxy.deny_own_addresess: unknown key" in out.stderr
    assert "line 13: log.keep_days" in out.stderr
    assert "guardian-last-good.service runs on it" in out.stderr and str(last_good) in out.stderr
    assert "deny_own_addresses = false" in last_good.read_text()
    # the fallback's command line (plain serve) runs on the copy
    process = GuardianProcess(config, tmp_path, port)
    try:
        assert "last-known-good" in process.log()
    finally:
        process.stop()


def test_no_last_good_without_a_copy_says_only_the_problem(tmp_path, ports) -> None:
    port, web_port = ports
    config = tmp_path / "guardian.toml"
    config.write_text(with_typos(good_config(tmp_path, port, web_port)))
    out = run_cli("serve", "--no-last-good", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2
    assert "line 7: proxy.deny_own_addresess: unknown key" in out.stderr
    assert "guardian-last-good" not in out.stderr


def test_a_bad_reload_is_shown_and_a_good_one_clears_it(tmp_path, ports) -> None:
    port, web_port = ports
    config = tmp_path / "guardian.toml"
    good = good_config(tmp_path, port, web_port)
    config.write_text(good)
    process = GuardianProcess(config, tmp_path, port)
    try:
        config.write_text(with_typos(good))
        wait_for(lambda: "not reloaded" in process.log())
        assert "line 7: proxy.deny_own_addresess" in process.log()
        assert (tmp_path / "guardian.toml.last-good").read_text() == good
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def login(browser, base: str):
    page = browser.new_context().new_page()
    page.goto(base + "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base + "/")
    return page


def test_the_settings_pages_show_the_problem_and_fix_it(browser, tmp_path, ports) -> None:
    port, web_port = ports
    config = tmp_path / "guardian.toml"
    good = good_config(tmp_path, port, web_port)
    config.write_text(good)
    Credentials(tmp_path / "data").set_password(PASSWORD)
    process = GuardianProcess(config, tmp_path, port)
    process.stop()
    config.write_text(with_typos(good))
    process = GuardianProcess(config, tmp_path, port)
    base = f"http://127.0.0.1:{web_port}"
    try:
        page = login(browser, base)
        for path in ("/", "/profiles", "/settings", "/lists"):
            page.goto(base + path)
            banner = page.locator(".problem-banner")
            assert "Line 7" in banner.inner_text() and "proxy.deny_own_addresess" in banner.inner_text()
            assert "Line 13" in banner.inner_text()

        # fix it by hand: a remaining mistake is named, and what was typed stays
        page.click("text=Open the file to fix it")
        text = page.locator("textarea[name=text]")
        text.fill(text.input_value().replace("deny_own_addresess", "deny_own_addresses"))
        page.click("button:has-text('Check and save')")
        assert "Line 13" in page.locator("ul.flash.error").inner_text()
        assert "deny_own_addresses = false" in page.locator("textarea[name=text]").input_value()
        text = page.locator("textarea[name=text]")
        text.fill(text.input_value().replace("keep_days = 0", "keep_days = 7"))
        page.click("button:has-text('Check and save')")
        page.locator("text=The settings file is fixed and in force").wait_for()
        assert page.locator(".problem-banner").count() == 0
        assert "keep_days = 7" in config.read_text()

        # break it again from outside; go back to the last settings that worked
        config.write_text(with_typos(config.read_text()))
        wait_for(lambda: "not reloaded" in process.log())
        page.goto(base + "/settings")
        assert page.locator(".problem-banner").count() == 1
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("text=Go back to the last settings that worked")
        page.locator("text=The last settings that worked are back").wait_for()
        assert page.locator(".problem-banner").count() == 0
        assert "keep_days = 7" in config.read_text() and "addresess" not in config.read_text()
    finally:
        process.stop()
