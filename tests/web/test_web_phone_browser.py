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


def login(context, base: str):
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base + "/")
    return page


def test_form_errors_beside_the_field_with_what_was_typed(guardian, page) -> None:
    base = page.base
    page.goto(base + "/profiles/edit?name=kids")
    page.locator("summary", has_text="Add a schedule").click()
    form = page.locator("form[action='/profiles/schedules/add']")
    form.locator("input[name=name]").fill("Homework")
    form.locator("input[name=days][value=sun]").uncheck()
    form.locator("input[name=from]").fill("21:00")
    form.locator("input[name=to]").fill("21:00")
    form.locator("input[name=what][value=some]").check()
    form.locator("textarea[name=rules]").fill("youtube.com\ntiktok.com")
    form.locator("button").click()

    message = page.locator("#problem-to")
    assert message.inner_text() == "Until: the same as From, so this window would be empty."
    assert "profiles[" not in page.content() and "schedules[" not in page.content()
    until = form.locator("input[name=to]")
    assert message.is_visible() and abs(box(message)["y"] - (box(until)["y"] + box(until)["height"])) < 30
    assert form.locator("input[name=name]").input_value() == "Homework"
    assert form.locator("input[name=days][value=sun]").is_checked() is False
    assert form.locator("input[name=days][value=mon]").is_checked()
    assert form.locator("input[name=what][value=some]").is_checked()
    assert form.locator("textarea[name=rules]").input_value() == "youtube.com\ntiktok.com"
    assert page_width(page) <= PHONE["width"]
    # fixed where it was said, it is saved
    until.fill("22:00")
    form.locator("button").click()
    page.locator("h3", has_text="Homework").wait_for()

    # an address another device has: said with the device's name, what was typed kept
    page.goto(base + "/devices")
    page.locator("summary", has_text="Add a device by address").click()
    add = page.locator("form[action='/devices/name']:has(input[name=form][value=new])")
    add.locator("input[name=match]").fill("127.0.0.2")
    add.locator("input[name=name]").fill("Tablet twin")
    add.locator("select[name=profile]").select_option("kids")
    add.locator("button").click()
    assert page.locator("#problem-match").inner_text() == "This address already belongs to Kid tablet."
    assert add.locator("input[name=name]").input_value() == "Tablet twin"
    assert add.locator("select[name=profile]").input_value() == "kids"

    # changed somewhere else meanwhile: refused, the page is current, what was typed is kept
    add.locator("input[name=match]").fill("127.0.0.7")
    guardian.apply_config_edit(lambda doc: doc["devices"][0].__setitem__("name", "Kid tablet (Sam)"), None)
    add.locator("button").click()
    assert "changed somewhere else" in page.locator(".flash.error").inner_text()
    assert page.locator(".device b", has_text="Kid tablet (Sam)").count() == 1
    assert add.locator("input[name=match]").input_value() == "127.0.0.7"
    assert add.locator("input[name=name]").input_value() == "Tablet twin"
    add.locator("button").click()
    page.locator(".flash.ok", has_text="Tablet twin is now a named device").wait_for()
    assert [d.name for d in guardian.config.devices][-1] == "Tablet twin"


def test_the_devices_page_without_javascript(guardian, page) -> None:
    base = page.base
    context = page.context.browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = login(context, base)
    page.goto(base + "/devices")
    tablet = page.locator("article.device", has=page.locator("b", has_text="Kid tablet"))
    assert tablet.locator("header a.profile").inner_text() == "kids"  # without opening anything
    assert tablet.locator("form.pause button").count() == 1
    tablet.locator("form.pause select").select_option(label="1 hour")
    tablet.locator("form.pause button").click()
    page.locator(".flash.ok", has_text="Filtering is paused for the device Kid tablet").wait_for()
    [entry] = guardian.pauses.active()
    assert entry.name == "Kid tablet" and 3500 < entry.expires - time.time() <= 3600

    laptop = page.locator("article.device", has=page.locator("b", has_text="Living-room laptop"))
    laptop.locator("summary").click()
    laptop.locator("input[name=match]").fill("aa:bb:cc:dd:ee:0f")
    laptop.locator("button", has_text="Add the address").click()
    page.locator(".flash.ok", has_text="now also has aa:bb:cc:dd:ee:0f").wait_for()
    laptop.locator("summary").click()
    laptop.locator("a", has_text="Forget this device").click()
    page.locator("text=Forget Living-room laptop?").wait_for()
    assert any(d.name == "Living-room laptop" for d in guardian.config.devices)  # only asked so far
    page.locator("button", has_text="Forget Living-room laptop").click()
    page.locator(".flash.ok", has_text="no longer a named device").wait_for()
    assert [d.name for d in guardian.config.devices] == ["Kid tablet"]
    context.close()


LONG = "Supercalifragilisticexpialidocious" + "x" * 30  # 64 characters, no space
# the elements reaching past a phone's width, to say which one widened the page
WIDE_ELEMENTS = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"""


def test_a_long_name_never_widens_the_page_on_a_phone(guardian, page) -> None:
    base = page.base
    page.goto(base + "/profiles")
    page.fill("form[action='/profiles/create'] input[name=name]", LONG)
    page.click("form[action='/profiles/create'] button")
    page.wait_for_url("**/profiles/edit**")
    form = page.locator("form[action='/profiles/schedules/add']")
    form.locator("input[name=name]").fill(LONG)
    form.locator("button").click()
    page.locator("h3", has_text=LONG[:20]).wait_for()
    page.goto(base + "/devices")
    laptop = page.locator("article.device", has=page.locator("b", has_text="Living-room laptop"))
    laptop.locator("summary").click()
    laptop.locator("input[name=name]").fill(LONG)
    laptop.locator("select[name=profile]").select_option(LONG)
    laptop.locator("button", has_text="Save").click()
    page.locator(".flash.ok").wait_for()
    guardian.pauses.add_pause("device", LONG, 30)
    guardian.log_store.record(RequestRecord(
        started=time.time(), duration_ms=1.0, client_addr="127.0.0.3", method="GET", scheme="http",
        host="averyveryveryveryveryverylonghostnamewithoutanydots-and-more.example", port=80, target="/",
        status=200, device=LONG, profile=LONG))
    profile = "/profiles/edit?name=" + LONG
    for path in ("/", "/devices", "/profiles", profile, "/log", "/tester", "/profiles/services?name=" + LONG):
        page.goto(base + path)
        assert page.locator("body").inner_text().count(LONG[:20]) >= 1 or path in ("/tester", "/log"), path
        wide = page.evaluate(WIDE_ELEMENTS)
        assert page_width(page) <= PHONE["width"], (path, page_width(page), wide)
