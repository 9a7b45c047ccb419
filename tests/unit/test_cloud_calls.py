"""What a cloud's services do wrong becomes one line naming the service (exit 2), never a crash."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scs_testbed.cloud import as_dict, cloud_calls, connect
from scs_testbed.errors import InputError


class Conn:
    class config:
        name = "c"

    def endpoint_for(self, service: str) -> str:
        return f"http://alice:Sup3r/Secret@compute.example:8774/{service}"


def raise_http_500() -> None:
    from openstack import exceptions

    raise exceptions.HttpException("boom", http_status=500, request_id="r", response=None)


def raise_not_supported() -> None:
    from openstack import exceptions

    raise exceptions.NotSupported(
        "The compute service for c:RegionOne exists but does not have any supported versions."
    )


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (raise_http_500, "answered HTTP 500"),
        (raise_not_supported, "does not have any supported versions"),
        (lambda: json.loads("{not json"), "does not answer like an OpenStack API"),
        (lambda: as_dict(None), "answered unexpectedly"),
    ],
    ids=["http-500", "not-supported", "garbage-json", "nothing"],
)
def test_service_errors_are_one_line_exit_2(call: object, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as caught, cloud_calls(Conn()):
        call()  # type: ignore[operator]
    assert caught.value.exit_code == 2
    assert "Sup3r/Secret" not in caught.value.message


def test_our_own_bugs_keep_their_traceback() -> None:
    with pytest.raises(TypeError), cloud_calls(Conn()):
        len(5)  # type: ignore[arg-type]


class BrokenKeystone(BaseHTTPRequestHandler):
    """Answers version discovery properly and the token request with broken JSON."""

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        version = {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-01-01T00:00:00Z",
            "links": [{"rel": "self", "href": f"http://127.0.0.1:{port}/v3/"}],
        }
        self._send(200, json.dumps({"version": version}).encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(201, b"{not json")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def keystone() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BrokenKeystone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_identity_with_broken_json_names_the_auth_url(
    keystone: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  k:\n    auth:\n"
        f"      auth_url: http://127.0.0.1:{keystone}/v3\n"
        "      username: alice\n      password: pw-not-shown\n      project_name: p\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
        "    api_timeout: 5\n"
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    with pytest.raises(InputError, match="does not answer like an identity service") as caught:
        connect("k")
    assert f"127.0.0.1:{keystone}/v3" in caught.value.message
