"""`guardian check`, `pause`, `allow` and `pauses` as the CLI calls them."""

from __future__ import annotations

import io
import json
import time

import pytest

from guardian.config import Config
from guardian.policy import PauseStore, Policy
from guardian.policy.commands import allow_command, check_command, pause_command, pauses_command


def run(command, *args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = command(*args, out=out, err=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_check_prints_json_and_exits_0_for_a_block(policy: Policy) -> None:
    status, out, _ = run(check_command, policy, "https://example.org/", "192.168.1.23", "2026-11-30T21:30",
                         None, None, True)
    assert status == 0
    assert json.loads(out) == {"action": "block", "reason": "Bedtime until 07:00", "rule": None, "list": None,
                               "schedule": "bedtime", "device": "Sam's tablet", "profile": "kids", "note": None,
                               "service": None, "service_name": None, "limit": None, "used_minutes": None,
                               "left_minutes": None}


def test_check_at_with_an_offset(policy: Policy) -> None:
    # 21:30 in New York is 02:30 in London on Tuesday: still bedtime from Monday night.
    status, out, _ = run(check_command, policy, "https://example.org/", "192.168.1.23",
                         "2026-11-30T21:30-05:00", None, None, True)
    assert (status, json.loads(out)["action"]) == (0, "block")
    _, out, _ = run(check_command, policy, "https://example.org/", "192.168.1.23",
                    "2026-11-30T21:30+09:00", None, None, True)
    assert json.loads(out)["action"] == "allow"  # 12:30 in London


def test_check_human_output(policy: Policy) -> None:
    status, out, _ = run(check_command, policy, "https://www.tiktok.com/", "192.168.9.9", "2026-12-01T12:00",
                         None, None, False)
    assert status == 0
    assert out.splitlines()[0] == "allow: https://www.tiktok.com/"
    assert "not configured (192.168.9.9)" in out
    _, out, _ = run(check_command, policy, "http://x.example/casino/a", "192.168.1.23", "2026-12-01T12:00",
                    "http://x.example/", "image", False)
    assert "rule:     /casino/*$image (list custom)" in out


@pytest.mark.parametrize(("args", "message"), [
    (("https://x.example/", "192.168.1.23", "tonight", None, None), "--at 'tonight' is not an ISO 8601"),
    (("https://x.example/", "not-an-ip", None, None, None), "--client 'not-an-ip' is not an IP address"),
    (("https://x.example/", "192.168.1.23", None, None, "banner"), "--type 'banner' is not a request type"),
    (("ftp://x.example/", "192.168.1.23", None, None, None), "only http:// and https://"),
    (("http://x.example:99999/", "192.168.1.23", None, None, None), "x.example:99999"),
])
def test_check_errors_are_clear_and_non_zero(policy: Policy, args: tuple, message: str) -> None:
    status, out, err = run(check_command, policy, *args, False)
    assert status == 2 and out == ""
    assert message in err


def test_pause_allow_list_and_cancel(config: Config) -> None:
    status, out, _ = run(pause_command, config, profile="kids", device=None, minutes=30)
    assert status == 0 and out.startswith("Filtering is paused for the profile kids until ")
    status, out, _ = run(allow_command, config, host="youtube.com", profile=None, device="Sam's tablet",
                         minutes=60)
    assert status == 0 and out.startswith("youtube.com is allowed for the device Sam's tablet until ")

    status, out, _ = run(pauses_command, config, as_json=True)
    entries = json.loads(out)
    assert status == 0 and [e["kind"] for e in entries] == ["pause", "allow"]
    # The running server's store sees what the command line wrote.
    store = PauseStore.for_data_dir(config.data_dir)
    assert store.find("kids", None, "example.org", time.time()) is not None

    status, out, _ = run(pauses_command, config, cancel=entries[0]["id"])
    assert status == 0 and out.startswith(f"cancelled {entries[0]['id']}: Filtering is paused")
    status, out, _ = run(pauses_command, config)
    assert len(out.splitlines()) == 1 and "youtube.com is allowed" in out
    status, _, err = run(pauses_command, config, cancel="deadbeef")
    assert status == 1 and "no pause or allowance in force has the id 'deadbeef'" in err


def test_no_pauses_in_force(config: Config) -> None:
    assert run(pauses_command, config) == (0, "No pauses or allowances in force.\n", "")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"profile": "nobody", "device": None, "minutes": 5}, "no profile is named 'nobody'"),
    ({"profile": None, "device": "Toaster", "minutes": 5}, "no device is named 'Toaster'"),
    ({"profile": "kids", "device": "Sam's tablet", "minutes": 5}, "give either --profile or --device"),
    ({"profile": None, "device": None, "minutes": 5}, "give either --profile or --device"),
    ({"profile": "kids", "device": None, "minutes": 0}, "minutes must be more than 0"),
])
def test_pause_usage_errors(config: Config, kwargs: dict, message: str) -> None:
    status, _, err = run(pause_command, config, **kwargs)
    assert status == 2 and message in err


def test_allow_needs_a_host(config: Config) -> None:
    status, _, err = run(allow_command, config, host=" / ", profile="kids", device=None, minutes=5)
    assert status == 2 and "--host needs a host name" in err
