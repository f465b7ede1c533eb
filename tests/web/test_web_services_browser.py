"""The services page in a real browser (Chromium through Playwright) against a whole
Guardian on loopback: block a service and see the proxy block it with its name, set a
time limit and see a device's use, give a reward of more minutes, see the dashboard bar."""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.household import source_bound_client, start_guardian
from tests.web.test_web_browser import ARGS, CHROMIUM, PASSWORD, _CodeCatcher

BODY = """
[[profiles]]
name = "kids"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
"""

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def guardian(tmp_path: Path) -> Iterator:
    catcher = _CodeCatcher()
    logging.getLogger("guardian").addHandler(catcher)
    try:
        running = start_guardian(tmp_path, BODY)
    finally:
        logging.getLogger("guardian").removeHandler(catcher)
    running.setup_log = catcher.text
    yield running
    running.stop()


def from_tablet(port: int, url: str) -> tuple[int, bytes]:
    """Status and answer for a page request from Sam's tablet (127.0.0.2)."""
    with source_bound_client(port, "127.0.0.2") as sock:
        host = url.split("/")[2]
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split()[1]), data


def test_block_a_service_set_a_limit_and_add_minutes(browser, guardian) -> None:
    base = f"http://{guardian.config.web.listen}"
    proxy_port = guardian.proxy.address[1]
    code = re.search(r"set-up code (\S+)", guardian.setup_log).group(1)
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/")
    page.fill("input[name=code]", code)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button:has-text('Set the password')")
    page.wait_for_url("**/guide")

    # From the profile to its services; search narrows the grid.
    page.goto(base + "/profiles/edit?name=kids")
    page.click("text=Services and time limits")
    page.wait_for_url("**/profiles/services?name=kids")
    assert page.locator("li.service").count() >= 80
    page.fill("input[data-service-search]", "tikt")
    assert page.locator("li.service:visible").count() == 1
    assert page.locator("span.letter:visible").inner_text() == "T"

    # Block TikTok: the grid says so, and the proxy blocks it, naming the service.
    page.click("button:has-text('Block TikTok')")
    page.locator("text=TikTok is blocked for kids.").wait_for()
    assert page.locator("li.service", has_text="TikTok").locator("small.state").inner_text() == "blocked"
    status, answer = from_tablet(proxy_port, "http://www.tiktok.com/@someone")
    assert status == 403 and b"TikTok is blocked for Kids" in answer
    deadline = time.monotonic() + 10
    while True:
        page.goto(base + "/log?action=blocked")
        if page.locator("td.host", has_text="TikTok (www.tiktok.com)").count():
            break
        assert time.monotonic() < deadline, "the block never reached the log page"
        time.sleep(0.3)

    # A limit of one minute of YouTube; one request uses it.
    page.goto(base + "/profiles/services?name=kids")
    form = page.locator("form[action='/profiles/limits/add']")  # open: there is no limit yet
    form.locator("select[name=service]").select_option("youtube")
    form.locator("input[name=minutes]").fill("1")
    form.locator("button").click()
    page.locator("text=YouTube: 1 minutes a day for kids.").wait_for()
    assert page.locator("li.service[data-service^='youtube youtube']").locator("small.state").inner_text() == \
        "limited: 1 min a day"
    from_tablet(proxy_port, "http://www.youtube.com/watch")  # decided (and counted) before any connection
    page.reload()
    usage = page.locator("li.usage", has_text="Sam's tablet")
    assert "1 of 1 min used, 0 left" in usage.inner_text()

    # A reward: 30 more minutes for Sam's tablet today.
    usage.locator("input[name=minutes]").fill("30")
    usage.locator("button").click()
    page.locator("text=Sam's tablet has 30 more minutes of YouTube today.").wait_for()
    usage = page.locator("li.usage", has_text="Sam's tablet")
    assert "1 of 31 min used, 30 left (30 added today)" in usage.inner_text()

    # The dashboard shows the time used with a bar.
    page.goto(base + "/")
    bar = page.locator("li.usage", has_text="Sam's tablet: YouTube")
    assert "1 of 31 min used, 30 left" in bar.inner_text()
    assert bar.locator("progress").get_attribute("value") == "1"
    context.close()
