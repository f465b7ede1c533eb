"""A blocked HTTPS site in headless Chromium that trusts Guardian's certificate (NSS db):
the child sees Guardian's block page with the reason and the device, not a tunnel error."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.household import start_guardian

CHROMIUM = "/usr/bin/chromium"
# With GUARDIAN_SCREENSHOTS=DIR set, the block page is also saved as DIR/https-block-page-phone.png
# (docs/screenshots is refreshed that way, not by every test run).
SCREENSHOTS = Path(os.environ["GUARDIAN_SCREENSHOTS"]) if os.environ.get("GUARDIAN_SCREENSHOTS") else None

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
if not shutil.which(CHROMIUM) or not shutil.which("certutil"):
    pytest.skip("needs Chromium and certutil (.ci/install-system-deps)", allow_module_level=True)

HOUSEHOLD = """
[[profiles]]
name = "default"
block = ["tiktok.com"]
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.1"]
"""


def _nss_home(tmp_path: Path, ca_file: Path | None) -> Path:
    """A HOME whose NSS database (Chromium's trust store on Linux) holds Guardian's CA."""
    home = tmp_path / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{db}"], check=True, capture_output=True)
    if ca_file is not None:
        subprocess.run(["certutil", "-A", "-n", "Guardian", "-t", "C,,", "-i", str(ca_file), "-d", f"sql:{db}"],
                       check=True, capture_output=True)
    return home


def _open(tmp_path: Path, port: int, home: Path, url: str, screenshot: Path | None = None):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, env={**os.environ, "HOME": str(home)},
            args=["--no-sandbox", f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>"])
        try:
            page = browser.new_page(viewport={"width": 412, "height": 860})
            try:
                page.goto(url, timeout=15000)
            except sync_api.Error as exc:
                return None, str(exc)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            return page.content(), None
        finally:
            browser.close()


def test_a_blocked_https_site_shows_the_block_page_in_chromium(tmp_path):
    guardian = start_guardian(tmp_path, HOUSEHOLD)
    try:
        port = guardian.proxy.address[1]
        home = _nss_home(tmp_path, guardian.data_dir / "tls" / "ca.crt")
        shot = None
        if SCREENSHOTS is not None:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOTS / "https-block-page-phone.png"
        html, error = _open(tmp_path, port, home, "https://www.tiktok.com/@someone", shot)
        assert error is None, error
        assert "This page is blocked" in html and "https://www.tiktok.com/@someone" in html
        assert "A parent blocked this site" in html and "Sam's tablet" in html

        # A browser that does not trust Guardian sees a certificate error, and Guardian notes it.
        _, error = _open(tmp_path, port, _nss_home(tmp_path / "untrusting", None), "https://www.tiktok.com/")
        assert error is not None and "ERR_CERT_AUTHORITY_INVALID" in error
        assert guardian.ctx.tls.trust.status("127.0.0.1")[0] is False
    finally:
        guardian.stop()
