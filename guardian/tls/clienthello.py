"""The server name (SNI) in a TLS ClientHello, read from the bytes a client sent first.

A tunnel Guardian neither blocks nor decrypts is decided on its CONNECT host; a client
can name another site inside (a fronted connection). Reading the SNI from the first
bytes, without consuming them, lets the stricter of the two decide. The parser walks
the handshake once, bounds every length by what is there, and reads at most
`MAX_HELLO` bytes, so it takes linear time on anything a client sends.
"""

from __future__ import annotations

from guardian.proxy.http1 import MAX_HOST_NAME

MAX_HELLO = 64 * 1024
NEED_MORE = object()  # the ClientHello is not complete yet


def server_name(data: bytes) -> str | object | None:
    """The SNI host name (lower case), None when the bytes are not a ClientHello or name
    no host, NEED_MORE when they are the start of one."""
    handshake = bytearray()
    offset = 0
    needed = None
    while needed is None or len(handshake) < needed:
        if len(data) - offset < 5:
            return NEED_MORE
        if data[offset] != 0x16 or data[offset + 1] != 0x03:
            return None
        length = int.from_bytes(data[offset + 3:offset + 5], "big")
        if length == 0 or length > 16384 + 2048:
            return None
        if len(data) - offset - 5 < length:
            return NEED_MORE
        handshake += data[offset + 5:offset + 5 + length]
        offset += 5 + length
        if needed is None and len(handshake) >= 4:
            if handshake[0] != 0x01:
                return None
            needed = 4 + int.from_bytes(handshake[1:4], "big")
            if needed > MAX_HELLO:
                return None
    return _sni(bytes(handshake[4:needed]))


def _sni(hello: bytes) -> str | None:
    pos = 2 + 32  # version, random
    if len(hello) < pos + 1:
        return None
    pos += 1 + hello[pos]  # session id
    if len(hello) < pos + 2:
        return None
    pos += 2 + int.from_bytes(hello[pos:pos + 2], "big")  # cipher suites
    if len(hello) < pos + 1:
        return None
    pos += 1 + hello[pos]  # compression methods
    if len(hello) < pos + 2:
        return None
    end = min(len(hello), pos + 2 + int.from_bytes(hello[pos:pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        kind = int.from_bytes(hello[pos:pos + 2], "big")
        size = int.from_bytes(hello[pos + 2:pos + 4], "big")
        body = hello[pos + 4:pos + 4 + size]
        pos += 4 + size
        if kind != 0:
            continue
        # server_name_list: length, then (type, length, name); type 0 is a host name
        if len(body) < 5 or body[2] != 0:
            return None
        name_length = int.from_bytes(body[3:5], "big")
        name = body[5:5 + name_length]
        if len(name) != name_length or not name.isascii():
            return None
        host = name.decode("ascii").rstrip(".").lower()
        # no longer name resolves (the proxy refuses one in a request too)
        return host if 0 < len(host) <= MAX_HOST_NAME else None
    return None
