"""End to end in a real browser: Debian's Chromium driven by Playwright for Python,
against a whole Guardian on loopback (proxy, policy, log store) with the settings page
served by waitress, exactly as `guardian serve` runs it.

The story: set the password with the one-time code from the log, log in, add a block
rule to the kids' profile (checked as typed), see a request through the proxy from Sam's
tablet blocked and in the log with its reason, add a bedtime and see the tester's
decision change, pause the tablet.

With GUARDIAN_SCREENSHOTS=DIR set, every page is also saved at phone (390x844) and
desktop (1280x800) width as DIR/<page>-<phone|desktop>.png (docs/screenshots/ in the repo).

`test_serve_story` runs the same story against a real `guardian serve` process.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import ARGS, CHROMIUM, PASSWORD, playwright_or_skip
from tests.support.household import source_bound_client, start_guardian
from tests.support.serve import GuardianProcess, free_port

BODY = """
[[profiles]]
name = "kids"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
"""
MONDAY_NIGHT = "2026-11-30T21:30"

sync_api = playwright_or_skip()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class _CodeCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += record.getMessage() + "\n"


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """(settings page URL, proxy port, log text with the set-up code)."""
    catcher = _CodeCatcher()
    logging.getLogger("guardian").addHandler(catcher)
    try:
        guardian = start_guardian(tmp_path, BODY)  # serves the settings page as `guardian serve` does
    finally:
        logging.getLogger("guardian").removeHandler(catcher)
    yield f"http://{guardian.config.web.listen}", guardian.proxy.address[1], catcher.text
    guardian.stop()


def proxy_status(port: int, url: str) -> int:
    """The status Guardian answers a page request with, asked from Sam's tablet (127.0.0.2)."""
    with source_bound_client(port, "127.0.0.2") as sock:
        host = url.split("/")[2]
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(4096).decode("latin-1")
    return int(head.split()[1])


class Shots:
    """Saves each page at both widths when GUARDIAN_SCREENSHOTS names a directory."""

    def __init__(self, browser, base: str) -> None:
        self.dir = Path(os.environ["GUARDIAN_SCREENSHOTS"]) if os.environ.get("GUARDIAN_SCREENSHOTS") else None
        self.browser = browser
        self.base = base

    def take(self, context, name: str, path: str) -> None:
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        page = context.new_page()
        for label, size in (("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1280, "height": 800})):
            page.set_viewport_size(size)
            page.goto(self.base + path)
            page.screenshot(path=str(self.dir / f"{name}-{label}.png"), full_page=False)
        page.close()


def story(browser, base: str, proxy_port: int, log_text: str) -> None:
    code = re.search(r"set-up code (\S+)", log_text).group(1)
    context = browser.new_context()
    page = context.new_page()
    shots = Shots(browser, base)

    # no default password: the set-up form, which needs the code from the log
    page.goto(base + "/")
    assert page.url.endswith("/setup")
    shots.take(context, "setup", "/setup")
    page.fill("input[name=code]", code)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button:has-text('Set the password')")
    page.wait_for_url("**/guide")

    # log out and in again through /login
    page.click("text=Log out")
    page.wait_for_url("**/login")
    shots.take(browser.new_context(), "login", "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base + "/")

    # a block rule for the kids, explained while it is typed
    page.goto(base + "/profiles/edit?name=kids")
    rule = page.locator("input[data-check-rule=block]")
    rule.type("games.example")
    explanation = page.locator("input[data-check-rule=block] ~ output.explain")
    explanation.filter(has_text="Blocks games.example and all its subdomains").wait_for()
    rule.press("Enter")
    page.locator("ul.rules code", has_text="games.example").wait_for()

    # the proxy blocks it for Sam's tablet, and the log says why
    assert proxy_status(proxy_port, "http://games.example/") == 403
    deadline = time.monotonic() + 10
    while True:
        page.goto(base + "/log?action=blocked")
        if page.locator("td.host", has_text="games.example").count():
            break
        assert time.monotonic() < deadline, "the blocked request never reached the log page"
        time.sleep(0.3)
    assert page.locator("tr.blocked", has_text="A parent blocked this site").count() == 1
    page.click("text=A parent blocked this site")
    page.locator("text=games.example was blocked for Sam's tablet").wait_for()

    # a bedtime changes the tester's answer
    tester = f"/tester?url=http%3A%2F%2Fwww.wikipedia.org%2F&device=Sam%27s+tablet&at={MONDAY_NIGHT}"
    page.goto(base + tester)
    assert "Allowed" in page.locator("#verdict").inner_text()
    page.goto(base + "/profiles/edit?name=kids")
    form = page.locator("form[action='/profiles/schedules/add']")
    form.locator("input[name=name]").fill("bedtime")
    form.locator("input[name=from]").fill("21:00")
    form.locator("input[name=to]").fill("07:00")
    form.locator("button").click()
    page.locator("svg.week").wait_for()
    page.goto(base + tester)
    verdict = page.locator("#verdict").inner_text()
    assert "Blocked" in verdict and "Bedtime until 07:00" in verdict

    # pause the tablet: filtering is off for it
    page.goto(base + "/devices")
    pause = page.locator("form.pause", has=page.locator("input[value=\"Sam's tablet\"]"))
    pause.locator("select[name=minutes]").select_option(label="30 minutes")
    pause.locator("button", has_text="Pause…").click()
    page.locator("text=Filtering paused until").first.wait_for()
    page.goto(base + "/tester?url=http%3A%2F%2Fgames.example%2F&device=Sam%27s+tablet")
    assert "Filtering is paused for the device Sam's tablet" in page.locator("#verdict").inner_text()

    for name, path in (("dashboard", "/"), ("devices", "/devices"), ("profiles", "/profiles"),
                       ("profile", "/profiles/edit?name=kids"), ("lists", "/lists"), ("log", "/log"),
                       ("tester", tester), ("settings", "/settings"), ("guide", "/guide")):
        shots.take(context, name, path)
    context.close()


def test_browser_story(browser, in_process) -> None:
    story(browser, *in_process)


def test_serve_story(browser, tmp_path: Path) -> None:
    proxy_port, web_port = free_port(), free_port()
    config = tmp_path / "guardian.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ntimezone = "Europe/London"\n'
                      f'[proxy]\nlisten = "127.0.0.1:{proxy_port}"\n[web]\nlisten = "127.0.0.1:{web_port}"\n{BODY}')
    process = GuardianProcess(config, tmp_path, proxy_port)
    try:
        deadline = time.monotonic() + 20
        while "set-up code" not in process.log():
            assert time.monotonic() < deadline, process.log()
            time.sleep(0.1)
        story(browser, f"http://127.0.0.1:{web_port}", proxy_port, process.log())
    finally:
        process.stop()
