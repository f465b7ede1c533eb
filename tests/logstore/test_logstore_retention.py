"""Roll-ups and retention, driven by a clock the test sets."""

from __future__ import annotations

import sqlite3

from guardian.logstore import LogStore
from tests_logstore_support import DAY, HOUR
