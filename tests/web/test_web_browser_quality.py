"""Issue 17 items 7, 8 and 9 in Chromium against a whole Guardian on loopback: axe-core
finds no serious or critical problem on any page (settings pages, set-up, login, trust,
block pages), every page costs at most 100 KB over the wire, chart labels are readable
on a phone, the favicon is served, a blocked frame holds one quiet line, and the core
actions (pause, allow a site, block a site) work with JavaScript switched off."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from guardian.service import Guardian
from guardian.web.credentials import Credentials
from tests.support.browser import ARGS, CHROMIUM, PASSWORD, Transfer, axe_violations, playwright_or_skip
from tests.support.household import source_bound_client, start_guardian

sync_api = playwright_or_skip()

HOUSEHOLD = """
[[profiles]]
name = "default"
block = ["ads.example"]

[[profiles]]
name = "kids"
block = ["games.example"]
youtube = "strict"

[[profiles.schedules]]
name = "Bedtime"
days = ["sun", "mon", "tue", "wed", "thu"]
from = "21:00"
to = "07:00"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
"""
MAX_PAGE = 100 * 1024
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def guardian(tmp_path_factory) -> Iterator[Guardian]:
    g = start_guardian(tmp_path_factory.mktemp("household"), HOUSEHOLD)
    for host in ("games.example", "games.example", "ads.example"):  # something for the log and the charts
        with source_bound_client(g.proxy.address[1], "127.0.0.2") as sock:
            sock.sendall(f"GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            sock.recv(65536)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator:
    with sync_api.sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright) -> Iterator:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield chromium
    chromium.close()


def base(g: Guardian) -> str:
    return f"http://{g.config.web.listen}"


def log_in(context, g: Guardian):
    credentials = Credentials(g.data_dir)
    if not credentials.has_password():
        credentials.set_password(PASSWORD)
    page = context.new_page()
    page.goto(base(g) + "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base(g) + "/")
    return page


def check_page(page, transfer: Transfer, url: str, size: dict) -> list[str]:
    """Open `url` at `size`; the problems found (axe, weight), as lines."""
    page.set_viewport_size(size)
    transfer.start()
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    problems = [f"{url}: {line}" for line in axe_violations(page)]
    if response is None or response.status >= 500:
        problems.append(f"{url}: answered {response.status if response else 'nothing'}")
    weight = transfer.total()
    if weight > MAX_PAGE:
        problems.append(f"{url}: {weight} bytes over the wire (at most {MAX_PAGE})")
    return problems


SETTINGS_PAGES = (
    "/", "/devices", "/profiles", "/profiles/edit?name=kids", "/profiles/services?name=kids", "/lists",
    "/log", "/log?action=blocked", "/tester?url=youtube.com&device=Sam%27s+tablet",
    "/tester?url=not+a+url+at+all&device=Sam%27s+tablet", "/settings", "/settings/file", "/guide", "/trust",
)


def test_every_page_passes_axe_and_weighs_at_most_100_kb(browser, guardian: Guardian) -> None:
    context = browser.new_context()
    page = context.new_page()
    transfer = Transfer(page)
    problems: list[str] = []
    if not Credentials(guardian.data_dir).has_password():  # the set-up page exists until a password is set
        problems += check_page(page, transfer, base(guardian) + "/setup", PHONE)
    log_in(context, guardian).close()
    logged_out = browser.new_context()
    outside = logged_out.new_page()
    problems += check_page(outside, Transfer(outside), base(guardian) + "/login", PHONE)
    logged_out.close()
    deadline = time.monotonic() + 10
    while True:  # the log writer takes a moment
        page.goto(base(guardian) + "/log?action=blocked")
        link = page.locator("tr.blocked a[href^='/log/']")
        if link.count():
            break
        assert time.monotonic() < deadline, "the blocked requests never reached the log page"
        time.sleep(0.3)
    why = link.first.get_attribute("href")
    for path in (*SETTINGS_PAGES, why):
        for size in (PHONE, DESKTOP):
            problems += check_page(page, transfer, base(guardian) + path, size)
    context.close()
    assert not problems, "\n".join(problems)


def test_chart_and_week_labels_are_readable_on_a_phone(browser, guardian: Guardian) -> None:
    context = browser.new_context(viewport=PHONE)
    page = log_in(context, guardian)
    for path, selector in (("/", "svg.chart"), ("/profiles/edit?name=kids", "svg.week")):
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            page.goto(base(guardian) + path)
            labels = page.evaluate("""(selector) => [...document.querySelectorAll(selector + ' text.tick')].map((t) => {
                const box = t.getBoundingClientRect(), svg = t.ownerSVGElement.getBoundingClientRect();
                return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
                        inside: box.left >= svg.left - 0.5 && box.right <= svg.right + 0.5
                                && box.bottom <= svg.bottom + 0.5};
            })""", selector)
            assert labels, (path, selector)
            small = [label for label in labels if label["px"] < 11]
            assert not small, (path, size, small)
            clipped = [label["text"] for label in labels if not label["inside"]]
            assert not clipped, (path, size, clipped)
            if selector == "svg.week":
                assert "24:00" in [label["text"] for label in labels]
    context.close()


def test_the_favicon_is_served_and_no_page_asks_for_a_missing_one(browser, guardian: Guardian) -> None:
    context = browser.new_context()
    missing: list[str] = []
    context.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page = log_in(context, guardian)
    page.goto(base(guardian) + "/lists")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    answer = page.request.get(base(guardian) + icon)
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in answer.body()
    logged_out = browser.new_context()
    ico = logged_out.request.get(base(guardian) + "/favicon.ico")  # no session: browsers ask before logging in
    assert ico.status == 200 and ico.headers["content-type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    assert ico.body()[:4] == b"\x00\x00\x01\x00"
    logged_out.close()
    assert not missing, missing
    context.close()


def test_core_actions_work_without_javascript(browser, guardian: Guardian) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = log_in(context, guardian)
    policy = guardian.policy

    # block a site, then allow one, on the kids' profile
    page.goto(base(guardian) + "/profiles/edit?name=kids")
    form = page.locator("form:has(input[data-check-rule=block])")
    form.locator("input[name=rule]").fill("videos.example")
    form.locator("button", has_text="Add").click()
    page.locator("ul.rules code", has_text="videos.example").wait_for()
    assert policy.policy.explain("https://videos.example/", "127.0.0.2", _daytime())["action"] == "block"
    form = page.locator("form:has(input[data-check-rule=allow])")
    form.locator("input[name=rule]").fill("games.example")
    form.locator("button", has_text="Add").click()
    page.locator("text=Save it anyway").or_(page.locator("ul.rules code", has_text="games.example")).first.wait_for()
    if page.locator("text=Save it anyway").count():  # the page asks first: the parents' own block rule beats it
        page.click("text=Save it anyway")
    page.locator("ul.rules code", has_text="games.example").nth(1).wait_for()
    assert "games.example" in guardian.config.profile("kids").allow

    # pause Sam's tablet
    page.goto(base(guardian) + "/devices")
    card = page.locator("article.device", has_text="Sam's tablet")
    pause = card.locator("form[action='/devices/pause']").first
    if pause.locator("select[name=minutes]").count():
        pause.locator("select[name=minutes]").select_option("30")
    pause.locator("button").first.click()
    page.locator("text=Filtering paused until").first.wait_for()
    assert "paused" in policy.policy.explain("http://videos.example/", "127.0.0.2")["reason"]
    for entry in guardian.pauses.active():
        guardian.pauses.cancel(entry.id)
    context.close()


def _daytime():
    from datetime import datetime

    return datetime(2026, 11, 30, 12, 0)  # a Monday noon: outside bedtime


# ---------------------------------------------------------------- block pages and frames

class _FramePage(BaseHTTPRequestHandler):
    """A page with two ad slots: one over HTTPS, one over plain HTTP, both to a blocked host."""

    body = (b"<!doctype html><html lang=en><head><meta charset=utf-8><title>News</title></head><body>"
            b"<h1>Today's news</h1><iframe id=secure title='advert' src='https://ads.example/slot' width=300 "
            b"height=250></iframe><iframe id=plain title='advert' src='http://ads.example/slot' width=300 "
            b"height=250></iframe></body></html>")

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


def _nss_home(root: Path, ca_file: Path) -> Path:
    """A HOME whose NSS database (Chromium's trust store on Linux) holds Guardian's CA."""
    db = root / "home" / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{db}"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-n", "Guardian", "-t", "C,,", "-i", str(ca_file), "-d", f"sql:{db}"],
                   check=True, capture_output=True)
    return root / "home"


@pytest.mark.skipif(not shutil.which("certutil"), reason="needs certutil (.ci/install-system-deps)")
def test_block_pages_and_a_blocked_frame(playwright, guardian: Guardian, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FramePage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = _nss_home(tmp_path, guardian.data_dir / "tls" / "ca.crt")
    shots = Path(os.environ["GUARDIAN_SCREENSHOTS"]) if os.environ.get("GUARDIAN_SCREENSHOTS") else tmp_path
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, env={**os.environ, "HOME": str(home)},
            args=[*ARGS, f"--proxy-server=http://127.0.0.1:{guardian.proxy.address[1]}",
                  "--proxy-bypass-list=<-loopback>"])
        try:
            page = chromium.new_page(viewport=PHONE)
            transfer = Transfer(page)
            problems: list[str] = []
            for url in ("http://ads.example/banner?id=1", "https://ads.example/banner?id=1"):
                problems += check_page(page, transfer, url, PHONE)
                assert page.locator("h1", has_text="This page is blocked").is_visible()
                assert page.locator("h1 svg").count() == 1  # the stop sign is drawn, not an emoji
            assert not problems, "\n".join(problems)

            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shots / "blocked-frame-phone.png"))
            for frame_id in ("secure", "plain"):
                frame = page.frame_locator(f"#{frame_id}")
                frame.locator("text=Blocked by Guardian: A parent blocked this site").wait_for()
                assert not frame.locator("h1").is_visible(), frame_id
                inner = next(f for f in page.frames if f.parent_frame is not None and f.name == ""
                             and f.frame_element().get_attribute("id") == frame_id)
                assert not axe_violations(inner), frame_id
            # over HTTPS the browser names the frame (Sec-Fetch-Dest): the answer holds no heading at all
            secure = next(f for f in page.frames if f.url.startswith("https://ads.example/"))
            assert secure.evaluate("document.querySelectorAll('h1, h2, main').length") == 0
            assert re.fullmatch(r"Blocked by Guardian: A parent blocked this site",
                                secure.evaluate("document.body.innerText").strip())
        finally:
            chromium.close()
    finally:
        server.shutdown()


# ---------------------------------------------------------------- the lists page while a download runs

class _SlowList(BaseHTTPRequestHandler):
    """A list that is served only once the test lets it go."""

    release = threading.Event()

    def do_GET(self) -> None:
        self.release.wait(20)
        body = b"slow-one.example\nslow-two.example\nslow-three.example\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_the_lists_page_shows_the_download_ending_by_itself(browser, guardian: Guardian) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowList)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context(viewport=PHONE)
    try:
        page = log_in(context, guardian)
        page.goto(base(guardian) + "/lists")
        form = page.locator("form[action='/lists/add']")
        form.locator("input[name=name]").fill("Slow school list")
        form.locator("input[name=url]").fill(f"http://127.0.0.1:{server.server_address[1]}/list.txt")
        form.locator("select[name=format]").select_option("domains")
        form.locator("button").click()
        page.locator("p.flash.ok", has_text="Subscribed to Slow school list").wait_for()
        assert page.locator("p.flash").count() == 1  # one message
        article = page.locator("article.list", has_text="Slow school list")
        article.locator("[data-downloading]", has_text="Downloading now…").wait_for()
        page.evaluate("window.notReloaded = true")
        page.locator("input[name=name]").fill("typed, not lost")
        _SlowList.release.set()
        article = page.locator("article.list", has_text="Slow school list")
        article.locator(".rules", has_text="3 rules").wait_for(timeout=15000)
        assert page.evaluate("window.notReloaded === true")  # the list's part changed, not the page
        assert page.locator("input[name=name]").input_value() == "typed, not lost"
        assert not page.locator("[data-downloading]").count()
        assert guardian.policy.policy.explain("http://slow-two.example/", "127.0.0.1")["action"] == "block"

        # turned off, the list says so, and "Turn on" looks as pressable as any button
        article.locator("button", has_text="Turn off").click()
        page.locator("p.flash.ok", has_text="Slow school list turned off.").wait_for()
        article = page.locator("article.list", has_text="Slow school list")
        assert article.locator(".status", has_text="turned off").is_visible()
        look = article.locator("button", has_text="Turn on").evaluate("""(button) => {
            let opacity = 1;
            for (let e = button; e; e = e.parentElement) opacity *= parseFloat(getComputedStyle(e).opacity);
            const style = getComputedStyle(button);
            return {opacity, background: style.backgroundColor, cursor: style.cursor};
        }""")
        assert look == {"opacity": 1, "background": "rgb(31, 95, 191)", "cursor": "pointer"}
        assert not axe_violations(page)
    finally:
        context.close()
        server.shutdown()
