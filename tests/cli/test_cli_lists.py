"""`guardian lists add` from a shell: what it accepts, what it refuses, and that the list is
fetched at once, through the running service or directly (issue 17, item 14)."""

from __future__ import annotations

import pytest
import requests

from guardian.config import load_config
from tests.cli.conftest import write_household
from tests.lists.conftest import ListServer, Served, abp_list
from tests.support.serve import GuardianProcess, free_port

LOOPBACK = "deny_destinations = []\ndeny_own_addresses = false"  # the list server stands in for the internet


@pytest.fixture
def lists_server():
    server = ListServer()
    server.thread.start()
    server.routes["/family.txt"] = Served(abp_list(30, prefix="family"))
    yield server
    server.release.set()
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.mark.parametrize(("given", "says"), [
    ("nonsense-id", "'nonsense-id' is not a catalog id, an http(s) URL or a file; see `guardian lists catalog`"),
    ("easylst", "did you mean easylist"),
    ("urlhause", "did you mean urlhaus"),
    ("./not-here.txt", "'./not-here.txt': no readable file there"),
    ("ftp://lists.example/ads.txt", "only http://, https:// and file:// URLs"),
    ("builtin:nothing-like-it", "no built-in list of that name"),
    ("file://nas.local/lists/ads.txt", "a file:// address names a file on this machine"),
])
def test_what_is_not_a_list_is_refused_and_nothing_is_written(household, given, says):
    before = household.config.read_text()
    done = household.run("lists", "add", given)
    assert done.returncode == 2, done.stdout
    assert says in done.stderr
    assert household.config.read_text() == before
    assert not (household.data_dir / "lists").exists()


def test_a_file_is_added_by_its_full_path_and_stored_at_once(household):
    (household.elsewhere / "family.txt").write_text("||family-ads.example^\n||tracker.example^\n")
    done = household.run("lists", "add", "family.txt", "--profile", "Kids")
    assert done.returncode == 0, done.stderr
    assert "no Guardian service is running here" in done.stdout
    entry = load_config(household.config).list_by_id("family")
    assert entry.url == str(household.elsewhere / "family.txt")
    assert (household.data_dir / "lists" / "family.txt").is_file()
    checked = household.run("check", "http://family-ads.example/", "--client", "Kid tablet")
    assert checked.stdout.startswith("block"), checked.stdout + checked.stderr


def test_a_file_url_with_escapes_names_the_file_it_spells(household):
    (household.elsewhere / "our list.txt").write_text("||spelled-ads.example^\n")
    url = f"file://{(household.elsewhere / 'our list.txt').as_posix().replace(' ', '%20')}"
    done = household.run("lists", "add", url, "--id", "ours", "--profile", "Kids")
    assert done.returncode == 0, done.stderr
    assert load_config(household.config).list_by_id("ours").url == str(household.elsewhere / "our list.txt")
    checked = household.run("check", "http://spelled-ads.example/", "--client", "Kid tablet")
    assert checked.stdout.startswith("block"), checked.stdout + checked.stderr


def test_a_url_is_fetched_directly_when_no_service_runs(tmp_path, lists_server):
    household = write_household(tmp_path, proxy_extra=LOOPBACK)
    done = household.run("lists", "add", lists_server.url("/family.txt"), "--id", "family")
    assert done.returncode == 0, done.stderr
    assert "no Guardian service is running here" in done.stdout and "family:" in done.stdout
    assert len(lists_server.hits("/family.txt")) == 1
    assert (household.data_dir / "lists" / "family.txt").is_file()


def test_a_url_is_fetched_by_the_running_service_which_applies_it(tmp_path, lists_server):
    port = free_port()
    household = write_household(tmp_path, port=port, web_port=free_port(), proxy_extra=LOOPBACK)
    service = GuardianProcess(household.config, tmp_path, port)
    try:
        done = household.run("lists", "add", lists_server.url("/family.txt"), "--id", "family")
        assert done.returncode == 0, done.stderr
        assert "Fetched by the running Guardian service" in done.stdout
        assert len(lists_server.hits("/family.txt")) == 1
        # The proxy blocks what the new list names, with no restart and no second command.
        proxies = {"http": f"http://127.0.0.1:{port}"}
        answer = requests.get("http://family7.example/", proxies=proxies, timeout=10)
        assert answer.status_code == 403 and 'the block list "family"' in answer.text
    finally:
        service.stop()
