"""A whole Guardian (guardian.service.Guardian) running in the test process on loopback."""

from __future__ import annotations

import socket
from pathlib import Path

from guardian.service import Guardian, Overrides
from tests.support.serve import free_port


def source_bound_client(proxy_port: int, source_ip: str, timeout: float = 5.0) -> socket.socket:
    """A connection from another loopback address: another device, as far as Guardian can tell."""
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source_ip, 0))
    sock.connect(("127.0.0.1", proxy_port))
    return sock


def start_guardian(tmp_path: Path, body: str) -> Guardian:
    """`body` is TOML added after a [proxy] table that lets the loopback origin through."""
    config = tmp_path / "guardian.toml"
    config.write_text(f'''data_dir = "{tmp_path / 'data'}"
timezone = "Europe/London"
[proxy]
listen = "127.0.0.1:{free_port()}"
deny_destinations = []
deny_own_addresses = false
connect_ports = [443, "1024-65535"]
[web]
listen = "127.0.0.1:{free_port()}"
{body}
''')
    guardian = Guardian(str(config), Overrides())
    guardian.start()
    return guardian
