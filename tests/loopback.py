"""Loopback stand-ins for clouds that misbehave (tests only)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class CatalogKeystone:
    """A loopback identity service that hands out a token whose catalog points every service
    (compute, network, block storage, image) at `service_url` (e.g. a SilentServer's)."""

    SERVICES = ("compute", "network", "block-storage", "image")

    def __init__(self, service_url: str) -> None:
        keystone = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # version discovery
                links = [{"rel": "self", "href": f"{keystone.url}/"}]
                version = {"id": "v3.14", "status": "stable", "updated": "2020-01-01T00:00:00Z"}
                self._send(200, {"version": {**version, "links": links}})

            def do_POST(self) -> None:  # the token request
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._send(201, keystone.token(), {"X-Subject-Token": "loopback-token"})

            def _send(self, code: int, body: object, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.service_url = service_url.rstrip("/")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v3"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self) -> dict[str, object]:
        domain = {"id": "default", "name": "Default"}
        catalog = [
            {
                "type": kind,
                "name": kind,
                "id": kind,
                "endpoints": [
                    {
                        "id": f"{kind}-public",
                        "interface": "public",
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": f"{self.service_url}/{kind}",
                    }
                ],
            }
            for kind in self.SERVICES
        ]
        return {
            "token": {
                "methods": ["password"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2020-01-01T00:00:00.000000Z",
                "user": {"id": "u", "name": "alice", "domain": domain},
                "project": {"id": "p", "name": "demo", "domain": domain},
                "roles": [{"id": "r", "name": "member"}],
                "catalog": catalog,
            }
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
