"""A socket with a read buffer and deadlines, the one way the core reads from a peer.

Each read takes an absolute deadline (time.monotonic) rather than a per-recv timeout,
so a peer that trickles one byte every few seconds still runs out of time: that is
what makes "the whole head within 10 s" hold against slow-loris clients.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Sequence

RECV_SIZE = 65536
_RESET = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


class PeerClosed(Exception):
    """The peer closed (or reset) the connection."""


class Timeout(Exception):
    """A deadline passed before the peer sent what was needed."""


class HeadTooLarge(Exception):
    """No end of head within the allowed size."""


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


def readable(socks: Sequence[socket.socket], timeout: float) -> list[socket.socket]:
    """Those of `socks` with something to read (or closed) within `timeout` seconds. poll(), not
    select(): a busy proxy's descriptors go past select()'s limit of 1023."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN)
    ready = {fd for fd, _ in poller.poll(max(0.0, timeout) * 1000)}
    return [sock for sock in socks if sock.fileno() in ready]


def set_send_timeout(sock: socket.socket, seconds: float) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(seconds))


class BufferedSocket:
    """Reads through the kernel's SO_RCVTIMEO instead of Python's socket timeouts.

    A Python-level timeout costs a poll() before every recv and an ioctl() on every
    change; on a busy proxy those syscalls (and the GIL hand-offs around each one) cost
    more than the proxying. The socket stays in blocking mode and the kernel enforces
    the receive timeout; it is only changed when the wanted value moves noticeably."""

    __slots__ = ("_recv_timeout", "buffer", "bytes_read", "sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        self.sock = sock
        self.buffer = bytearray()
        self.bytes_read = 0
        self._recv_timeout = -1.0

    def _set_recv_timeout(self, seconds: float) -> None:
        current = self._recv_timeout
        if current >= 0 and abs(current - seconds) <= max(0.25, current * 0.05):
            return
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        self._recv_timeout = seconds

    def _fill(self, deadline: float | None) -> None:
        if deadline is None:
            self._set_recv_timeout(0)  # 0: no timeout
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout()
            self._set_recv_timeout(max(remaining, 0.001))
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, TimeoutError):  # EAGAIN: SO_RCVTIMEO expired
            raise Timeout() from None
        except _RESET:
            raise PeerClosed() from None
        self._keep(data)

    def fill_nowait(self) -> bool:
        """Buffer what has arrived without waiting; False when nothing had. PeerClosed at the end."""
        try:
            data = self.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except _RESET:
            raise PeerClosed() from None
        self._keep(data)
        return True

    def _keep(self, data: bytes) -> None:
        """What one recv() returned: nothing is the end of the stream."""
        if not data:
            raise PeerClosed()
        self.bytes_read += len(data)
        self.buffer += data

    def wait_for_data(self, deadline: float | None) -> None:
        """Block until at least one byte is buffered."""
        if not self.buffer:
            self._fill(deadline)

    def read_head(self, deadline: float | None, limit: int) -> bytes:
        """Everything up to and including the first CRLF CRLF."""
        start = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n", start)
            if end >= 0:
                end += 4
                head = bytes(self.buffer[:end])
                del self.buffer[:end]
                return head
            if len(self.buffer) > limit:
                raise HeadTooLarge()
            start = max(0, len(self.buffer) - 3)
            self._fill(deadline)

    def read_line(self, deadline: float | None, limit: int = 4096) -> bytes:
        """One CRLF-terminated line, without the CRLF."""
        start = 0
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 2]
                return line
            if len(self.buffer) > limit:
                raise HeadTooLarge()
            start = max(0, len(self.buffer) - 1)
            self._fill(deadline)

    def read_some(self, max_bytes: int, deadline: float | None) -> bytes:
        """Up to max_bytes, at least one."""
        if not self.buffer:
            self._fill(deadline)
        chunk = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        return chunk

    def read_exact(self, count: int, deadline: float | None) -> bytes:
        while len(self.buffer) < count:
            self._fill(deadline)
        chunk = bytes(self.buffer[:count])
        del self.buffer[:count]
        return chunk

    def take_buffer(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


    def close(self) -> None:
        self.sock.close()
