"""One supervisor-worker link: length-prefixed pickled messages over a Unix socket pair.

Both ends belong to Guardian: the pair is made by the supervisor and the worker end is
inherited across fork (or exec), so nothing else can write to it, which is why pickle
is acceptable here. A message is a tuple whose first item names its kind.
"""

from __future__ import annotations

import pickle
import socket
import struct
import threading
from typing import Any

_HEADER = struct.Struct("!I")
MAX_MESSAGE = 256 * 2**20  # a configuration or a batch of records is far below this


class ChannelClosed(Exception):
    """The other end has gone (its process ended)."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(left), cls(right)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, *message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:
                self.sock.sendall(_HEADER.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None

    def recv(self) -> tuple[Any, ...]:
        (size,) = _HEADER.unpack(self._exactly(_HEADER.size))
        if size > MAX_MESSAGE:
            raise ChannelClosed(f"a message of {size} bytes: the other end is confused")
        return pickle.loads(self._exactly(size))

    def _exactly(self, size: int) -> bytes:
        view = bytearray(size)
        got = 0
        while got < size:
            try:
                n = self.sock.recv_into(memoryview(view)[got:])
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None
            if n == 0:
                raise ChannelClosed("end of stream")
            got += n
        return bytes(view)

    def close(self) -> None:
        self.sock.close()
