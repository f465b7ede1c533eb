"""Refreshing lists against a real HTTP server on loopback."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from guardian import fsutil
from guardian.lists import (
    FAILED_KEPT,
    FAILED_NONE,
    OK,
    UNCHANGED,
    Limits,
    ListStore,
    RefreshPolicy,
    formats_for,
    refresh_lists,
    texts_for,
)
from guardian.lists.refresh import FAILED, SKIPPED, UPDATED, refresh_one
from guardian.lists.store import utcnow

LAST_MODIFIED = "Wed, 01 May 2024 03:00:00 GMT"
FAST_POLICY = RefreshPolicy(
    limits=Limits(connect_timeout=1.0, read_timeout=0.3, total_timeout=2.0), attempts=3, first_delay=1.0,
    backoff=3.0,
)


def setup(tmp_path: Path, server, kit, body: bytes | None = None, **served):
    body = kit.abp_list(100) if body is None else body
    server.routes["/list.txt"] = kit.Served(body, etag='"v1"', last_modified=LAST_MODIFIED, **served)
    config = kit.make_config(tmp_path, [("test", server.url("/list.txt"), "abp")])
    return config, ListStore.for_data_dir(tmp_path)


def refresh(config, store, sleeps, **kwargs):
    summary = refresh_lists(config, store, policy=kwargs.pop("policy", FAST_POLICY), sleep=sleeps, **kwargs)
    (result,) = summary.results
    return summary, result


def test_first_download_stores_the_list_and_its_metadata(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    summary, result = refresh(config, store, sleeps)
    assert result.outcome == UPDATED and summary.changed
    assert store.read_bytes("test") == kit.abp_list(100)
    meta = store.load_meta("test")
    assert meta.status == OK and meta.error is None
    assert (meta.etag, meta.last_modified) == ('"v1"', LAST_MODIFIED)
    assert meta.rules == 100 and meta.kinds == {"host": 100} and meta.format == "abp"
    assert meta.size == len(kit.abp_list(100)) and len(meta.sha256) == 64
    assert meta.fetched_at == meta.checked_at == meta.confirmed_at
    assert "If-None-Match" not in server.hits("/list.txt")[0]


def test_not_modified_sends_validators_and_keeps_the_copy(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    fetched_at = store.load_meta("test").fetched_at
    summary, result = refresh(config, store, sleeps)
    assert result.outcome == UNCHANGED and not summary.changed
    second = server.hits("/list.txt")[1]
    assert second["if-none-match"] == '"v1"' and second["if-modified-since"] == LAST_MODIFIED
    meta = store.load_meta("test")
    assert meta.status == UNCHANGED and meta.fetched_at == fetched_at and meta.checked_at > fetched_at


def test_same_body_without_validators_counts_as_unchanged(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    server.routes["/list.txt"] = kit.Served(kit.abp_list(100))  # a server without ETag or Last-Modified
    refresh(config, store, sleeps)
    _, result = refresh(config, store, sleeps)
    assert result.outcome == UNCHANGED


def test_changed_content_replaces_the_copy(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(kit.abp_list(120, prefix="new"), etag='"v2"')
    summary, result = refresh(config, store, sleeps)
    assert result.outcome == UPDATED and summary.changed
    assert b"||new0.example^" in store.read_bytes("test")
    meta = store.load_meta("test")
    assert (meta.status, meta.etag, meta.rules) == (OK, '"v2"', 120)


def _assert_kept(store: ListStore, body: bytes, words: str) -> None:
    assert store.read_bytes("test") == body
    meta = store.load_meta("test")
    assert meta.status == FAILED_KEPT
    assert words in meta.error
    assert meta.rules == 100 and meta.etag == '"v1"'  # still describes the kept copy


def test_html_error_page_is_rejected(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(b"<!DOCTYPE html>\n<html><body>Service unavailable</body></html>")
    summary, result = refresh(config, store, sleeps)
    assert result.outcome == FAILED and not summary.changed
    assert result.message == f"{FAILED_KEPT}: rejected: the download is an HTML page, not a list"
    _assert_kept(store, kit.abp_list(100), "HTML page")


def test_garbage_in_the_wrong_format_is_rejected(tmp_path, kit, server, sleeps):
    body = b"".join(b"this is not a rule %d\n" % i for i in range(40)) + kit.abp_list(10).split(b"\n", 2)[2]
    config, store = setup(tmp_path, server, kit, body=body.replace(b"||", b"").replace(b"^", b""))
    config = kit.make_config(tmp_path, [("test", server.url("/list.txt"), "domains")])
    _, result = refresh(config, store, sleeps)
    assert result.outcome == FAILED and "of 51 rule lines are valid domains rules" in result.message
    assert store.load_meta("test").status == FAILED_NONE and not store.has_copy("test")


def test_a_hosts_file_subscribed_as_abp_is_rejected(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit, body=b"".join(b"0.0.0.0 ad%d.example\n" % i for i in range(50)))
    _, result = refresh(config, store, sleeps)
    assert "looks like a hosts list, but its format is set to abp" in result.message


def test_a_list_that_shrank_below_half_is_rejected_unless_forced(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(kit.abp_list(10), etag='"tiny"')
    _, result = refresh(config, store, sleeps)
    assert result.outcome == FAILED and "fewer than half the 100" in result.message
    _assert_kept(store, kit.abp_list(100), "--force")
    _, result = refresh(config, store, sleeps, force=True)
    assert result.outcome == UPDATED and store.load_meta("test").rules == 10


def test_a_download_cut_short_is_retried_then_fails(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(kit.abp_list(100)[:300], declared_length=5000)
    _, result = refresh(config, store, sleeps)
    assert result.outcome == FAILED and "cut short" in result.message
    assert sleeps == [1.0, 3.0]  # three attempts, growing delays
    _assert_kept(store, kit.abp_list(100), "cut short")


def test_a_server_that_hangs_times_out(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(hang=True)
    started = time.monotonic()
    _, result = refresh(config, store, sleeps)
    assert time.monotonic() - started < 3 * FAST_POLICY.limits.read_timeout + 1.0
    assert result.outcome == FAILED and "sent nothing for 0.3 s" in result.message
    assert len(server.hits("/list.txt")) == 4  # the first download and three attempts
    _assert_kept(store, kit.abp_list(100), "sent nothing")


def test_the_total_deadline_bounds_a_slow_download(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    server.routes["/list.txt"] = kit.Served(hang=True)
    policy = RefreshPolicy(limits=Limits(read_timeout=5.0, total_timeout=0.3), attempts=1)
    _, result = refresh(config, store, sleeps, policy=policy)
    assert "took longer than 0.3 s" in result.message


def test_connection_refused_with_no_copy_yet(tmp_path, kit, refused_url, sleeps):
    config = kit.make_config(tmp_path, [("test", refused_url, "abp")])
    store = ListStore.for_data_dir(tmp_path)
    _, result = refresh(config, store, sleeps)
    assert result.message.startswith(f"{FAILED_NONE}: connection refused by 127.0.0.1:")
    assert len(sleeps) == 2
    assert store.load_meta("test").status == FAILED_NONE and texts_for(config, store) == {}


def test_a_redirect_is_followed(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    server.routes["/old.txt"] = kit.Served(status=301, headers={"Location": "/list.txt"})
    config = kit.make_config(tmp_path, [("test", server.url("/old.txt"), "abp")])
    _, result = refresh(config, store, sleeps)
    assert result.outcome == UPDATED


def test_a_redirect_loop_is_an_error_and_not_retried(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(status=302, headers={"Location": "/b"})
    server.routes["/b"] = kit.Served(status=302, headers={"Location": "/list.txt"})
    _, result = refresh(config, store, sleeps)
    assert "redirect loop: " in result.message and result.message.count("->") == 2
    assert sleeps == []
    _assert_kept(store, kit.abp_list(100), "redirect loop")


def test_too_many_redirects(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    for i in range(8):
        server.routes[f"/r{i}"] = kit.Served(status=307, headers={"Location": f"/r{i + 1}"})
    config = kit.make_config(tmp_path, [("test", server.url("/r0"), "abp")])
    _, result = refresh(config, store, sleeps)
    assert "more than 5 redirects" in result.message


def test_a_list_over_the_size_cap_is_refused(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(kit.abp_list(5000))
    policy = RefreshPolicy(limits=Limits(max_bytes=20_000))
    _, result = refresh(config, store, sleeps, policy=policy)
    size = len(kit.abp_list(5000)) / 1024
    assert result.message == f"{FAILED_KEPT}: the list is {size:.1f} KiB, over the 19.5 KiB limit"
    assert sleeps == []
    _assert_kept(store, kit.abp_list(100), "limit")


def test_the_size_cap_applies_to_the_decompressed_size(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit, body=kit.abp_list(5000), gzip=True)
    _, result = refresh(config, store, sleeps, policy=RefreshPolicy(limits=Limits(max_bytes=50_000)))
    assert "larger than" in result.message
    _, result = refresh(config, store, sleeps)
    assert result.outcome == UPDATED and store.read_bytes("test") == kit.abp_list(5000)


def test_not_found_is_not_retried(tmp_path, kit, server, sleeps):
    config = kit.make_config(tmp_path, [("test", server.url("/missing.txt"), "abp")])
    _, result = refresh(config, ListStore.for_data_dir(tmp_path), sleeps)
    assert result.message.endswith("answered 404 Not Found") and sleeps == []


def test_expires_is_a_minimum_interval_unless_forced(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit, body=kit.abp_list(100, header="! Expires: 2 days (update frequency)"))
    start = utcnow()
    refresh(config, store, sleeps, now=lambda: start)
    assert store.load_meta("test").expires_seconds == 2 * 86400
    _, result = refresh(config, store, sleeps, now=lambda: start + timedelta(days=1))
    assert result.outcome == SKIPPED and "24.0 h to go" in result.message
    assert len(server.hits("/list.txt")) == 1
    _, result = refresh(config, store, sleeps, now=lambda: start + timedelta(days=1), force=True)
    assert result.outcome == UNCHANGED
    _, result = refresh(config, store, sleeps, now=lambda: start + timedelta(days=4))
    assert result.outcome == UNCHANGED and len(server.hits("/list.txt")) == 3


def test_local_files_and_file_urls(tmp_path, kit, sleeps):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example\n")
    domains = tmp_path / "my list.txt"
    domains.write_text("# mine\nads.example\n")
    config = kit.make_config(tmp_path / "data", [("h", str(hosts), "hosts"), ("d", domains.as_uri(), "auto")])
    store = ListStore.for_data_dir(tmp_path / "data")
    summary = refresh_lists(config, store, policy=FAST_POLICY, sleep=sleeps)
    assert [r.outcome for r in summary.results] == [UPDATED, UPDATED]
    assert store.load_meta("h").rules == 2 and store.load_meta("d").format == "domains"
    again = refresh_lists(config, store, policy=FAST_POLICY, sleep=sleeps)
    assert [r.outcome for r in again.results] == [UNCHANGED] * 2


def test_one_hanging_list_does_not_hold_up_the_others(tmp_path, kit, server, sleeps):
    server.routes["/slow1"] = kit.Served(hang=True)
    server.routes["/slow2"] = kit.Served(hang=True)
    server.routes["/good"] = kit.Served(kit.abp_list(10))
    config = kit.make_config(tmp_path, [("slow1", server.url("/slow1"), "abp"), ("slow2", server.url("/slow2"), "abp"),
                                    ("good", server.url("/good"), "abp")])
    policy = RefreshPolicy(limits=Limits(read_timeout=1.0), attempts=1)
    started = time.monotonic()
    summary = refresh_lists(config, ListStore.for_data_dir(tmp_path), policy=policy, sleep=sleeps)
    assert time.monotonic() - started < 1.9  # in parallel: one timeout, not two
    assert [r.outcome for r in summary.results] == [FAILED, FAILED, UPDATED] and summary.changed


def test_texts_for_uses_last_good_copies_and_builtin_lists(tmp_path, kit, server, sleeps, refused_url):
    server.routes["/a"] = kit.Served(kit.abp_list(10))
    config = kit.make_config(tmp_path, [("starter", "builtin:starter", "domains"), ("a", server.url("/a"), "abp"),
                                    ("never", refused_url, "hosts")])
    store = ListStore.for_data_dir(tmp_path)
    refresh_lists(config, store, policy=FAST_POLICY, sleep=sleeps)
    server.routes["/a"] = kit.Served(b"<html><body>oops</body></html>")
    summary = refresh_lists(config, store, policy=FAST_POLICY, sleep=sleeps)
    assert [r.outcome for r in summary.results] == ["built in", FAILED, FAILED]
    texts = texts_for(config, store)
    assert sorted(texts) == ["a", "starter"]  # never downloaded: nothing to contribute yet
    assert texts["a"] == kit.abp_list(10).decode() and "doubleclick.net" in texts["starter"]
    assert formats_for(config) == {"starter": "domains", "a": "abp", "never": "hosts"}


def test_disabled_lists_are_neither_refreshed_nor_used(tmp_path, kit, server, sleeps):
    server.routes["/a"] = kit.Served(kit.abp_list(10))
    config = kit.make_config(tmp_path, [("a", server.url("/a"), "abp")])
    store = ListStore.for_data_dir(tmp_path)
    refresh_lists(config, store, policy=FAST_POLICY, sleep=sleeps)
    disabled = replace(config, lists=(replace(config.lists[0], enabled=False),))
    assert refresh_lists(disabled, store, sleep=sleeps).results == ()
    assert texts_for(disabled, store) == {}


# ---------------------------------------------------------------- crash safety


class PowerCut(BaseException):
    """Stands for the machine stopping: nothing after it runs."""


def test_a_cut_between_writing_and_renaming_leaves_the_old_copy(tmp_path, kit, server, sleeps, monkeypatch):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    old_meta = store.meta_path("test").read_text()
    server.routes["/list.txt"] = kit.Served(kit.abp_list(150, prefix="new"), etag='"v2"')

    def cut(src, dst):
        raise PowerCut

    monkeypatch.setattr(fsutil.os, "replace", cut)
    with pytest.raises(PowerCut):
        refresh_one(config.lists[0], store, policy=FAST_POLICY, sleep=sleeps)
    monkeypatch.undo()
    assert store.read_bytes("test") == kit.abp_list(100)
    assert store.meta_path("test").read_text() == old_meta
    # A real cut leaves the temporary file behind; opening the store removes it.
    (store.root / ".test.txt.x1y2.tmp").write_bytes(b"||torn")
    reopened = ListStore(store.root)
    assert sorted(p.name for p in reopened.root.iterdir()) == ["test.json", "test.txt"]


def test_a_failed_write_is_reported_and_keeps_the_old_copy(tmp_path, kit, server, sleeps, monkeypatch):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    server.routes["/list.txt"] = kit.Served(kit.abp_list(150, prefix="new"), etag='"v2"')
    real_replace = fsutil.os.replace

    def full_disk(src, dst):
        if str(dst).endswith(".txt"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", full_disk)
    _, result = refresh(config, store, sleeps)
    assert result.message == f"{FAILED_KEPT}: could not save the new copy: No space left on device"
    _assert_kept(store, kit.abp_list(100), "No space left")
    assert not list(store.root.glob(".*.tmp"))


def test_a_cut_between_the_list_and_its_metadata_heals(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    # The new list reached the disk, its metadata did not.
    store.text_path("test").write_bytes(kit.abp_list(120, prefix="new"))
    server.routes["/list.txt"] = kit.Served(kit.abp_list(120, prefix="new"), etag='"v2"')
    _, result = refresh(config, store, sleeps)
    assert "if-none-match" not in server.hits("/list.txt")[-1]  # the old validators are not trusted
    assert result.outcome == UPDATED and store.load_meta("test").etag == '"v2"'


def test_unreadable_metadata_is_ignored(tmp_path, kit, server, sleeps):
    config, store = setup(tmp_path, server, kit)
    refresh(config, store, sleeps)
    store.meta_path("test").write_text("{not json")
    assert store.load_meta("test") is None
    _, result = refresh(config, store, sleeps)
    assert result.outcome == UPDATED and "if-none-match" not in server.hits("/list.txt")[-1]
    assert store.load_meta("test").status == OK
