"""A household as the command line meets it: a configuration file in its own directory (with a
relative data_dir), a request log with rows, and the real `guardian` command to run against it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from guardian.logstore import LogStore
from guardian.records import RequestRecord

GUARDIAN = Path(sys.executable).with_name("guardian")  # the console script pip installed

HOUSEHOLD = """\
data_dir = "data"  # relative: next to this file, wherever the command runs
timezone = "UTC"

[proxy]
listen = "127.0.0.1:{port}"
{proxy_extra}

[web]
listen = "127.0.0.1:{web_port}"

[[profiles]]
name = "default"

[[profiles]]
name = "Kids"
[[profiles.schedules]]
name = "Bedtime"
days = ["Mon", "SAT", "Sunday"]
from = "21:00"
to = "07:00"

[[devices]]
name = "Kid tablet"
match = ["192.168.1.20"]
profile = "Kids"

[[devices]]
name = "Dad laptop"
match = ["192.168.1.30"]
"""

LONG_PATH = "/watch/" + "a" * 150 + "/middle-part/" + "b" * 200 + "/the-end.html"


@dataclass
class Household:
    config: Path  # conf/guardian.toml
    data_dir: Path  # conf/data
    elsewhere: Path  # a directory commands run from, not the file's

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """`guardian ARGS --config ...` run from `elsewhere`, the configuration given by a relative path."""
        where = cwd or self.elsewhere
        config = os.path.relpath(self.config, where)
        return subprocess.run([str(GUARDIAN), *args, "--config", config], cwd=where, capture_output=True,
                              text=True, timeout=120, input=stdin, env={**os.environ, **(env or {})},
                              check=False)


def write_household(root: Path, port: int = 3128, web_port: int = 8080, extra: str = "",
                    proxy_extra: str = "") -> Household:
    """`proxy_extra`: more [proxy] keys (tests that serve lists on loopback allow it there)."""
    conf = root / "conf"
    conf.mkdir(parents=True)
    config = conf / "guardian.toml"
    config.write_text(HOUSEHOLD.format(port=port, web_port=web_port, proxy_extra=proxy_extra) + extra)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return Household(config, conf / "data", elsewhere)


@pytest.fixture
def household(tmp_path: Path) -> Household:
    return write_household(tmp_path)


def log_requests(data_dir: Path, count: int = 3, long_url: bool = True) -> None:
    """Rows in the real request log: the tablet's requests (one with a very long URL) and the laptop's."""
    now = time.time()
    base = RequestRecord(started=now - 60, duration_ms=5.0, client_addr="192.168.1.20", method="GET",
                         scheme="http", host="news.example", port=80, target="/today.html", status=200,
                         bytes_from_client=300, bytes_to_client=5000, action="allowed", device="Kid tablet",
                         profile="Kids")
    records = [replace(base, started=now - 60 - i, target=f"/page/{i}.html") for i in range(count)]
    records.append(replace(base, device="Dad laptop", profile="default", host="work.example"))
    if long_url:
        records.append(replace(base, started=now - 30, host="video.example", target=LONG_PATH, action="blocked",
                               status=403, rule="||video.example^"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with LogStore(data_dir / "guardian.db", flush_interval=0.02) as store:
        for record in records:
            store.record(record)
        deadline = time.monotonic() + 10
        while store.queries.totals(0, now + 10).requests < len(records):
            assert time.monotonic() < deadline, "the log store did not write the rows"
            time.sleep(0.02)
