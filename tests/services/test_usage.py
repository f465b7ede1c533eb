"""Counting time: local days in the configured zone (DST included), the SQLite store,
restarts and power cuts, and the commands parents use."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guardian.config import parse_config
from guardian.logstore.usage import UsageStore
from guardian.policy import Policy
from guardian.policy.limits import UsageMeter
from guardian.policy.service_commands import allow_service_command, services_command, usage_command
from guardian.policy.usage import usage_rows
from tests.policy.conftest import get
from tests.services.conftest import HOUSEHOLD, LISTS, LONDON, MONDAY_NOON, SAM


def london(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LONDON, fold=fold)


def test_the_day_resets_at_local_midnight_across_both_dst_changes() -> None:
    meter = UsageMeter(LONDON)
    who, limit = "device:Sam", "YouTube"
    # Spring forward: Sunday 29 March 2026, 01:00 GMT becomes 02:00 BST; the day has 23 hours.
    for when in (london(2026, 3, 28, 23, 59), london(2026, 3, 29, 0, 0), london(2026, 3, 29, 0, 59),
                 london(2026, 3, 29, 2, 0), london(2026, 3, 29, 23, 59), london(2026, 3, 30, 0, 0)):
        meter.note(who, limit, when.timestamp())
    assert meter.used("2026-03-28", who, limit) == 1
    assert meter.used("2026-03-29", who, limit) == 4
    assert meter.used("2026-03-30", who, limit) == 1
    # 23:30 UTC on the 29th is 00:30 BST on the 30th: a new day by the wall clock.
    assert meter.day_of(datetime(2026, 3, 29, 23, 30, tzinfo=UTC).timestamp()) == ("2026-03-30", 0)
    # Fall back: Sunday 25 October 2026, 02:00 BST becomes 01:00 GMT; 01:xx happens twice.
    first = london(2026, 10, 25, 1, 30, fold=0).timestamp()
    second = london(2026, 10, 25, 1, 30, fold=1).timestamp()
    assert second - first == 3600
    meter.note(who, limit, first)
    meter.note(who, limit, second)  # the same wall minute, an hour later: a different minute of use
    meter.note(who, limit, london(2026, 10, 25, 23, 59).timestamp())
    meter.note(who, limit, london(2026, 10, 26, 0, 0).timestamp())
    assert meter.used("2026-10-25", who, limit) == 3
    assert meter.used("2026-10-26", who, limit) == 1


def test_the_block_lifts_at_midnight_in_the_configured_zone(tmp_path: Path) -> None:
    config = parse_config(HOUSEHOLD.format(data_dir=tmp_path))
    meter = UsageMeter(LONDON)
    policy = Policy(config, LISTS, usage=meter)
    # Saturday before the clocks go back: 120 minutes, used up by 23:00 BST.
    start = london(2026, 10, 24, 21, 0)
    for m in range(120):
        assert policy.decide(get("http://www.youtube.com/x"), start + timedelta(minutes=m)).allowed
    assert not policy.decide(get("http://www.youtube.com/x"), london(2026, 10, 24, 23, 59)).allowed
    assert policy.decide(get("http://www.youtube.com/x"), london(2026, 10, 25, 0, 0)).allowed


def test_usage_survives_a_restart(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "usage.db")
    clock = MONDAY_NOON.timestamp
    meter = UsageMeter(LONDON, store, clock=clock)
    for m in range(7):
        meter.note("device:Sam", "YouTube", MONDAY_NOON.timestamp() + 60 * m)
    meter.add_bonus("device:Sam", "YouTube", 15)
    assert meter.flush() == 7
    assert meter.flush() == 0  # nothing new: no disk write
    store.close()
    assert oct((tmp_path / "usage.db").stat().st_mode & 0o777) == "0o600"
    again = UsageMeter(LONDON, UsageStore(tmp_path / "usage.db"), clock=clock)
    assert again.used("2026-11-30", "device:Sam", "YouTube") == 7
    assert again.bonus("2026-11-30", "device:Sam", "YouTube") == 15
    # A minute counted again after the restart is still one minute.
    again.note("device:Sam", "YouTube", MONDAY_NOON.timestamp() + 30)
    assert again.used("2026-11-30", "device:Sam", "YouTube") == 7


def test_counting_writes_nothing_to_disk_until_the_flush(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "usage.db")
    meter = UsageMeter(LONDON, store, clock=MONDAY_NOON.timestamp)
    before = os.stat(tmp_path / "usage.db").st_mtime_ns, _wal_size(tmp_path)
    for m in range(30):
        meter.note("device:Sam", "YouTube", MONDAY_NOON.timestamp() + 60 * m)
    assert (os.stat(tmp_path / "usage.db").st_mtime_ns, _wal_size(tmp_path)) == before
    assert store.used("2026-11-30") == {}
    meter.flush()
    assert store.used("2026-11-30") == {("device:Sam", "YouTube"): 30}
    store.close()


def _wal_size(directory: Path) -> int:
    wal = directory / "usage.db-wal"
    return wal.stat().st_size if wal.exists() else 0


CHILD = r"""
import sys, time, threading
from zoneinfo import ZoneInfo
from guardian.logstore.usage import UsageStore
from guardian.policy.limits import UsageMeter
meter = UsageMeter(ZoneInfo("Europe/London"), UsageStore(sys.argv[1]))
flush_every = float(sys.argv[2])
def flusher():
    while True:
        time.sleep(flush_every)
        meter.flush()
threading.Thread(target=flusher, daemon=True).start()
start = float(sys.argv[3])
m = 0
while True:  # one "minute" of use every 10 ms of real time
    meter.note("device:Sam", "YouTube", start + 60 * m)
    m += 1
    print(m, time.monotonic(), flush=True)
    time.sleep(0.01)
"""


def test_a_power_cut_loses_at_most_the_time_since_the_last_flush(tmp_path: Path) -> None:
    # The service flushes every 30 s (USAGE_FLUSH_SECONDS); here every 0.5 s with 100 "minutes"
    # counted per second, so "at most one flush interval lost" is at most ~50 of them.
    db = tmp_path / "usage.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), "0.5", str(MONDAY_NOON.timestamp())],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        time.sleep(2.3)
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
    noted = int(child.stdout.read().split()[-2])
    store = UsageStore(db)
    kept = store.used("2026-11-30").get(("device:Sam", "YouTube"), 0)
    store.close()
    assert kept > 0
    assert noted - kept <= 0.5 * 100 + 20, (noted, kept)


def test_the_commands(tmp_path: Path) -> None:
    config = parse_config(HOUSEHOLD.format(data_dir=tmp_path / "data"))
    out = io.StringIO()
    assert services_command(config, "list", None, out=out) == 0
    assert "Video (video):" in out.getvalue() and "tiktok" in out.getvalue()
    out = io.StringIO()
    assert services_command(config, "show", "youtube", True, out=out) == 0
    assert "googlevideo.com" in json.loads(out.getvalue())["hosts"]
    err = io.StringIO()
    assert services_command(config, "show", "nope", err=err) == 2 and "no service" in err.getvalue()

    # The service is not running: a reward goes straight into usage.db and shows in usage.
    out, err = io.StringIO(), io.StringIO()
    assert allow_service_command(config, "Sam's tablet", "youtube", 20, out=out, err=err) == 0, err.getvalue()
    assert "Sam's tablet has 20 more minutes of YouTube today" in out.getvalue()
    out = io.StringIO()
    assert usage_command(config, "Sam's tablet", True, out=out) == 0
    rows = json.loads(out.getvalue())
    youtube = next(r for r in rows if r["limit"] == "YouTube")
    assert youtube["bonus"] == 20 and youtube["left_minutes"] == youtube["minutes"]
    err = io.StringIO()
    assert allow_service_command(config, "Sam's tablet", "wikipedia", 20, err=err) == 2
    assert "Wikipedia has no time limit today" in err.getvalue()
    assert allow_service_command(config, None, "youtube", 20, err=io.StringIO()) == 2
    assert usage_command(config, "Nobody", False, err=io.StringIO()) == 2


def test_usage_rows_per_device_and_shared(tmp_path: Path) -> None:
    config = parse_config(HOUSEHOLD.format(data_dir=tmp_path))
    meter = UsageMeter(LONDON, clock=MONDAY_NOON.timestamp)
    policy = Policy(config, LISTS, usage=meter)
    for m in range(5):
        policy.decide(get("http://www.youtube.com/x", SAM), MONDAY_NOON + timedelta(minutes=m))
        policy.decide(get("http://open.spotify.com/x", SAM), MONDAY_NOON + timedelta(minutes=m))
    rows = {(r["device"], r["limit"]): r for r in usage_rows(policy)}
    assert rows[("Sam's tablet", "YouTube")]["used_minutes"] == 5
    assert rows[("Alex's phone", "YouTube")]["used_minutes"] == 0
    assert rows[("Alex's phone", "Music")]["used_minutes"] == 5  # shared by the profile
    assert rows[("Sam's tablet", "YouTube")]["left_minutes"] == 55


def test_check_reports_the_service_and_the_time_left_from_usage_db(tmp_path: Path) -> None:
    from tests.test_serve import run_cli

    config_file = tmp_path / "guardian.toml"
    config_file.write_text(HOUSEHOLD.format(data_dir=tmp_path / "data"))
    store = UsageStore(tmp_path / "data" / "usage.db")
    now = time.time()
    meter = UsageMeter(LONDON, store, clock=lambda: now)
    for m in range(1, 8):
        meter.note("device:Sam's tablet", "YouTube", now - 60 * m if meter.day_of(now - 60 * m)[0] ==
                   meter.day_of(now)[0] else now + 60 * m)
    meter.flush()
    store.close()
    out = run_cli("check", "https://www.youtube.com/", "--client", SAM, "--json", "--config", str(config_file),
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    weekday_minutes = 120 if datetime.now(LONDON).weekday() >= 5 else 60
    assert (result["service"], result["service_name"], result["limit"]) == ("youtube", "YouTube", "YouTube")
    assert (result["used_minutes"], result["left_minutes"]) == (7, weekday_minutes - 7)
    text = run_cli("check", "www.youtube.com", "--client", SAM, "--config", str(config_file), cwd=tmp_path)
    assert "service:  YouTube" in text.stdout and "7 minutes used today" in text.stdout
