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
from tests.web.test_web_browser import ARGS, CHROMIUM, PASSWORD, Shots, _CodeCatcher

TABLET = "Sam's tablet"
BODY = """
[[profiles]]
name = "kids"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"

[[devices]]
name = "Alex's phone"
match = ["127.0.0.3"]
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


def signed_in(browser, guardian) -> tuple:
    """A browser context and page past the set-up form, and the page's base address."""
    base = f"http://{guardian.config.web.listen}"
    code = re.search(r"set-up code (\S+)", guardian.setup_log).group(1)
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/")
    page.fill("input[name=code]", code)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button:has-text('Set the password')")
    page.wait_for_url("**/guide")
    return context, page, base


def test_block_a_service_set_a_limit_and_add_minutes(browser, guardian) -> None:
    context, page, base = signed_in(browser, guardian)
    proxy_port = guardian.proxy.address[1]

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


def test_other_minutes_at_weekends_and_the_time_used_pictures(browser, guardian) -> None:
    """A limit with weekend minutes set in the form, a device's use of it on the services
    page and the dashboard; with GUARDIAN_SCREENSHOTS set, the pictures for docs/web.md."""
    context, page, base = signed_in(browser, guardian)
    page.goto(base + "/profiles/services?name=kids")
    form = page.locator("form[action='/profiles/limits/add']")
    form.locator("select[name=service]").select_option("youtube")
    form.locator("input[name=minutes]").fill("60")
    form.locator("input[name=weekend_minutes]").fill("120")
    form.locator("button").click()
    page.locator("text=YouTube: 60 minutes on weekdays and 120 at weekends for kids.").wait_for()
    assert page.locator("article.limit h3").inner_text() == "YouTube 60 min on weekdays, 120 min at weekends"
    page.click("summary:has-text('Add a limit')")
    form.locator("select[name=service]").select_option("games")
    form.locator("input[name=minutes]").fill("90")
    form.locator("input[name=shared]").check()
    form.locator("button").click()
    page.locator("text=Games: 90 minutes a day for kids.").wait_for()
    for name in ("TikTok", "Snapchat"):
        page.click(f"button:has-text('Block {name}')")
        page.locator(f"text={name} is blocked for kids.").wait_for()

    # Earlier today Sam watched for a while; now one more request.
    policy = guardian.policy.policy
    meter = policy.usage
    limit = next(lim for lim in policy.service_rules["kids"].all_limits if lim.name == "YouTube")
    who = limit.who("kids", TABLET, "")
    start = time.time()
    day, weekday = meter.day_of(start)
    earlier = [start - 60 * k for k in range(1, 25) if meter.day_of(start - 60 * k)[0] == day]
    for moment in earlier:
        meter.note(who, "YouTube", moment)
    from_tablet(guardian.proxy.address[1], "http://www.youtube.com/watch")
    used, allowed = 1 + len(earlier), limit.minutes[weekday]
    assert allowed == (60 if weekday < 5 else 120)
    # Both children played games: the shared limit shows their common use on each device.
    games = next(lim for lim in policy.service_rules["kids"].all_limits if lim.name == "Games")
    played = [start - 60 * k for k in range(1, 41) if meter.day_of(start - 60 * k)[0] == day]
    for k, moment in enumerate(played):
        meter.note(games.who("kids", TABLET if k % 2 else "Alex's phone", ""), "Games", moment)

    page.reload()
    usage = page.locator("article.limit", has_text="YouTube").locator("li.usage", has_text=TABLET)
    assert f"{used} of {allowed} min used, {allowed - used} left" in usage.inner_text()
    alex = page.locator("article.limit", has_text="YouTube").locator("li.usage", has_text="Alex's phone")
    assert f"0 of {allowed} min used, {allowed} left" in alex.inner_text()
    page.goto(base + "/")
    bar = page.locator("li.usage", has_text=f"{TABLET}: YouTube")
    assert bar.locator("progress").get_attribute("value") == str(used)
    assert bar.locator("progress").get_attribute("max") == str(allowed)
    for device in (TABLET, "Alex's phone"):
        shared = page.locator("li.usage", has_text=f"{device}: Games")
        assert f"{len(played)} of 90 min used, {90 - len(played)} left" in shared.inner_text()
    deadline = time.monotonic() + 10
    while "1\nrequest today" not in page.locator("section.tiles").inner_text():
        assert time.monotonic() < deadline, "the request never reached the dashboard"
        time.sleep(0.3)
        page.reload()

    shots = Shots(browser, base)
    shots.take(context, "services", "/profiles/services?name=kids")
    shots.take(context, "dashboard-time", "/")
    context.close()
