"""Debian's Chromium for the browser tests, driven by Playwright for Python (never
`playwright install`: the browser comes from `.ci/install-system-deps`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Headless as root, and no background requests: this machine's network is closed.
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "a long household password"


def playwright_or_skip():
    """The module `playwright.sync_api`; skips the calling test module without Playwright or Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
    return sync_api

AXE = Path(__file__).resolve().parent / "axe" / "axe.min.js"  # axe-core, vendored (axe/README.md)
SERIOUS = ("serious", "critical")


def axe_violations(page, impacts: tuple[str, ...] = SERIOUS) -> list[str]:
    """axe-core's violations of `impacts` on the page as it is now, one line each
    ("rule: help (the first offending elements)"). Injected with `evaluate`, which the
    pages' Content-Security-Policy does not apply to, so the pages stay as they ship."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
    }""")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}" for v in found
            if v["impact"] in impacts]


class Transfer:
    """Bytes a page costs over the wire: every response's headers and body as Chromium
    received them (`request.sizes()`), counted from `start()` to `total()`."""

    def __init__(self, page) -> None:
        self.responses: list = []
        page.on("requestfinished", lambda request: self.responses.append(request))

    def start(self) -> None:
        self.responses.clear()

    def total(self) -> int:
        count = 0
        for request in self.responses:
            sizes = request.sizes()
            count += sizes["responseHeadersSize"] + sizes["responseBodySize"]
        return count
