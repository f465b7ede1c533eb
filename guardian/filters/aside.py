"""Building a filter index in a short-lived helper process, so the service never holds the
garbage of a build.

Parsing EasyList and EasyPrivacy makes millions of short-lived objects; after the build,
the long-lived index lies scattered among their freed slots, and the process keeps about
10 MiB it no longer uses (Python's allocator returns a block of memory to the system only
when nothing in it is alive). So `guardian serve` builds an index it has no cache for in
a helper (`python -m guardian.filters.aside`, the lists named on stdin), which writes the
index cache and the host tables beside the lists and exits; the service then loads the
cache, compactly, in a few hundredths of a second. If the helper fails, the service
builds the index itself, as before, and logs why.
"""

from __future__ import annotations

import logging
import marshal
import sys
from collections.abc import Mapping
from pathlib import Path

from guardian.helper_process import HelperFailed, run_helper

from .compact import ListFile

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 600  # a Pi Zero parsing a few million host lines


def build_aside(lists: Mapping[str, str | ListFile], formats: Mapping[str, str], cache_dir: Path) -> bool:
    """Build the index for `lists` in a helper process, which leaves it in `cache_dir`; False
    (and the reason logged) when the helper did not finish."""
    request = {
        "cache_dir": str(cache_dir),
        "formats": dict(formats),
        "lists": [(name, ("file", str(source.path)) if isinstance(source, ListFile) else ("text", source))
                  for name, source in lists.items()],
    }
    try:
        run_helper("guardian.filters.aside", stdin=marshal.dumps(request), timeout=TIMEOUT_SECONDS)
    except HelperFailed as exc:
        log.warning("the filter lists are being read in this process: the helper %s (%s)",
                    "failed" if exc.started else "did not run", exc)
        return False
    return True


def main() -> int:
    from .cache import cache_path, lists_key
    from .engine import FilterEngine

    request = marshal.loads(sys.stdin.buffer.read())
    lists: dict[str, str | ListFile] = {
        name: ListFile.of(value) if kind == "file" else value for name, (kind, value) in request["lists"]}
    FilterEngine.from_lists(lists, request["formats"], request["cache_dir"])
    if not cache_path(Path(request["cache_dir"]), lists_key(lists, request["formats"])).is_file():
        print(f"the index could not be saved in {request['cache_dir']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
