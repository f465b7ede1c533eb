"""The version is written once, in pyproject.toml, and the licence matches what it declares."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import guardian

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_package_reports_pyprojects_version():
    assert guardian.__version__ == PROJECT["version"]


def test_guardian_version_names_it_with_the_commit():
    done = subprocess.run([sys.executable, "-c", "from guardian.cli import main; main()", "--version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"guardian {PROJECT['version']}")


def test_the_licence_file_is_the_gpl_version_3_pyproject_declares():
    assert PROJECT["license"] == "GPL-3.0-or-later"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    assert "END OF TERMS AND CONDITIONS" in text and "How to Apply These Terms to Your New Programs" in text
