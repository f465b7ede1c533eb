"""In a real browser: a parent ticks "programs" for the kids, and the kids' browser then
gets the block page for a program download, through Guardian as its proxy."""

from __future__ import annotations

import tomllib
from pathlib import Path

from guardian.web.credentials import Credentials
from tests.support.browser import ARGS, CHROMIUM, PASSWORD, playwright_or_skip
from tests.support.household import start_guardian

BODY = """
[[profiles]]
name = "kids"

[[devices]]
name = "Kids' laptop"
match = ["127.0.0.1"]
profile = "kids"
"""

sync_api = playwright_or_skip()


def test_a_parent_blocks_programs_and_the_child_sees_why(tmp_path: Path) -> None:
    running = start_guardian(tmp_path, BODY)
    Credentials(running.data_dir).set_password(PASSWORD)
    base = f"http://{running.config.web.listen}"
    proxy_port = running.proxy.address[1]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *ARGS, f"--proxy-server=http://127.0.0.1:{proxy_port}", "--proxy-bypass-list=<-loopback>"])
        try:
            parent = browser.new_page()
            parent.goto(base + "/login")
            parent.fill("input[name=password]", PASSWORD)
            parent.click("button:has-text('Log in')")
            parent.wait_for_url(base + "/")

            parent.goto(base + "/profiles/edit?name=kids")
            card = parent.locator("#downloads-privacy")
            card.locator("input[value=programs]").check()
            card.locator("input[name=other_file_types]").fill(".BLEND")
            card.locator("select[name=third_party_cookies]").select_option("block")
            card.locator("button").click()
            parent.locator("text=Saved.").wait_for()
            assert parent.locator("#downloads-privacy input[value=programs]").is_checked()

            saved = tomllib.loads((tmp_path / "guardian.toml").read_text())
            kids = next(p for p in saved["profiles"] if p["name"] == "kids")
            assert kids["block_file_types"] == ["programs", "blend"]
            # Only what differs from the household's privacy is written for the profile.
            assert kids["privacy"] == {"third_party_cookies": "block"}

            # The kids' browser (Guardian is its proxy) asks for a program: the block page, no download.
            child = browser.new_page()
            child.goto("http://downloads.example/free-game/Setup.exe")
            text = child.locator("body").inner_text()
            assert "Downloads of programs (.exe) are blocked for kids" in text
            assert "Kids' laptop" in text
        finally:
            browser.close()
            running.stop()
