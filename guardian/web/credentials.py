"""The secrets of the settings page, each a small file in the data dir with mode 0600.

- `admin.json`: the admin password as a werkzeug scrypt hash (salted, slow). There is no
  default: until this file exists the page only offers the set-up form, which needs the
  one-time code printed to the service log at start.
- `web-secret`: the random key that signs session cookies. Losing it only logs everyone out.
- `api-token`: the per-installation token for scripts (`Authorization: Bearer ...`).
  A new one is made whenever the password changes, so someone who once saw it loses it too.
- `web-sessions.json`: the ids of the browser sessions that are logged in, with their
  start. Logging out removes one, a password change removes all, so a copied cookie
  stops working on the server, not only in the browser that logged out.
- `setup-code`: the one-time set-up code of the running service (a new one at every start,
  until a password is set), for `guardian setup-code`: the log holds every start's code.

Every write is atomic (guardian.fsutil), so a power cut never leaves a half-written
secret. The files are read on every use rather than cached: `guardian set-password`
from the shell takes effect in the running server at once, and these reads are tiny.

A session remembers the password's *generation* (a digest of the stored hash), so a
password change, here or from the shell, ends every other session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path

from guardian.fsutil import atomic_write_text

log = logging.getLogger("guardian")

ADMIN_FILE = "admin.json"
SECRET_FILE = "web-secret"
TOKEN_FILE = "api-token"
SESSIONS_FILE = "web-sessions.json"
MAX_SESSIONS = 64  # beyond this the oldest login is ended
SETUP_CODE_FILE = "setup-code"
_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: it is read off a console
_CODE_FORM = re.compile(f"[{_CODE_ALPHABET}]{{4}}(?:-[{_CODE_ALPHABET}]{{4}}){{2}}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt of a megabyte would be a cheap way to keep the CPU busy
PRIVATE = 0o600


class PasswordError(ValueError):
    """A password that cannot be used; the message says why, for people."""


def check_new_password(password: str, confirm: str | None = None) -> str:
    if confirm is not None and password != confirm:
        raise PasswordError("The two passwords are not the same.")
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"The password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise PasswordError(f"The password can have at most {MAX_PASSWORD} characters.")
    return password


class Credentials:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._sessions_lock = threading.Lock()

    # ------------------------------------------------------------ the admin password

    def _stored_hash(self) -> str | None:
        try:
            plain = json.loads((self.data_dir / ADMIN_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # Refusing every login is the safe answer to a damaged file; the log says how to fix it.
            raise PasswordError(f"{self.data_dir / ADMIN_FILE} is unreadable ({exc}); "
                                "run `guardian set-password` to set a new password") from None
        stored = plain.get("password_hash") if isinstance(plain, dict) else None
        return stored if isinstance(stored, str) and stored else None

    def has_password(self) -> bool:
        return (self.data_dir / ADMIN_FILE).exists()

    def set_password(self, password: str) -> None:
        check_new_password(password)
        from werkzeug.security import generate_password_hash  # werkzeug loads with the page, not at start

        plain = {"version": 1, "password_hash": generate_password_hash(password, method="scrypt"),
                 "changed": datetime.now(UTC).isoformat(timespec="seconds")}
        atomic_write_text(self.data_dir / ADMIN_FILE, json.dumps(plain, indent=2) + "\n", mode=PRIVATE)
        # whoever knew the old password may have copied the token or a session cookie
        self.new_api_token()
        self._write_sessions({})
        (self.data_dir / SETUP_CODE_FILE).unlink(missing_ok=True)  # used up

    def verify(self, password: str) -> bool:
        stored = self._stored_hash()
        if stored is None or len(password) > MAX_PASSWORD:
            return False
        from werkzeug.security import check_password_hash

        return check_password_hash(stored, password)

    def generation(self) -> str | None:
        """Changes whenever the password does; None when there is none."""
        try:
            stored = self._stored_hash()
        except PasswordError:
            return None
        return hashlib.sha256(stored.encode()).hexdigest()[:32] if stored else None

    # ------------------------------------------------------------ browser sessions

    def _sessions(self) -> dict[str, float]:
        try:
            plain = json.loads((self.data_dir / SESSIONS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(plain, dict):
            return {}
        return {k: v for k, v in plain.items() if isinstance(k, str) and isinstance(v, int | float)}

    def _write_sessions(self, sessions: dict[str, float]) -> None:
        atomic_write_text(self.data_dir / SESSIONS_FILE, json.dumps(sessions) + "\n", mode=PRIVATE)

    def new_session(self, now: float, lifetime: float) -> str:
        sid = secrets.token_urlsafe(24)
        with self._sessions_lock:
            live = {k: v for k, v in self._sessions().items() if now - v < lifetime}
            live[sid] = now
            while len(live) > MAX_SESSIONS:
                del live[min(live, key=live.__getitem__)]
            self._write_sessions(live)
        return sid

    def session_alive(self, sid: str) -> bool:
        return sid in self._sessions()

    def end_session(self, sid: str) -> None:
        with self._sessions_lock:
            live = self._sessions()
            if live.pop(sid, None) is not None:
                self._write_sessions(live)
    def new_setup_code(self) -> str:
        code = "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
        atomic_write_text(self.data_dir / SETUP_CODE_FILE, code + "\n", mode=PRIVATE)
        return code

    def announce_setup_code(self, page_address: str) -> str:
        """A new set-up code, written for `guardian setup-code` and logged with where to enter it."""
        code = self.new_setup_code()
        log.warning("settings page: no admin password is set. Open http://%s/setup and enter the "
                    "one-time set-up code %s (codes from earlier starts no longer work; "
                    "`sudo guardian setup-code` shows the current one; or run `sudo guardian set-password`)",
                    page_address, code)
        return code

    def stored_setup_code(self) -> str | None:
        """The running service's set-up code; None without one (not started, or a password is set)."""
        try:
            code = (self.data_dir / SETUP_CODE_FILE).read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return code if _CODE_FORM.fullmatch(code) and not self.has_password() else None

    # ------------------------------------------------------------ random secrets

    def session_secret(self) -> bytes:
        return bytes.fromhex(self._random_file(SECRET_FILE, replace=False))

    def api_token(self) -> str:
        return self._random_file(TOKEN_FILE, replace=False)

    def new_api_token(self) -> str:
        return self._random_file(TOKEN_FILE, replace=True)

    def check_api_token(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.api_token().encode())

    def _random_file(self, name: str, replace: bool) -> str:
        path = self.data_dir / name
        if not replace:
            try:
                value = path.read_text(encoding="ascii").strip()
            except (FileNotFoundError, UnicodeDecodeError):
                value = ""
            if re.fullmatch(r"[0-9a-f]{64,}", value):
                return value
        value = secrets.token_hex(32)
        atomic_write_text(path, value + "\n", mode=PRIVATE)
        return value
