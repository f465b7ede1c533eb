"""Moving bytes between two sockets: CONNECT tunnels, upgraded connections, large bodies.

Strategy: one thread per tunnel runs a small poll loop over both sockets in
non-blocking mode. Each direction owns a buffer: on Linux a pipe, filled and drained
with `os.splice` so the payload never enters Python; elsewhere a bytes buffer with
recv/send. A direction reads only when its buffer is empty and writes only when it
holds data, so neither side can stall the other. An end-of-file is passed on as a
half-close (shutdown SHUT_WR) once its buffer is flushed; the tunnel ends when both
directions are done, on an error, or after `idle_timeout` with no traffic.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Callable

CHUNK = 256 * 1024
HAVE_SPLICE = hasattr(os, "splice")


class TunnelStats:
    """Bytes a running relay has moved, readable from another thread without a lock
    (the connection registry samples it to count a tunnel's use per minute): the relay
    loop itself does nothing extra."""

    __slots__ = ("directions",)

    def __init__(self) -> None:
        self.directions: tuple[_Direction, ...] = ()

    def moved(self) -> int:
        return sum(d.moved for d in self.directions)


class _Direction:
    """src -> dst through one buffer."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src = src
        self.dst = dst
        self.pending = 0  # bytes read but not yet written
        self.eof = False  # src has closed; dst gets a half-close once drained
        self.done = False
        self.moved = 0
        if HAVE_SPLICE:
            self.pipe_r, self.pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            with contextlib.suppress(OSError, AttributeError):
                import fcntl
                fcntl.fcntl(self.pipe_w, fcntl.F_SETPIPE_SZ, CHUNK)
        self.buffer = b""

    def close(self) -> None:
        if HAVE_SPLICE:
            os.close(self.pipe_r)
            os.close(self.pipe_w)

    def wants_read(self) -> bool:
        return not self.eof and self.pending == 0

    def wants_write(self) -> bool:
        return self.pending > 0

    def read(self) -> None:
        try:
            if HAVE_SPLICE:
                count = os.splice(self.src.fileno(), self.pipe_w, CHUNK, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            else:
                self.buffer = self.src.recv(CHUNK)
                count = len(self.buffer)
        except BlockingIOError:
            return
        except (ConnectionResetError, BrokenPipeError):
            count = 0
        if count == 0:
            self.eof = True
            self._finish_if_drained()
        else:
            self.pending += count

    def write(self) -> None:
        try:
            if HAVE_SPLICE:
                count = os.splice(self.pipe_r, self.dst.fileno(), self.pending,
                                  flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            else:
                count = self.dst.send(self.buffer)
                self.buffer = self.buffer[count:]
        except BlockingIOError:
            return
        self.pending -= count
        self.moved += count
        self._finish_if_drained()

    def _finish_if_drained(self) -> None:
        if self.eof and self.pending == 0 and not self.done:
            self.done = True
            with contextlib.suppress(OSError):
                self.dst.shutdown(socket.SHUT_WR)


def relay(client: socket.socket, upstream: socket.socket, idle_timeout: float,
          stop_requested: Callable[[], bool] = lambda: False,
          stats: TunnelStats | None = None) -> tuple[int, int]:
    """Relay until both sides are done; returns (bytes client->upstream, upstream->client)."""
    client.setblocking(False)
    upstream.setblocking(False)
    up = _Direction(client, upstream)
    down = _Direction(upstream, client)
    if stats is not None:
        stats.directions = (up, down)
    poller = select.poll()
    fds = {client.fileno(): client, upstream.fileno(): upstream}
    last_activity = time.monotonic()
    try:
        while not (up.done and down.done):
            if stop_requested():
                break
            masks = dict.fromkeys(fds, 0)
            for direction in (up, down):
                if direction.done:
                    continue
                if direction.wants_read():
                    masks[direction.src.fileno()] |= select.POLLIN
                if direction.wants_write():
                    masks[direction.dst.fileno()] |= select.POLLOUT
            for fd, mask in masks.items():
                if mask:
                    poller.register(fd, mask)
                else:
                    # an fd with nothing to wait for would still report POLLHUP and spin the loop
                    with contextlib.suppress(KeyError):
                        poller.unregister(fd)
            events = poller.poll(1000)
            if not events:
                if time.monotonic() - last_activity > idle_timeout:
                    break
                continue
            last_activity = time.monotonic()
            ready = dict(events)
            failed = False
            for direction in (up, down):
                src_events = ready.get(direction.src.fileno(), 0)
                dst_events = ready.get(direction.dst.fileno(), 0)
                try:
                    if direction.wants_read() and src_events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        direction.read()
                    if direction.wants_write() and dst_events & (select.POLLOUT | select.POLLERR | select.POLLHUP):
                        direction.write()
                except OSError:
                    failed = True
            if failed:
                break
    finally:
        up.close()
        down.close()
    return up.moved, down.moved


def splice_exact(src: socket.socket, dst: socket.socket, count: int, timeout: float) -> int:
    """Copy exactly `count` bytes src -> dst in the kernel; returns bytes written.
    Stops early (returning less) when src closes or a side fails, which the caller
    treats as a broken body."""
    src.setblocking(False)
    dst.setblocking(False)
    direction = _Direction(src, dst)
    poller_src = select.poll()
    poller_src.register(src.fileno(), select.POLLIN)
    poller_dst = select.poll()
    poller_dst.register(dst.fileno(), select.POLLOUT)
    try:
        while direction.moved < count:
            if direction.pending == 0:
                if not poller_src.poll(timeout * 1000):
                    break
                want = count - direction.moved
                try:
                    moved = os.splice(src.fileno(), direction.pipe_w, min(CHUNK, want),
                                      flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
                except BlockingIOError:
                    continue
                if moved == 0:
                    break
                direction.pending += moved
            if not poller_dst.poll(timeout * 1000):
                break
            direction.write()
    except OSError:
        pass
    finally:
        direction.close()
        # both sockets carry on in blocking mode (kernel timeouts) for the next request
        src.setblocking(True)
        dst.setblocking(True)
    return direction.moved
