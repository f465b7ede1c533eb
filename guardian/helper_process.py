"""Running one of Guardian's own modules as a short-lived helper process.

Work that would leave a long-running service holding memory it never uses again (parsing
big lists, loading the certificate code to make the first CA) runs in a helper that exits
when done: `python -m <module>` with this interpreter. Both users want the same answer on
failure: one line saying why, for the log or the parent.
"""

from __future__ import annotations

import subprocess
import sys


class HelperFailed(Exception):
    """The helper did not finish; the message is the reason in one line. `started`: False
    when it could not even be started (or ran out of time)."""

    def __init__(self, reason: str, started: bool) -> None:
        super().__init__(reason)
        self.started = started


def run_helper(module: str, *args: str, stdin: bytes | None = None, timeout: float) -> None:
    """Run `python -m module args...` with `stdin`; HelperFailed with its last error line."""
    try:
        done = subprocess.run([sys.executable, "-m", module, *args], input=stdin, capture_output=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HelperFailed(str(exc), started=False) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise HelperFailed(lines[-1] if lines else f"exit status {done.returncode}", started=True)
