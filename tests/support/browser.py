"""Debian's Chromium for the browser tests, driven by Playwright for Python (never
`playwright install`: the browser comes from `.ci/install-system-deps`)."""

from __future__ import annotations

import shutil

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
