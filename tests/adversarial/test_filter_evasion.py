"""A kid's device dressing up a blocked URL: percent-encoded unreserved characters are
decoded before matching (as browsers and uBlock Origin see URLs), over the real proxy."""

from __future__ import annotations

import pytest

from tests.support.client import RawClient
from tests.support.household import start_guardian


@pytest.fixture
def guardian(tmp_path):
    rules = tmp_path / "house.txt"
    rules.write_text("[Adblock Plus 2.0]\n/badpath/*\n||ads.example^\n")
    started = start_guardian(tmp_path, f'[[lists]]\nid = "house"\nurl = "{rules}"\nformat = "abp"\n')
    yield started
    started.stop()


@pytest.mark.parametrize(
    "target",
    ["http://site.example/%62adpath/x", "http://site.example/%62%61%64path/x", "http://site.example/b%41dpath/x",
     "http://site.example/badpath/x"],
)
def test_encoded_path_is_still_blocked(guardian, target):
    client = RawClient(guardian.proxy.address[1])
    client.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n".encode())
    response = client.read_response()
    assert response.status == 403, target  # before the fix: allowed, then 502 (no internet here)
    assert response.header("x-guardian-block") == 'On the block list "house"'
