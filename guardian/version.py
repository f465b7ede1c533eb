"""Which Guardian this is: the version (written in one place, pyproject.toml, and read back
from the installed package's metadata) and the commit it was installed from."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

# install.sh writes the commit it installed here: the installed copy has no .git to ask.
COMMIT_FILE = Path(__file__).with_name("COMMIT")


def version() -> str:
    try:
        return metadata.version("guardian")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@cache
def commit() -> str | None:
    try:
        recorded = COMMIT_FILE.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        recorded = ""
    if recorded:
        return recorded
    try:  # a development checkout
        done = subprocess.run(["git", "-C", str(COMMIT_FILE.parents[1]), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def describe_version() -> str:
    """`1.2.3 (commit 1c64220abcd1)`, or only the version when the commit is unknown."""
    known = commit()
    return f"{version()} (commit {known})" if known else version()
