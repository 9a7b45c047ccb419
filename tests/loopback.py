"""Loopback stand-ins for clouds that misbehave (tests only)."""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """A loopback TCP server that accepts every connection and never says a word.

    `accepted` is set at the first connection: the event a test waits for before it acts on a
    client that is now blocked reading.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v3"
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()
