"""Issue 17 item 4: the lists page says one thing after subscribing, shows a download
running, links the catalog's homepages, takes a file on this machine as the configuration
and the command line do, and names lists by their names."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from guardian.lists.catalog import load_catalog
from tests.web.conftest import Web


def messages(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash (?:ok|note|error)"[^>]*>(.*?)</p>', page, re.S)]


def test_subscribing_says_one_thing(admin: Web) -> None:
    page = admin.post("/lists/subscribe", {"id": "easylist"}, follow_redirects=True).text
    said = messages(page)
    assert len(said) == 1, said
    assert said[0].startswith("Subscribed to EasyList (profiles default, kids). It is downloading now")
    assert admin.client.application.extensions["guardian"].refresher.wait(10)


def test_a_running_download_shows_on_its_list_and_a_reload_shows_the_result(admin: Web) -> None:
    household = admin.household
    gate = threading.Event()
    real = household.refresh_lists

    def slow(ids, force):
        gate.wait(10)
        return real(ids, force)

    household.refresh_lists = slow  # the download itself waits for the test
    refresher = admin.client.application.extensions["guardian"].refresher
    admin.post("/lists/update", {"id": "local"}, version=False)
    page = admin.get("/lists").text
    local = page.split("Local test list")[1].split("</article>")[0]
    assert "data-downloading" in local and "Downloading now…" in local
    assert "<noscript> Reload this page in a minute to see the result.</noscript>" in local
    assert "Update all now" in page and page.count("data-downloading") == 1
    gate.set()
    assert refresher.wait(10)
    page = admin.get("/lists").text  # a plain reload
    assert "data-downloading" not in page
    assert "Last update from this page:\n    Local test list:" in page


def test_catalog_entries_and_subscribed_catalog_lists_link_their_homepage(admin: Web) -> None:
    page = admin.get("/lists").text
    for entry in load_catalog():
        assert f'<a href="{html.escape(entry.homepage)}" rel="noopener noreferrer"' in page, entry.id
        assert entry.homepage.startswith("https://")
    admin.post("/lists/subscribe", {"id": "easylist"})
    page = admin.get("/lists").text
    easylist = page.split("<h3>EasyList")[1].split("</article>")[0]
    assert '<a href="https://easylist.to/"' in easylist


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_file_on_this_machine_can_be_added(admin: Web, tmp_path: Path, form: str) -> None:
    mine = tmp_path / "school lists" / "blocked sites.txt"
    mine.parent.mkdir()
    mine.write_text("games.example\nvideos.example\n")
    typed = str(mine) if form == "path" else mine.as_uri()
    page = admin.post("/lists/add", {"name": "School list", "url": typed, "format": "domains"},
                      follow_redirects=True).text
    assert messages(page)[0].startswith("Subscribed to School list (profiles default, kids).")
    entry = admin.household.config.list_by_id("school-list")
    assert entry.url == typed
    assert admin.client.application.extensions["guardian"].refresher.wait(10)
    assert admin.household.policy.policy.explain("http://games.example/", "127.0.0.2")["action"] == "block"
    assert "2 rules" in admin.get("/lists").text.split("<h3>School list")[1].split("</article>")[0]


def test_the_add_form_accepts_a_path_in_the_browser(admin: Web) -> None:
    page = admin.get("/lists").text
    field = re.search(r'<input name="url"[^>]*>', page).group(0)
    assert 'type="url"' not in field  # a browser would refuse "/home/pi/list.txt" before sending it


def test_files_that_cannot_be_lists_are_refused_in_words(admin: Web, tmp_path: Path) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    secret = tmp_path / ".ssh" / "id"
    secret.parent.mkdir()
    secret.write_text("x\n")
    link = tmp_path / "innocent.txt"
    link.symlink_to("/etc/hostname")
    cases = [
        (str(tmp_path / "nothing.txt"), f"there is no file {tmp_path / 'nothing.txt'} on this machine"),
        (str(folder), "is a folder, not a file"),
        ("lists/mine.txt", "give the whole path of the file, starting with /"),
        ("file://otherhost/x.txt", "a file:// address names a file on this machine"),
        ("ftp://lists.example/x.txt", "an http:// or https:// address, or read from a file"),
        (str(secret), "is one of this machine's own files"),
        (str(link), "is one of this machine's own files"),
        ("/etc/hostname", "is one of this machine's own files"),
        (str(admin.household.data_dir / "admin.json"), "own files"),
    ]
    before = admin.household.config_path.read_text()
    for typed, why in cases:
        page = admin.post("/lists/add", {"name": "Mine", "url": typed, "format": "auto"}, follow_redirects=True).text
        assert any(why in m for m in messages(page)), (typed, messages(page))
    assert admin.household.config_path.read_text() == before


def test_an_unreadable_file_is_refused(admin: Web, tmp_path: Path) -> None:
    # A folder anyone may enter, holding a file nobody may read. Root reads every file, so as
    # root the page is asked from a child process whose real user is "nobody": the check is
    # os.access, which asks for the real user, while the page still reads its own files.
    shelf = Path(tempfile.mkdtemp(prefix="guardian-unreadable-"))
    try:
        shelf.chmod(0o755)
        closed = shelf / "closed.txt"
        closed.write_text("a.example\n")
        closed.chmod(0)
        data = {"name": "Mine", "url": str(closed), "format": "auto", "version": admin.household.config_version()}
        if os.geteuid() != 0:
            said = messages(admin.post("/lists/add", data, follow_redirects=True).text)
        else:
            said = _as_nobody(lambda: messages(admin.post("/lists/add", data, follow_redirects=True).text))
        assert any("Guardian is not allowed to read" in m for m in said), said
    finally:
        shutil.rmtree(shelf)


def _as_nobody(ask: Callable[[], list[str]]) -> list[str]:
    """`ask()` answered in a forked child whose real user and group are nobody (65534)."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(reader)
            os.setresgid(65534, 0, 0)
            os.setresuid(65534, 0, 0)
            os.write(writer, json.dumps(ask()).encode())
        except BaseException:
            os.write(writer, json.dumps(["the child failed: " + traceback.format_exc()]).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        said = answer.read()
    os.waitpid(child, 0)
    assert said, "the child running as nobody gave no answer"
    return json.loads(said)


def test_turn_on_and_off_and_unsubscribe_speak_the_lists_name(admin: Web) -> None:
    page = admin.post("/lists/toggle", {"id": "local", "enabled": "0"}, follow_redirects=True).text
    assert messages(page) == ["Local test list turned off."]
    local = page.split("<h3>Local test list")[1].split("</article>")[0]
    assert '<span class="status bad">turned off</span>' in local and "<button>Turn on</button>" in local
    page = admin.post("/lists/toggle", {"id": "local", "enabled": "1"}, follow_redirects=True).text
    assert messages(page) == ["Local test list turned on."]
    page = admin.post("/lists/remove", {"id": "local"}, follow_redirects=True).text
    assert messages(page) == ["Unsubscribed from Local test list."]
