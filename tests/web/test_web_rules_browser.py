"""Parents' rules in a real browser (Chromium through Playwright) against a whole
Guardian on loopback: what is typed is explained as it is typed, the way the policy will
read it; a rule that can never match cannot be submitted; a rule blocking every site is
saved only with "I mean it" ticked; the tester tells the truth about HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guardian.web.credentials import Credentials
from tests.support.browser import ARGS, CHROMIUM, PASSWORD, playwright_or_skip
from tests.support.household import start_guardian

BODY = """
[[profiles]]
name = "kids"

[[devices]]
name = "Sam's tablet"
match = ["127.0.0.2"]
profile = "kids"
"""

sync_api = playwright_or_skip()


@pytest.fixture
def page(tmp_path: Path) -> Iterator:
    guardian = start_guardian(tmp_path, BODY)
    Credentials(guardian.data_dir).set_password(PASSWORD)
    base = f"http://{guardian.config.web.listen}"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(base + "/login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(base + "/")
        page.base = base
        yield page
        browser.close()
    guardian.stop()


def test_typed_rules_in_the_browser(page) -> None:
    base = page.base
    page.goto(base + "/profiles/edit?name=kids")
    rule = page.locator("input[data-check-rule=block]")
    explanation = page.locator("input[data-check-rule=block] ~ output.explain")
    confirm = page.locator("input[data-check-rule=block] ~ label.confirm")
    rules = page.locator("ul.rules code")

    rule.fill("https://www.tiktok.com/")
    explanation.filter(has_text="whole site tiktok.com").wait_for()
    explanation.filter(has_text="over HTTP and HTTPS").wait_for()
    rule.press("Enter")
    rules.filter(has_text="tiktok.com").wait_for()

    # never matches: explained, and the browser will not submit it
    page.locator("input[data-check-rule=block]").fill("tik tok")
    explanation = page.locator("input[data-check-rule=block] ~ output.explain")
    explanation.filter(has_text="contains a space").wait_for()
    assert not page.locator("input[data-check-rule=block]").evaluate("e => e.checkValidity()")

    # every site: the "I mean it" box appears, and the rule is saved only with it ticked
    rule = page.locator("input[data-check-rule=block]")
    rule.fill("*")
    explanation.filter(has_text="blocks every site").wait_for()
    assert confirm.is_visible()
    rule.press("Enter")
    page.locator(".flash", has_text="I mean it").wait_for()
    assert page.locator("ul.rules code", has_text="*").count() == 0
    rule = page.locator("input[data-check-rule=block]")
    rule.fill("*")
    page.locator("input[data-check-rule=block] ~ label.confirm").wait_for(state="visible")
    page.locator("input[data-check-rule=block] ~ label.confirm input").check()
    page.locator("input[data-check-rule=block] ~ button").click()
    page.locator("ul.rules code", has_text="*").wait_for()

    # a page rule, and what the tester says about its https:// address
    rule = page.locator("input[data-check-rule=allow]")
    rule.fill("https://school.example/homework")
    page.locator("input[data-check-rule=allow] ~ output.explain").filter(
        has_text="the page part does not apply").wait_for()
    page.goto(base + "/tester?url=https%3A%2F%2Fwww.tiktok.com%2Fvideo&device=Sam%27s+tablet")
    verdict = page.locator("#verdict").inner_text()
    assert "Blocked" in verdict and "sees only the site name (www.tiktok.com)" in verdict
