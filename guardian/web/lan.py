"""This machine's addresses on the home network, for the setup guide.

Read from the kernel's interface table (an ioctl per interface, no subprocess), leaving
out loopback and link-local addresses nobody would type into a phone.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915


def lan_addresses() -> list[str]:
    """IPv4 addresses of this machine's network interfaces, loopback left out."""
    found: list[str] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in interfaces:
            try:
                packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address on this interface
            address = ipaddress.IPv4Address(packed[20:24])
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                found.append(str(address))
    return list(dict.fromkeys(found))


def is_loopback_only(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"
