"""send_all: the GIL-holding first try, and the fall-back for what the kernel did not take."""

from __future__ import annotations

import socket
import threading

import pytest

from guardian.proxy.quicksend import send_all


def _pair() -> tuple[socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def _read_all(sock: socket.socket, count: int, into: list[bytes]) -> None:
    got = 0
    while got < count:
        piece = sock.recv(65536)
        if not piece:
            break
        into.append(piece)
        got += len(piece)


def test_a_small_message_arrives_whole() -> None:
    client, server = _pair()
    with client, server:
        send_all(client, b"GET / HTTP/1.1\r\n\r\n")
        assert server.recv(100) == b"GET / HTTP/1.1\r\n\r\n"


def test_more_than_the_buffers_hold_is_finished_by_a_blocking_send() -> None:
    client, server = _pair()
    with client, server:
        data = bytes(range(256)) * 128_000  # 32 MB: far more than the socket buffers take at once
        received: list[bytes] = []
        reader = threading.Thread(target=_read_all, args=(server, len(data), received))
        reader.start()
        send_all(client, data)
        reader.join(30)
        assert b"".join(received) == data


def test_a_bytearray_is_sent_too() -> None:
    client, server = _pair()
    with client, server:
        send_all(client, bytearray(b"abc"))
        assert server.recv(10) == b"abc"


def test_a_closed_peer_raises_oserror_not_a_signal() -> None:
    client, server = _pair()
    with client:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        server.close()  # a reset
        with pytest.raises(OSError):
            for _ in range(50):
                send_all(client, b"x" * 1000)


def test_a_closed_socket_raises_oserror() -> None:
    client, server = _pair()
    with server:
        client.close()
        with pytest.raises(OSError):
            send_all(client, b"x")
