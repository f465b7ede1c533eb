"""The settings page on a phone (390x844) and a desktop, in Debian's Chromium through
Playwright, against a whole Guardian on loopback: the log as cards on a phone and a
table on a desktop, form errors beside their field in the form's words with what was
typed kept, the devices page, and long names that never widen the page.

With GUARDIAN_SCREENSHOTS=DIR set, the log at phone width is saved as DIR/log-phone.png.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardian.records import RequestRecord
from guardian.web.credentials import Credentials
from tests.support.browser import ARGS, CHROMIUM, PASSWORD, playwright_or_skip
from tests.support.household import start_guardian

BODY = """
[[profiles]]
name = "kids"

[[profiles.schedules]]
name = "Bedtime"
from = "21:00"
to = "07:00"

[[devices]]
name = "Kid tablet"
match = ["127.0.0.2"]
profile = "kids"

[[devices]]
name = "Living-room laptop"
match = ["127.0.0.3"]
"""
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

sync_api = playwright_or_skip()


@pytest.fixture
def guardian(tmp_path: Path) -> Iterator:
    guardian = start_guardian(tmp_path, BODY)
    Credentials(guardian.data_dir).set_password(PASSWORD)
    yield guardian
    guardian.stop()


@pytest.fixture
def page(guardian) -> Iterator:
    base = f"http://{guardian.config.web.listen}"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport=PHONE)
        page.goto(base + "/login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(base + "/")
        page.base = base
        yield page
        browser.close()


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None
    return found


def _log_some_requests(guardian) -> None:
    now = time.time()
    rows = [("127.0.0.2", "Kid tablet", "kids", "securepubads.g.doubleclick.net", "blocked",
             "On the list EasyList (advertising)"),
            ("127.0.0.3", "Living-room laptop", "default", "www.wikipedia.org", "allowed", None),
            ("127.0.0.2", "Kid tablet", "kids", "games.example", "blocked", "A parent blocked this site")]
    for i, (addr, device, profile, host, action, reason) in enumerate(rows):
        guardian.log_store.record(RequestRecord(
            started=now - 60 + i, duration_ms=3.0, client_addr=addr, method="GET", scheme="http", host=host,
            port=80, target="/", status=403 if action == "blocked" else 200, action=action, device=device,
            profile=profile, reason=reason))


def test_the_log_is_cards_on_a_phone_and_a_table_on_a_desktop(guardian, page) -> None:
    _log_some_requests(guardian)
    deadline = time.monotonic() + 10
    while True:
        page.goto(page.base + "/log")
        if page.locator("td.host", has_text="doubleclick").count():
            break
        assert time.monotonic() < deadline, "the requests never reached the log page"
        time.sleep(0.2)

    # the search is folded: the first screen shows requests, not a form
    search = page.locator("details.log-search")
    assert search.get_attribute("open") is None
    assert not page.locator("form.search input[name=host]").is_visible()
    first = page.locator("table.log tbody tr", has_text="doubleclick")
    assert box(first)["y"] < PHONE["height"] / 2
    assert page_width(page) <= PHONE["width"]

    # time, device and site on one line; what and why on the next; the site is not squeezed
    when, who, host = (box(first.locator(f"td.{name}")) for name in ("when", "who", "host"))
    what, why = box(first.locator("td.what")), box(first.locator("td.why"))
    assert host["width"] >= 150, host
    assert abs(when["y"] - who["y"]) < 4 and who["x"] > when["x"]
    assert what["y"] >= max(when["y"] + when["height"], host["y"]) - 1
    assert abs(what["y"] - why["y"]) < 4
    assert why["x"] + why["width"] <= PHONE["width"]
    assert first.locator("td.host").inner_text().strip() == "securepubads.g.doubleclick.net"
    assert box(first.locator("td.host"))["height"] < 3 * 24  # a few lines at most, never a letter column
    short = page.locator("table.log tbody tr", has_text="games.example")
    assert abs(box(short.locator("td.host"))["y"] - box(short.locator("td.when"))["y"]) < 4  # all on one line
    if os.environ.get("GUARDIAN_SCREENSHOTS"):
        folder = Path(os.environ["GUARDIAN_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "log-phone.png"), full_page=False)

    # the search opens with a tap and keeps what was searched
    page.locator("details.log-search > summary").click()
    page.fill("form.search input[name=host]", "games")
    page.locator("form.search button").click()
    page.wait_for_url("**host=games**")
    assert page.locator("details.log-search").get_attribute("open") is not None
    assert page.locator("td.host").all_inner_texts() == ["games.example"]

    # a desktop gets the table with its header, and the search open
    page.set_viewport_size(DESKTOP)
    page.goto(page.base + "/log")
    assert page.locator("table.log thead th", has_text="Site").is_visible()
    assert page.locator("form.search input[name=host]").is_visible()
    row = page.locator("table.log tbody tr", has_text="doubleclick")
    cells = [box(row.locator(f"td.{name}")) for name in ("when", "who", "host", "what", "why")]
    assert len({round(c["y"]) for c in cells}) == 1, cells  # one row of a table
    assert page.evaluate("getComputedStyle(document.querySelector('table.log')).display") == "table"
