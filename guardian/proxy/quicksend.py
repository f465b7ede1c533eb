"""Sending a small message without giving up the GIL.

Python releases the GIL around every socket call, so that a call which blocks does not
stop the other threads. A send of a few kilobytes to a socket with room in its buffer
never blocks, yet the release costs a hand-off: with many connection threads waiting,
another thread takes the GIL and this one queues to get it back, two context switches
per send. `send_all` first tries the send through libc with MSG_DONTWAIT while holding
the GIL (ctypes.PyDLL does not release it); only what the kernel did not take at once
goes through `socket.sendall`, which blocks and releases the GIL as before.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

_FLAGS = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
_RETRY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})

_send = ctypes.PyDLL(None, use_errno=True).send
_send.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int)
_send.restype = ctypes.c_ssize_t


def send_all(sock: socket.socket, data: bytes) -> None:
    """`sock.sendall(data)` for a plain (not TLS) socket; raises OSError as sendall does."""
    if type(data) is not bytes:  # ctypes passes only bytes without a copy
        sock.sendall(data)
        return
    sent = _send(sock.fileno(), data, len(data), _FLAGS)
    if sent == len(data):
        return
    if sent < 0:
        code = ctypes.get_errno()
        if code not in _RETRY:
            raise OSError(code, os.strerror(code))
        sent = 0
    sock.sendall(memoryview(data)[sent:])
