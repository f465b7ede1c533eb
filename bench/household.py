"""The household configuration for benchmarks, written once for every script that needs it.

EasyList and EasyPrivacy as local lists on the default profile, the request log, the
cache and the access log on, privacy edits at their defaults: what a household runs
(issue 15), against the README's defaults otherwise. The loopback origin is reachable
(no destination check on 127.0.0.1) and tunnels may go to any port, as the peers' are;
every benchmark client comes from 127.0.0.1, so the per-device connection cap is raised
to the proxy's whole limit (the idle-clients test holds 2,000). One proxy process
(`workers = 1`): issue 15's per-core targets are for one worker; bench/workers.py
measures several.

    .venv/bin/python bench/household.py DIR [--listen 127.0.0.1:PORT] [--core]

writes DIR/guardian.toml and prints its path; `--core` writes the core-only one instead
(no lists, no request log, no cache, access log on: bench/proxy-core.toml's settings).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LISTS = ROOT.parent / "shared" / "data" / "filterlists"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PARTS = ("lists", "log", "cache", "access_log", "privacy")


def for_tree(text: str, base: Path | None) -> str:
    """`text` for the source at `base` (None: this tree): one from before `[proxy] workers`
    runs one process and refuses the key."""
    if base is not None and not (base / "guardian" / "workers").is_dir():
        return text.replace("workers = 1\n", "")
    return text


def config_text(data_dir: Path, listen: str, *, core: bool = False, web_port: int | None = None,
                without: frozenset[str] = frozenset()) -> str:
    """The household configuration, or the core-only one; `without` turns parts of the
    household's off (PARTS), to measure what each costs."""
    if core:
        without = frozenset(PARTS)
    web = f"127.0.0.1:{web_port or _free_port()}"
    text = f'''data_dir = "{data_dir}"

[proxy]
listen = "{listen}"
deny_destinations = []
deny_own_addresses = false
connect_ports = ["1-65535"]
max_connections_per_client = 4096
workers = 1
access_log = {str("access_log" not in without or core).lower()}

[web]
listen = "{web}"

[log]
enabled = {str("log" not in without).lower()}

[cache]
enabled = {str("cache" not in without).lower()}
'''
    if "privacy" in without:
        text += '''
[privacy]
strip_tracking_parameters = false
referer = "full"
global_privacy_control = false
'''
    if "lists" in without:
        return text
    for list_id in ("easylist", "easyprivacy"):
        text += f'''
[[lists]]
id = "{list_id}"
url = "{LISTS / f'{list_id}.txt'}"
format = "abp"
'''
    return text + '''
[[profiles]]
name = "default"
lists = ["easylist", "easyprivacy"]
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--listen", default="127.0.0.1:3128")
    ap.add_argument("--core", action="store_true")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / ("core.toml" if args.core else "guardian.toml")
    path.write_text(config_text(args.dir / "data", args.listen, core=args.core))
    print(path)


if __name__ == "__main__":
    main()
