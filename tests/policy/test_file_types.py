"""Blocking downloads by file kind, through the real proxy core against a recording origin."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guardian.config import ConfigError, parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.policy.filetypes import FileTypeRules, disposition_file_name
from tests.support.client import RawClient

LONDON = ZoneInfo("Europe/London")

CONFIG = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[[profiles]]
name = "default"
[[profiles]]
name = "Kids"
block_file_types = ["programs", "mobile-apps", "torrents", "blend"]
[[profiles.schedules]]
name = "school nights"
from = "{active_from}"
to = "{active_to}"
block_file_types = ["archives"]
[[profiles.schedules]]
name = "someday"
from = "{idle_from}"
to = "{idle_to}"
block_file_types = ["disk-images"]
[[devices]]
name = "Sam's laptop"
match = ["127.0.0.1"]
profile = "Kids"
"""

PAGE = b"Accept: text/html,*/*;q=0.8\r\nSec-Fetch-Dest: document\r\n"


def _config_text(tmp_path: Path, device_profile: str = "Kids") -> str:
    now = datetime.now(LONDON)
    clock = lambda t: t.strftime("%H:%M")  # noqa: E731
    text = CONFIG.format(
        data_dir=tmp_path,
        active_from=clock(now - timedelta(hours=2)), active_to=clock(now + timedelta(hours=2)),
        idle_from=clock(now + timedelta(hours=5)), idle_to=clock(now + timedelta(hours=6)),
    )
    return text.replace('profile = "Kids"', f'profile = "{device_profile}"')


@pytest.fixture
def kids_proxy(make_proxy, tmp_path: Path):
    holder = PolicyHolder(Policy(parse_config(_config_text(tmp_path)), {}))
    return make_proxy(decider=holder)


def _get(port: int, url: str, extra: bytes = PAGE):
    client = RawClient(port)
    host = url.split("/")[2]
    client.send(f"GET {url} HTTP/1.1\r\nHost: {host}\r\n".encode() + extra + b"\r\n")
    response = client.read_response()
    client.close()
    return response


@pytest.mark.parametrize("path", ["/files/game.apk", "/files/SETUP.EXE", "/files/setup%2Eexe", "/x/Game.Apk",
                                  "/files/movie.torrent", "/announce?info_hash=%12%34&peer_id=x"])
def test_a_blocked_kind_in_the_address_gets_the_block_page_and_never_reaches_the_origin(
        kids_proxy, origin, path: str) -> None:
    page = _get(kids_proxy.port, f"{origin.base}{path}")
    assert page.status == 403
    assert b"are blocked for Kids" in page.body
    assert origin.stats.requests == []
    record = kids_proxy.recorder.wait_for(1)[0]
    assert record.action == "blocked" and record.reason.startswith("Downloads of ")


def test_the_block_page_names_the_kind_and_the_extension(kids_proxy, origin) -> None:
    page = _get(kids_proxy.port, f"{origin.base}/files/game.apk")
    assert b"Downloads of phone and tablet apps (.apk) are blocked for Kids" in page.body
    assert b"Sam&#x27;s laptop" in page.body or b"Sam's laptop" in page.body


@pytest.mark.parametrize("path", ["/setup.php?file=x.exe", "/files/readme.txt", "/exe", "/files.exe/index.html",
                                  "/download.apk.html"])
def test_names_that_only_look_like_a_blocked_kind_pass(kids_proxy, origin, path: str) -> None:
    response = _get(kids_proxy.port, f"{origin.base}{path}")
    assert response.status == 200
    assert [r.target for r in origin.stats.requests] == [path]


def test_a_response_that_turns_out_to_be_an_app_is_blocked_on_its_head(kids_proxy, origin) -> None:
    size = 3 * 2**20
    response = _get(kids_proxy.port,
                    f"{origin.base}/download.php?id=7&size={size}&type=application/vnd.android.package-archive")
    assert response.status == 403
    assert b"Downloads of phone and tablet apps are blocked for Kids" in response.body
    assert b"FFFF" not in response.body
    record = kids_proxy.recorder.wait_for(1)[0]
    assert record.action == "blocked"
    # Not a byte of the 3 MiB body went to the client: only the block page did.
    assert record.bytes_to_client < 16 * 1024
    assert len(origin.stats.requests) == 1


@pytest.mark.parametrize("disposition", ['attachment; filename="free game.exe"',
                                         "attachment; filename*=UTF-8''free%20game%2Eexe",
                                         "attachment; filename=FREE.MSI",
                                         'attachment; filename="readme;.txt.exe"'])
def test_a_file_name_in_content_disposition_is_judged(kids_proxy, origin, disposition: str) -> None:
    from urllib.parse import quote

    response = _get(kids_proxy.port, f"{origin.base}/download?disposition={quote(disposition)}&type=text/plain")
    assert response.status == 403
    assert b"Downloads of programs (.exe) are blocked for Kids" in response.body or \
        b"Downloads of programs (.msi) are blocked for Kids" in response.body


def test_a_subresource_gets_a_bare_refusal_not_the_page(kids_proxy, origin) -> None:
    response = _get(kids_proxy.port, f"{origin.base}/download?type=application/x-msdownload",
                    b"Sec-Fetch-Dest: empty\r\n")
    assert response.status == 403
    assert b"<html" not in response.body.lower()


def test_a_schedule_blocks_its_kinds_only_while_it_runs(kids_proxy, origin) -> None:
    during = _get(kids_proxy.port, f"{origin.base}/files/homework.zip")
    assert during.status == 403 and b"during School nights" in during.body
    outside = _get(kids_proxy.port, f"{origin.base}/files/disk.iso")
    assert outside.status == 200


def test_other_profiles_download_anything(make_proxy, origin, tmp_path: Path) -> None:
    holder = PolicyHolder(Policy(parse_config(_config_text(tmp_path, device_profile="default")), {}))
    proxy = make_proxy(decider=holder)
    assert _get(proxy.port, f"{origin.base}/files/game.apk").status == 200
    assert _get(proxy.port, f"{origin.base}/download?type=application/vnd.android.package-archive").status == 200


def test_a_pause_lifts_file_blocks(make_proxy, origin, tmp_path: Path) -> None:
    from guardian.policy import PauseStore

    pauses = PauseStore.for_data_dir(tmp_path)
    pauses.add_pause("profile", "Kids", 10)
    holder = PolicyHolder(Policy(parse_config(_config_text(tmp_path)), {}, pauses=pauses))
    proxy = make_proxy(decider=holder)
    assert _get(proxy.port, f"{origin.base}/files/game.apk").status == 200


def test_explanations_say_https_downloads_cannot_be_judged_without_inspection(tmp_path: Path) -> None:
    policy = Policy(parse_config(_config_text(tmp_path)), {})
    plain = policy.explain("http://games.example/free.apk", "127.0.0.1")
    assert plain["action"] == "block" and "phone and tablet apps" in plain["reason"]
    secure = policy.explain("https://games.example/free.apk", "127.0.0.1")
    assert secure["action"] == "allow"
    assert "HTTPS" in secure["note"] and "file" in secure["note"]


def test_unknown_kinds_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profiles\[0\]\.block_file_types\[0\]: 'mobile-app' is neither"):
        parse_config('[[profiles]]\nname = "default"\nblock_file_types = ["mobile-app"]\n')


def test_disposition_parsing_is_linear_on_a_hostile_header() -> None:
    import time

    hostile = "attachment; " + "filename" * 8000 + "=" + '"' * 20000
    started = time.perf_counter()
    disposition_file_name(hostile)
    FileTypeRules(["programs"]).match_request("/" + "%2E" * 30000 + "exe")
    assert time.perf_counter() - started < 0.05


def test_guardian_check_tells_the_truth_about_https_downloads(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    config = tmp_path / "guardian.toml"
    config.write_text(_config_text(tmp_path))
    run = [sys.executable, "-m", "guardian.cli", "--config", str(config), "check"]
    plain = subprocess.run([*run, "http://games.example/free.APK", "--client", "127.0.0.1", "--json"],
                           capture_output=True, text=True, check=True)
    assert json.loads(plain.stdout)["action"] == "block"
    secure = subprocess.run([*run, "https://games.example/free.apk", "--client", "127.0.0.1"],
                            capture_output=True, text=True, check=True)
    assert secure.stdout.startswith("allow: ") and "note:     " in secure.stdout
    assert "cannot see which file" in secure.stdout
