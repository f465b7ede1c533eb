"""The functions behind `guardian filters report` and `guardian filters match`."""

from __future__ import annotations

import io

from guardian.filters.commands import match_command, report_command


def test_report(tmp_path):
    (tmp_path / "custom.txt").write_text("||ads.example^\n##.ad\n||x.example^$bogus\n")
    out = io.StringIO()
    assert report_command([str(tmp_path / "custom.txt")], out=out) == 0
    text = out.getvalue()
    assert "custom: abp format, 3 lines, 1 rules" in text
    assert "line 3: unsupported option $bogus" in text


def test_report_missing_file(tmp_path, capsys):
    assert report_command([str(tmp_path / "nope.txt")]) == 2
    assert "cannot read list" in capsys.readouterr().err


def test_report_bad_format(tmp_path, capsys):
    assert report_command([str(tmp_path / "x.txt")], fmt="xml") == 2


def test_match(tmp_path):
    (tmp_path / "hosts.txt").write_text("0.0.0.0 ads.example\n")
    (tmp_path / "mine.txt").write_text("@@||ads.example/ok\n")
    paths = [str(tmp_path / "hosts.txt"), str(tmp_path / "mine.txt")]
    out = io.StringIO()
    assert match_command(paths, "https://ads.example/x", None, None, out=out) == 1
    assert out.getvalue().splitlines() == [
        "blocked: https://ads.example/x", "rule: 0.0.0.0 ads.example", "list: hosts",
    ]
    out = io.StringIO()
    assert match_command(paths, "https://ads.example/ok", "https://site.example/", "script", out=out) == 0
    assert "rule: @@||ads.example/ok" in out.getvalue()
