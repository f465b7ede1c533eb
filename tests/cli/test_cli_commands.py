"""The command line as a maintainer at a shell uses it: the real `guardian` command against a real
configuration file and data directory (issue 17, items 10 to 13, 15 and 17)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import GUARDIAN, HOUSEHOLD, LONG_PATH, log_requests, write_household
from tests.support.serve import GuardianProcess, free_port

# ---------------------------------------------------------------- a reader that goes away


def test_log_piped_into_head_ends_quietly(household):
    log_requests(household.data_dir, count=3000)  # far more than a pipe holds
    config = shlex.quote(str(household.config))
    done = subprocess.run(
        ["bash", "-c", f"{GUARDIAN} log --since 1d --limit 5000 --wide --config {config} | head -n 2; "
                       "echo status=${PIPESTATUS[0]}"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.stderr == ""  # no BrokenPipeError traceback
    assert done.stdout.splitlines()[0].startswith("id ")
    assert done.stdout.splitlines()[-1] == f"status={128 + signal.SIGPIPE}"


@pytest.mark.parametrize("command", [["stats", "--since", "1d"], ["log", "--since", "1d"], ["lists", "catalog"],
                                     ["services"], ["config", "check"], ["pauses"], ["lists"]])
def test_every_printing_command_ends_quietly_when_nobody_reads(household, command):
    log_requests(household.data_dir)
    process = subprocess.Popen([str(GUARDIAN), *command, "--config", str(household.config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the command writes a byte
    _, err = process.communicate(timeout=120)
    assert err == b""
    assert process.returncode == 128 + signal.SIGPIPE


# ---------------------------------------------------------------- log fits the terminal


def test_log_fits_the_terminal_and_keeps_both_ends_of_a_long_url(household):
    log_requests(household.data_dir)
    done = household.run("log", "--since", "1d", env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(len(line) <= 100 for line in lines)
    row = next(line for line in lines if "video.example" in line)
    assert "…" in row and "the-end.html" in row and "middle-part" not in row
    assert "news.example/page/0.html" in done.stdout  # short URLs are whole


def test_log_wide_and_json_give_the_whole_url(household):
    log_requests(household.data_dir)
    wide = household.run("log", "--since", "1d", "--wide", env={"COLUMNS": "100"})
    assert wide.returncode == 0 and f"video.example{LONG_PATH}" in wide.stdout
    as_json = household.run("log", "--since", "1d", "--json", env={"COLUMNS": "100"})
    assert f"video.example{LONG_PATH}" in {r["host"] + r["target"] for r in json.loads(as_json.stdout)}


def test_log_into_a_file_is_not_cut(household):
    log_requests(household.data_dir)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([str(GUARDIAN), "log", "--since", "1d", "--config", str(household.config)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert f"video.example{LONG_PATH}" in done.stdout


# ---------------------------------------------------------------- --device


@pytest.mark.parametrize("command", [["log", "--since", "1d"], ["stats", "--since", "1d"]])
def test_device_names_match_regardless_of_case(household, command):
    log_requests(household.data_dir)
    done = household.run(*command, "--device", "kid TABLET")
    assert done.returncode == 0, done.stderr
    assert "news.example" in done.stdout and "work.example" not in done.stdout


@pytest.mark.parametrize("command", [["log"], ["stats"], ["usage"], ["pause", "--minutes", "5"],
                                     ["allow", "--host", "example.com", "--minutes", "5"]])
def test_an_unknown_device_is_refused_with_the_known_ones(household, command):
    log_requests(household.data_dir)
    done = household.run(*command, "--device", "Nobody")
    assert done.returncode == 2
    assert "no device is named 'Nobody'" in done.stderr
    assert "'Kid tablet'" in done.stderr and "'Dad laptop'" in done.stderr
    assert done.stdout == ""
    assert not (household.data_dir / "pauses.json").exists()


def test_pause_by_device_in_another_case_pauses_that_device(household):
    done = household.run("pause", "--device", "dad LAPTOP", "--minutes", "30")
    assert done.returncode == 0, done.stderr
    listed = household.run("pauses", "--json")
    assert [entry["name"] for entry in json.loads(listed.stdout)] == ["Dad laptop"]


# ---------------------------------------------------------------- check --client / --at


def _check(household, *args):
    done = household.run("check", "http://games.example/", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_check_takes_a_device_name_and_a_day_and_time(household):
    # Bedtime runs on Mon, SAT and Sunday, written in any case, from 21:00 to 07:00.
    late = _check(household, "--client", "kid tablet", "--at", "sat 22:30")
    assert late["action"] == "block" and late["device"] == "Kid tablet" and late["schedule"] == "Bedtime"
    assert _check(household, "--client", "Kid tablet", "--at", "Saturday 12:00")["action"] == "allow"
    assert _check(household, "--client", "Kid tablet", "--at", "TUE 22:30")["action"] == "allow"
    assert _check(household, "--client", "192.168.1.20", "--at", "2026-12-05T22:30")["action"] == "block"
    assert _check(household, "--client", "Dad laptop", "--at", "sat 22:30")["action"] == "allow"


def test_check_at_a_time_of_day_means_today(household):
    # 22:30 today is inside Bedtime exactly when today is one of its days.
    import datetime

    today = datetime.datetime.now(datetime.UTC).strftime("%a").lower()
    expected = "block" if today in ("mon", "sat", "sun") else "allow"
    assert _check(household, "--client", "Kid tablet", "--at", "22:30")["action"] == expected


@pytest.mark.parametrize(("args", "says"), [
    (["--client", "Nobody"], "neither an IP address nor a device's name"),
    (["--client", "Kid tablet", "--at", "funday 22:30"], "'funday' is not a day"),
    (["--client", "Kid tablet", "--at", "9pm"], "like 22:30"),
    (["--client", "Kid tablet", "--at", "24:00"], "like 22:30"),
    (["--client", "Kid tablet", "--at", "sat at 9"], "a day and a time"),
])
def test_check_refuses_what_it_cannot_read(household, args, says):
    done = household.run("check", "http://games.example/", *args)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- relative data_dir


def test_a_relative_data_dir_is_next_to_the_file_whatever_the_directory(household, tmp_path):
    assert household.run("pause", "--device", "Kid tablet", "--minutes", "30").returncode == 0
    assert (household.data_dir / "pauses.json").is_file()
    assert not (household.elsewhere / "data").exists()
    # From a third directory, and from the file's own, the same pause is there.
    third = tmp_path / "third"
    third.mkdir()
    for cwd in (third, household.config.parent):
        listed = household.run("pauses", cwd=cwd)
        assert "Kid tablet" in listed.stdout, listed.stdout + listed.stderr
    shown = household.run("config", "check")
    assert f'data_dir = "{household.data_dir}"' in shown.stdout


# ---------------------------------------------------------------- schedule wording


def _schedule_problem(household, start: str, end: str, days: str = '["mon"]'):
    text = HOUSEHOLD.format(port=3128, web_port=8080, proxy_extra="")
    text = text.replace('from = "21:00"', f'from = "{start}"').replace('to = "07:00"', f'to = "{end}"')
    text = text.replace('days = ["Mon", "SAT", "Sunday"]', f"days = {days}")
    household.config.write_text(text)
    return household.run("config", "check")


def test_a_time_written_as_9pm_is_refused_in_plain_words(household):
    done = _schedule_problem(household, "9pm", "07:00")
    assert done.returncode == 2
    assert "'9pm' is not a time of day as HH:MM on the 24-hour clock, like 21:00" in done.stderr
    assert "24:00" not in done.stderr


def test_a_window_cannot_start_at_24_00_but_may_end_there(household):
    done = _schedule_problem(household, "24:00", "07:00")
    assert done.returncode == 2 and "cannot start at 24:00; write 00:00" in done.stderr
    done = _schedule_problem(household, "20:00", "24:00")
    assert done.returncode == 0, done.stderr


def test_days_in_any_case_or_in_full_are_days(household):
    done = _schedule_problem(household, "20:00", "22:00", '["MON", "Tue", "wednesday", "SUNDAY"]')
    assert done.returncode == 0, done.stderr
    assert 'days = ["mon", "tue", "wed", "sun"]' in done.stdout
    done = _schedule_problem(household, "20:00", "22:00", '["Funday"]')
    assert done.returncode == 2 and "'Funday' is not a day" in done.stderr


def test_the_service_and_the_command_line_share_the_data_dir_next_to_the_file(tmp_path):
    port = free_port()
    household = write_household(tmp_path, port=port, web_port=free_port())
    relative = os.path.relpath(household.config, household.elsewhere)
    service = GuardianProcess(Path(relative), household.elsewhere, port)
    try:
        assert (household.data_dir / "setup-code").is_file()
        assert not (household.elsewhere / "data").exists()
        code = household.run("setup-code", cwd=tmp_path)  # a third directory
        assert code.returncode == 0 and f"set-up code {code.stdout.strip()} " in service.log()
    finally:
        service.stop()
