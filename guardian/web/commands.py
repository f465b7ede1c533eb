"""`guardian set-password`: set the settings page's admin password from the shell;
`guardian setup-code`: the one-time code the set-up form asks for.

Whoever can run this on the Guardian machine (and write its data dir) owns it anyway,
so no old password or set-up code is asked. The password is read twice from the
terminal without echo, or once from standard input with `--stdin` (for scripts:
`echo "$PW" | guardian set-password --stdin`). Changing it ends every browser session.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TextIO

from .credentials import Credentials, PasswordError, check_new_password


def set_password_command(data_dir: Path, password_from_stdin: bool, stdin: TextIO | None = None,
                         err: TextIO | None = None) -> int:
    """0 when set, 2 when the password is unusable, 1 when it cannot be stored."""
    stdin, err = stdin or sys.stdin, err or sys.stderr
    try:
        if password_from_stdin:
            password = check_new_password(stdin.readline().rstrip("\r\n"))
        else:
            password = check_new_password(getpass.getpass("New password for the settings page: "),
                                          getpass.getpass("The same password again: "))
    except PasswordError as exc:
        print(f"guardian set-password: {exc}", file=err)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("guardian set-password: no password given", file=err)
        return 2
    try:
        Credentials(data_dir).set_password(password)
    except OSError as exc:
        print(f"guardian set-password: cannot write to {data_dir}: {exc.strerror or exc}", file=err)
        return 1
    print(f"guardian set-password: password set ({Path(data_dir) / 'admin.json'}); "
          "browsers logged in before have to log in again", file=err)
    return 0


def setup_code_command(data_dir: Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`guardian setup-code`: the running service's set-up code; 1 when there is none to give."""
    out, err = out or sys.stdout, err or sys.stderr
    credentials = Credentials(data_dir)
    if credentials.has_password():
        print("guardian setup-code: the settings page already has a password; log in with it, or set a new "
              "one with `sudo guardian set-password`", file=err)
        return 1
    code = credentials.stored_setup_code()
    if code is None:
        print("guardian setup-code: no code yet: the service has not started (see `systemctl status guardian`)",
              file=err)
        return 1
    print(code, file=out)
    return 0
