"""The devices page: the profile on each card, one pause form with durations, forgetting
after a question on its own page, a second address, requests today for unnamed devices,
plurals said right."""

from __future__ import annotations

import re
import time

from tests.web.conftest import Web

TABLET = "Sam's tablet"


def card(page: str, name: str) -> str:
    start = page.index(f"<b>{name.replace(chr(39), '&#39;')}</b>")
    end = page.find('<article class="device"', start)
    return page[start:end if end != -1 else None]


def test_each_card_shows_its_profile_and_one_pause_form(admin: Web) -> None:
    page = admin.get("/devices").text
    tablet = card(page, TABLET)
    header = tablet[:tablet.index("</header>")]
    assert ">kids</a>" in header and "<details" not in header
    assert tablet.count('action="/devices/pause"') == 1
    assert re.findall(r'<option value="(\d+)"', tablet) == ["15", "30", "60", "120", "240"]
    assert "<option value=\"60\">1 hour</option>" in tablet and "<option value=\"30\" selected>30 minutes" in tablet
    admin.post("/devices/pause", {"device": TABLET, "minutes": "60"})
    [entry] = admin.household.pauses.active()
    assert 3590 < entry.expires - time.time() <= 3600
    tablet = card(admin.get("/devices").text, TABLET)
    assert "Filtering paused" in tablet and '<option value="15">+15 minutes</option>' in tablet


def test_forgetting_asks_first_on_a_page_of_its_own(admin: Web) -> None:
    page = admin.get("/devices").text
    assert 'href="/devices/forget?device=Sam&#39;s+tablet"' in page
    assert 'action="/devices/remove"' not in page  # nothing is forgotten in one tap
    question = admin.get("/devices/forget", query_string={"device": TABLET}).text
    assert "Forget Sam&#39;s tablet?" in question and 'action="/devices/remove"' in question
    assert admin.get("/devices/forget", query_string={"device": "Nobody"}).status_code == 404
    assert any(d.name == TABLET for d in admin.household.config.devices)
    admin.post("/devices/remove", {"device": TABLET})
    assert not admin.household.config.devices


def test_a_second_address_is_added_and_removed(admin: Web) -> None:
    admin.post("/devices/address/add", {"device": TABLET, "form": TABLET, "match": "AA-BB-CC-DD-EE-01"})
    [tablet] = admin.household.config.devices
    assert tablet.match == ("127.0.0.2", "aa:bb:cc:dd:ee:01")
    assert admin.household.policy.policy.explain("https://tiktok.com/", "127.0.0.2")["action"] == "block"
    response = admin.post("/devices/address/add", {"device": TABLET, "form": TABLET, "match": "aa:bb:cc:dd:ee:01"})
    assert response.status_code == 400 and "already has the address aa:bb:cc:dd:ee:01" in response.text
    response = admin.post("/devices/address/add", {"device": TABLET, "form": TABLET, "match": "nonsense"})
    assert 'value="nonsense"' in response.text and "Address: an IP address" in response.text
    admin.post("/devices/address/remove", {"device": TABLET, "match": "127.0.0.2"})
    assert admin.household.config.devices[0].match == ("aa:bb:cc:dd:ee:01",)
    page = admin.post("/devices/address/remove", {"device": TABLET, "match": "aa:bb:cc:dd:ee:01"},
                      follow_redirects=True).text
    assert "the only address of Sam&#39;s tablet" in page
    assert admin.household.config.devices[0].match == ("aa:bb:cc:dd:ee:01",)


def test_no_empty_table_and_requests_today_for_unnamed_devices(admin: Web) -> None:
    page = admin.get("/devices").text
    assert "No unnamed devices" in page and "<th>Address</th>" not in page
    admin.household.devices_seen.note("127.0.0.9", time.time())
    admin.household.devices_seen.flush()
    for _ in range(3):
        admin.household.log(host="a.example", client_addr="127.0.0.9", device=None, profile="default")
    admin.household.log(host="a.example", client_addr="127.0.0.2", device=TABLET, profile="kids")
    page = admin.get("/devices").text
    assert "<th>Requests today</th>" in page
    row = page[page.index("<td>127.0.0.9</td>"):]
    assert row.index('<td class="today">3</td>') < row.index("</tr>")
    assert "1 request today" in card(page, TABLET)


def test_plurals(admin: Web) -> None:
    admin.post("/profiles/schedules/add", {"profile": "kids", "name": "Bedtime", "days": ["mon"], "from": "21:00",
                                           "to": "07:00", "what": "all"})
    page = admin.get("/profiles").text
    assert re.search(r"\b1 schedule\b", page) and "0 schedules" in page
    assert "1 schedules" not in page and "2 lists" in page
