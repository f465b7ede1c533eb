"""`guardian stats` and `guardian log` output, and duration parsing."""

from __future__ import annotations

import json

import pytest

from guardian.logstore.commands import log_command, parse_duration, stats_command


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("24h", 86_400), ("7d", 604_800),
                                               ("90s", 90), ("2w", 1_209_600), (" 1.5H ", 5400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "3x", "-1h", "0m", "1h30m"])
def test_parse_duration_refuses_bad_input(text):
    with pytest.raises(ValueError, match="like 30m, 24h or 7d"):
        parse_duration(text)


@pytest.fixture
def logged(store, make_record, flushed, clock):
    store.record(make_record(started=clock.now - 600, host="ads.example", action="blocked", status=403,
                             rule="||ads.example^"))
    store.record(make_record(started=clock.now - 300, host="news.example", device="dad-laptop"))
    store.record(make_record(started=clock.now - 5 * 3600, host="old.example"))
    flushed(store, 3)
    return store.path


def test_stats_json(logged, clock, capsys):
    assert stats_command(logged, since="24h", as_json=True, clock=clock) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["requests"] == 3 and out["totals"]["share_blocked"] == pytest.approx(1 / 3)
    assert out["top_blocked_hosts"] == [{"host": "ads.example", "requests": 1}]
    assert {d["device"] for d in out["top_devices"]} == {"kid-tablet", "dad-laptop"}
    assert out["bucket"] == "hour" and len(out["series"]) == 24


def test_stats_table_for_one_device(logged, clock, capsys):
    assert stats_command(logged, since="7d", device="dad-laptop", tz="UTC", clock=clock) == 0
    out = capsys.readouterr().out
    assert "Last 7d for dad-laptop" in out and "news.example" in out and "ads.example" not in out
    assert "Per day" in out and "Top devices" not in out


def test_log_table_and_json(logged, clock, capsys):
    assert log_command(logged, blocked=True, tz="UTC", clock=clock) == 0
    out = capsys.readouterr().out
    assert "ads.example/index.html?q=1" in out and "||ads.example^" in out and "news.example" not in out
    assert log_command(logged, since="1d", host="example", limit=2, as_json=True, clock=clock) == 0
    # Newest logged first (log order, which is when each request ended).
    assert [r["host"] for r in json.loads(capsys.readouterr().out)] == ["old.example", "news.example"]


def test_bad_arguments_and_missing_database(tmp_path, logged, capsys):
    assert stats_command(logged, since="soon") == 2
    assert "guardian stats: 'soon' is not a duration" in capsys.readouterr().err
    assert log_command(logged, limit=0) == 2
    assert log_command(tmp_path / "none.db") == 1
    assert "no log database" in capsys.readouterr().err
