"""The fault proxy (tests/tools/faultproxy.py) between real HTTP clients and fake services.

Every test runs on loopback with real sockets: small fake OpenStack services of our own on
ephemeral ports, the proxy in front of them, requests (or openstacksdk) as the client.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from tests.tools import faultproxy
from tests.tools.faultproxy import FaultConfig, FaultProxy, PortMap, decide

TOOL = Path(faultproxy.__file__)
TOKEN = "gAAAA-secret-token-unit"  # a fake token: it must never reach the log


# --------------------------------------------------------------------------- fake services


@dataclass
class Seen:
    method: str
    path: str
    host: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeService:
    """A tiny OpenStack-like API on an ephemeral loopback port.

    It keeps what it was asked (`seen`) and the things created with POST /things, answers
    keystone's discovery and token requests with `catalog`, and names itself in `links`,
    `Location` and version documents with its own real port - which the proxy must rewrite.
    """

    name: str
    server: ThreadingHTTPServer | None = None
    seen: list[Seen] = field(default_factory=list)
    things: dict[str, dict[str, Any]] = field(default_factory=dict)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [s.path for s in self.seen if method is None or s.method == method]


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        data = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _handler(fake: FakeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> None:
            body = _read_body(self)
            with fake.lock:
                fake.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        self.headers.get("Host", ""),
                        body,
                        dict(self.headers.items()),
                    )
                )
            path = urlsplit(self.path).path
            me = fake.url
            if path in ("/v3", "/v3/"):
                self._json(200, {"version": _identity_version(me)})
            elif path == "/v3/auth/tokens" and self.command == "POST":
                self._json(201, _token(fake.catalog), {"X-Subject-Token": TOKEN})
            elif path in ("/v3/auth/tokens", "/v3/auth/catalog"):
                self._json(200, {"catalog": fake.catalog, "links": {"self": me + path}})
            elif path.rstrip("/") == "/v2.1":
                self._json(200, {"version": _compute_version(me)})
            elif path == "/":
                self._json(300, {"versions": [_compute_version(me)]})
            elif path == "/v2.1/servers/detail":
                self._json(200, {"servers": [], "servers_links": []})
            elif path == "/things" and self.command == "POST":
                thing_id = f"t{len(fake.things) + 1}"
                with fake.lock:
                    fake.things[thing_id] = json.loads(body or b"{}")
                location = f"{me}/things/{thing_id}"
                self._json(
                    201,
                    {"thing": {"id": thing_id, "links": [{"rel": "self", "href": location}]}},
                    {"Location": location},
                )
            elif path.startswith("/things/") and self.command == "DELETE":
                removed = fake.things.pop(path.rsplit("/", 1)[1], None)
                self.send_response(204 if removed is not None else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/things":
                self._json(200, {"things": sorted(fake.things)})
            elif path == "/missing":
                self._json(404, {"itemNotFound": {"code": 404, "message": "no such thing"}})
            elif path == "/upload":
                self._json(200, {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})
            elif path == "/download":
                self._download(int(self.headers.get("X-Size", "0")))
            else:
                self._json(200, {"method": self.command, "path": self.path})

        def _download(self, size: int) -> None:
            """A binary body of unknown length (chunked), like an image download."""
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for offset in range(0, size, 100_000):
                piece = _pattern(offset, min(100_000, size - offset))
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route

    return Handler


_CYCLE = bytes(range(251))


def _pattern(offset: int, size: int) -> bytes:
    """`size` bytes of a 251-byte cycle from `offset` (a body whose every byte is checkable)."""
    start = offset % 251
    return (_CYCLE * ((start + size) // 251 + 1))[start : start + size]


def _identity_version(me: str) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{me}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _compute_version(me: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": "2.95",
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{me}/v2.1/"}],
    }


def _token(catalog: list[dict[str, Any]]) -> dict[str, Any]:
    domain = {"id": "default", "name": "Default"}
    return {
        "token": {
            "methods": ["password"],
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "alice", "domain": domain},
            "project": {"id": "p1", "name": "demo", "domain": domain},
            "roles": [{"id": "r1", "name": "member"}],
            "catalog": catalog,
        }
    }


def _entry(kind: str, url: str) -> dict[str, Any]:
    return {
        "type": kind,
        "name": kind,
        "id": f"svc-{kind}",
        "endpoints": [
            {
                "id": f"ep-{kind}-{interface}",
                "interface": interface,
                "region": "RegionOne",
                "region_id": "RegionOne",
                "url": url,
            }
            for interface in ("public", "internal", "admin")
        ],
    }


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeService]]:
    """A fake keystone, compute and network; keystone's catalog names the other two."""
    services = {name: FakeService(name) for name in ("identity", "compute", "network")}
    try:
        for fake in services.values():
            fake.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
            fake.server.daemon_threads = True
            threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True).start()
        services["identity"].catalog = [
            _entry("identity", services["identity"].url + "/v3"),
            _entry("compute", services["compute"].url + "/v2.1"),
            _entry("network", services["network"].url),
        ]
        yield services
    finally:
        for fake in services.values():
            if fake.server is not None:
                fake.server.shutdown()
                fake.server.server_close()


@pytest.fixture
def start(fakes: dict[str, FakeService]) -> Iterator[Callable[..., FaultProxy]]:
    """Start a proxy in front of the fakes (closed at the end of the test)."""
    started: list[FaultProxy] = []

    def run(config: FaultConfig | None = None, **options: Any) -> FaultProxy:
        proxy = FaultProxy({name: fake.url for name, fake in fakes.items()}, config, **options)
        started.append(proxy)
        return proxy.start()

    try:
        yield run
    finally:
        for proxy in started:
            proxy.close()


def wait_until(probe: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `probe` until it holds (the event a test waits for), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "the awaited event did not happen"
        time.sleep(0.01)


def faults_only(kinds: str, **settings: Any) -> FaultConfig:
    return FaultConfig(rate=1.0, kinds=tuple(kinds.split(",")), **settings)


# --------------------------------------------------------------------------- URL rewriting


def test_portmap_rewrites_mapped_addresses_only() -> None:
    portmap = PortMap({("127.0.0.1", 5000): ("127.0.0.1", 15000)})
    text = (
        '{"a": "http://127.0.0.1:5000/v3", "b": "http://localhost:5000/", '
        '"c": "http:\\/\\/127.0.0.1:5000\\/v3", "d": "http://127.0.0.1:50001/x", '
        '"e": "http://10.0.0.5:5000/", "f": "https://127.0.0.1:5000"}'
    )
    assert portmap.rewrite(text) == (
        '{"a": "http://127.0.0.1:15000/v3", "b": "http://127.0.0.1:15000/", '
        '"c": "http:\\/\\/127.0.0.1:15000\\/v3", "d": "http://127.0.0.1:50001/x", '
        '"e": "http://10.0.0.5:5000/", "f": "https://127.0.0.1:15000"}'
    )
    assert portmap.rewrite_bytes(text.encode()) == portmap.rewrite(text).encode()
    # a loopback address no listener stands for would bypass the proxy: named
    assert portmap.unmapped(text.encode()) == ["http://127.0.0.1:50001"]


def test_token_catalog_discovery_and_location_point_at_the_proxy(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start()
    identity = proxy.url("identity")
    token = requests.post(f"{identity}/v3/auth/tokens", json={"auth": {}}, timeout=5)
    assert token.status_code == 201
    assert token.headers["X-Subject-Token"] == TOKEN
    urls = {
        entry["type"]: {e["url"] for e in entry["endpoints"]}
        for entry in token.json()["token"]["catalog"]
    }
    assert urls == {
        "identity": {proxy.url("identity") + "/v3"},
        "compute": {proxy.url("compute") + "/v2.1"},
        "network": {proxy.url("network")},
    }
    for path in ("/v3/auth/tokens", "/v3/auth/catalog"):
        body = requests.get(identity + path, headers={"X-Auth-Token": TOKEN}, timeout=5).text
        assert proxy.url("compute") in body and fakes["compute"].url not in body
    discovery = requests.get(identity + "/v3", timeout=5).json()
    assert discovery["version"]["links"][0]["href"] == f"{identity}/v3/"

    # the client follows the catalog: the request reaches compute through the proxy
    compute = next(iter(urls["compute"]))
    version = requests.get(compute, timeout=5).json()["version"]
    assert version["links"][0]["href"] == proxy.url("compute") + "/v2.1/"
    created = requests.post(proxy.url("network") + "/things", json={"name": "n"}, timeout=5)
    assert created.headers["Location"] == proxy.url("network") + "/things/t1"
    assert created.json()["thing"]["links"][0]["href"] == proxy.url("network") + "/things/t1"
    records = proxy.wait_for_requests(6)
    assert [r["service"] for r in records] == ["identity"] * 4 + ["compute", "network"]
    assert not proxy.records("unproxied")


def test_a_catalog_endpoint_without_listener_is_named(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        stray = f"http://127.0.0.1:{other.getsockname()[1]}"
    fakes["identity"].catalog.append(_entry("object-store", stray + "/v1"))
    requests.post(proxy.url("identity") + "/v3/auth/tokens", json={}, timeout=5)
    assert [r["url"] for r in proxy.records("unproxied")] == [stray]


def test_openstacksdk_through_a_rewritten_clouds_yaml_never_bypasses_the_proxy(
    fakes: dict[str, FakeService],
    start: Callable[..., FaultProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import openstack

    proxy = start()
    source, target = tmp_path / "clouds.yaml", tmp_path / "faults-clouds.yaml"
    auth = {
        "auth_url": fakes["identity"].url + "/v3",
        "username": "alice",
        "password": "pw-unit-7",
        "project_name": "demo",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    source.write_text(
        yaml.safe_dump({"clouds": {"fake": {"auth": auth, "region_name": "RegionOne"}}})
    )
    assert faultproxy.rewrite_clouds_yaml(source, target, proxy.portmap) == ["fake"]
    assert target.stat().st_mode & 0o777 == 0o600
    written = yaml.safe_load(target.read_text())["clouds"]["fake"]
    assert written["auth"]["auth_url"] == proxy.url("identity") + "/v3"
    assert written["auth"]["password"] == "pw-unit-7"

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(target))
    conn = openstack.connect(cloud="fake")
    try:
        assert list(conn.compute.servers()) == []
    finally:
        conn.close()
    assert "/v2.1/servers/detail" in fakes["compute"].paths("GET")
    # every request any fake saw came through the proxy (the Host the client used)
    proxy_ports = {urlsplit(url).port for url in proxy.urls.values()}
    hosts = [s.host for fake in fakes.values() for s in fake.seen]
    assert hosts and {int(h.rsplit(":", 1)[1]) for h in hosts} <= proxy_ports
    records = proxy.wait_for_requests(len(hosts))
    assert {r["service"] for r in records} == {"identity", "compute"}


# --------------------------------------------------------------------------- forwarding


def test_bodies_status_codes_and_headers_are_forwarded(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start()
    network = proxy.url("network")
    data = _pattern(0, 1024 * 1024 + 17)
    digest = hashlib.sha256(data).hexdigest()

    sized = requests.put(f"{network}/upload", data=data, timeout=10)
    assert sized.json() == {"length": len(data), "sha256": digest}

    def pieces() -> Iterator[bytes]:  # no length known: requests sends it chunked
        for offset in range(0, len(data), 100_000):
            yield data[offset : offset + 100_000]

    chunked = requests.put(f"{network}/upload", data=pieces(), timeout=10)
    assert chunked.json() == {"length": len(data), "sha256": digest}
    assert fakes["network"].seen[-1].headers.get("Transfer-Encoding") == "chunked"

    download = requests.get(f"{network}/download", headers={"X-Size": "1000003"}, timeout=10)
    assert download.content == _pattern(0, 1_000_003)

    missing = requests.get(f"{network}/missing", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == "no such thing"

    head = requests.head(f"{network}/things", timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(b'{"things": []}')

    with requests.Session() as session:  # several requests on one kept-alive connection
        for name in ("a", "b", "c"):
            assert session.post(f"{network}/things", json={"name": name}, timeout=5).ok
        assert session.get(f"{network}/things", timeout=5).json() == {"things": ["t1", "t2", "t3"]}
        assert session.delete(f"{network}/things/t2", timeout=5).status_code == 204
    assert fakes["network"].things == {"t1": {"name": "a"}, "t3": {"name": "c"}}
    statuses = [(r["method"], r["status"], r["fault"]) for r in proxy.wait_for_requests(10)]
    assert ("GET", 404, None) in statuses and ("DELETE", 204, None) in statuses
    assert proxy.counts()["faults_total"] == 0


def test_a_service_that_is_down_is_a_502_counted_apart_from_faults(tmp_path: Path) -> None:
    """Real trouble behind the proxy is never mistaken for an injected fault."""
    with socket.socket() as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]  # nothing listens there once it is closed
    with FaultProxy({"compute": f"127.0.0.1:{port}"}) as proxy:
        answer = requests.get(proxy.url("compute") + "/servers", timeout=5)
        assert answer.status_code == 502
        record = proxy.wait_for_requests(1)[0]
        assert record["fault"] is None and "ConnectionRefusedError" in record["upstream_error"]
        assert proxy.counts()["upstream_errors"] == 1 and proxy.counts()["faults_total"] == 0


# --------------------------------------------------------------------------- fault kinds


@pytest.mark.parametrize(
    ("kind", "status", "retry_after", "content_type"),
    [
        ("500", 500, None, "application/json"),
        ("502", 502, None, "text/html"),
        ("503", 503, None, "text/html"),
        ("503-retry-after", 503, "7", "text/html"),
        ("500-retry-after", 500, "7", "application/json"),
        ("429-retry-after", 429, "7", "application/json"),
    ],
)
def test_status_faults_answer_without_reaching_the_service(
    fakes: dict[str, FakeService],
    start: Callable[..., FaultProxy],
    kind: str,
    status: int,
    retry_after: str | None,
    content_type: str,
) -> None:
    proxy = start(faults_only(kind, retry_after=7))
    answer = requests.post(proxy.url("compute") + "/things", json={"name": "x"}, timeout=5)
    assert answer.status_code == status
    assert answer.headers.get("Retry-After") == retry_after
    assert answer.headers["Content-Type"] == content_type
    assert fakes["compute"].seen == []  # never forwarded
    if content_type == "application/json":
        key = {500: "computeFault", 429: "overLimit"}[status]
        assert answer.json()[key]["code"] == status  # nova's own error format
    assert proxy.counts()["faults"] == {kind: 1}
    assert proxy.wait_for_requests(1)[0] | {"time": None, "seconds": None} == {
        "time": None,
        "event": "request",
        "seq": 1,
        "service": "compute",
        "method": "POST",
        "path": "/things",
        "n": 1,
        "fault": kind,
        "status": status,
        "upstream_status": None,
        "upstream_seconds": None,
        "seconds": None,
    }


def test_conflict_only_on_create_and_delete(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(faults_only("409"))
    network = proxy.url("network")
    assert requests.get(f"{network}/things", timeout=5).status_code == 200
    assert requests.put(f"{network}/things/t1", json={}, timeout=5).status_code == 200
    assert requests.patch(f"{network}/things/t1", json={}, timeout=5).status_code == 200
    created = requests.post(f"{network}/things", json={}, timeout=5)
    assert created.status_code == 409
    assert created.json()["NeutronError"]["type"] == "FaultInjected"  # neutron's format
    assert requests.delete(f"{network}/things/t1", timeout=5).status_code == 409
    assert fakes["network"].paths() == ["/things", "/things/t1", "/things/t1"]
    assert proxy.counts()["faults"] == {"409": 2}


def test_reset_before_never_reaches_the_service(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(faults_only("reset-before"))
    with pytest.raises(requests.ConnectionError):
        requests.post(proxy.url("compute") + "/things", json={"name": "x"}, timeout=5)
    assert fakes["compute"].seen == [] and fakes["compute"].things == {}
    record = proxy.wait_for_requests(1)[0]
    assert (record["fault"], record["status"], record["upstream_status"]) == (
        "reset-before",
        None,
        None,
    )


def test_reset_after_the_service_carried_it_out(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    """The dangerous case: the thing exists, the client only saw a broken connection."""
    proxy = start(faults_only("reset-after"))
    with pytest.raises(requests.ConnectionError):
        requests.post(proxy.url("compute") + "/things", json={"name": "x"}, timeout=5)
    assert fakes["compute"].things == {"t1": {"name": "x"}}
    record = proxy.wait_for_requests(1)[0]
    assert (record["fault"], record["status"], record["upstream_status"]) == (
        "reset-after",
        None,
        201,
    )
    assert proxy.counts()["faults"] == {"reset-after": 1}


def test_slow_answer_outlasts_the_client_timeout(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(faults_only("slow", slow_seconds=30))
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(proxy.url("compute") + "/things", json={"name": "x"}, timeout=0.3)
    assert time.monotonic() - started < 5
    assert fakes["compute"].things == {"t1": {"name": "x"}}  # carried out all the same
    assert proxy.counts()["faults"] == {"slow": 1}


def test_slow_answer_arrives_late_for_a_patient_client(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(faults_only("slow", slow_seconds=0.3))
    started = time.monotonic()
    answer = requests.get(proxy.url("compute") + "/things", timeout=5)
    assert answer.json() == {"things": []}
    assert time.monotonic() - started >= 0.3
    proxy.configure(slow_then="close")
    with pytest.raises(requests.ConnectionError):
        requests.get(proxy.url("compute") + "/things", timeout=5)


def test_services_methods_and_authentication_filters(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(faults_only("503", services=frozenset({"compute", "identity"}), methods=None))
    identity, compute, network = (proxy.url(s) for s in ("identity", "compute", "network"))
    # authenticating is never faulted unless asked: discovery and tokens pass
    assert requests.get(f"{identity}/v3", timeout=5).status_code == 200
    assert requests.post(f"{identity}/v3/auth/tokens", json={}, timeout=5).status_code == 201
    assert requests.get(f"{identity}/v3/projects", timeout=5).status_code == 503
    assert requests.post(f"{network}/things", json={}, timeout=5).status_code == 201
    proxy.configure(methods="post")
    assert requests.get(f"{compute}/things", timeout=5).status_code == 200
    assert requests.post(f"{compute}/things", json={}, timeout=5).status_code == 503
    proxy.configure(include_auth=True)
    assert requests.post(f"{identity}/v3/auth/tokens", json={}, timeout=5).status_code == 503
    assert proxy.counts()["by_service"]["compute"] == {"requests": 2, "faults": 1}


# --------------------------------------------------------------------------- outages


def test_outage_refuses_connections_then_the_cloud_is_back(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start()
    compute = proxy.url("compute") + "/things"
    assert requests.get(compute, timeout=5).ok
    proxy.outage(0.3)
    began = time.monotonic()
    with pytest.raises(requests.ConnectionError, match="refused"):
        requests.get(compute, timeout=5)
    with pytest.raises(requests.ConnectionError, match="refused"):
        requests.post(proxy.url("identity") + "/v3/auth/tokens", json={}, timeout=5)

    def back() -> bool:
        try:
            return requests.get(compute, timeout=5).ok
        except requests.ConnectionError:
            return False

    wait_until(back)
    assert time.monotonic() - began >= 0.25
    assert proxy.url("compute") + "/things" == compute  # the same port again
    assert proxy.counts()["outages"] == 1
    assert [r["state"] for r in proxy.records("outage")] == ["begin", "end"]


@pytest.mark.parametrize("mode", ["reset", "hang"])
def test_outage_that_resets_or_hangs(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy], mode: str
) -> None:
    proxy = start(FaultConfig(outage_mode=mode))
    compute = proxy.url("compute") + "/things"
    proxy.outage(0.3)
    expected = requests.ConnectionError if mode == "reset" else requests.ReadTimeout
    with pytest.raises(expected):
        requests.get(compute, timeout=0.2)
    wait_until(lambda: not proxy.in_outage)
    assert requests.get(compute, timeout=5).ok
    assert fakes["compute"].paths() == ["/things"]  # nothing reached it during the outage
    assert proxy.counts()["faults"]["outage"] >= 1


def test_outage_some_seconds_after_start(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(FaultConfig(outage_at_seconds=0.05, outage_seconds=0.2))
    wait_until(lambda: [r["state"] for r in proxy.records("outage")] == ["begin", "end"])
    wait_until(lambda: not proxy.in_outage)
    assert requests.get(proxy.url("compute") + "/things", timeout=5).ok


def test_outage_at_a_request_number(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(FaultConfig(outage_at_request=3, outage_seconds=0.3, outage_mode="reset"))
    network = proxy.url("network") + "/things"
    assert requests.get(network, timeout=5).ok
    assert requests.get(network, timeout=5).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(network, timeout=5)
    wait_until(lambda: not proxy.in_outage)
    assert requests.get(network, timeout=5).ok
    assert [r["fault"] for r in proxy.wait_for_requests(4)] == [None, None, "outage", None]


# --------------------------------------------------------------------------- determinism


def test_decide_is_a_pure_function_of_seed_service_method_and_count() -> None:
    config = FaultConfig(rate=0.3, seed=42)
    first = [decide(config, "compute", "POST", "/servers", n) for n in range(1, 2001)]
    again = [decide(config, "compute", "POST", "/servers", n) for n in range(1, 2001)]
    other_seed = [
        decide(FaultConfig(rate=0.3, seed=43), "compute", "POST", "/servers", n)
        for n in range(1, 2001)
    ]
    assert first == again != other_seed
    assert 0.25 < sum(k is not None for k in first) / len(first) < 0.35
    assert {k for k in first if k} == set(faultproxy.DEFAULT_KINDS)
    gets = {decide(config, "compute", "GET", "/servers", n) for n in range(1, 2001)}
    assert "409" not in gets  # conflicts only for POST and DELETE
    # the order kinds are given in does not matter
    swapped = FaultConfig(rate=0.3, seed=42, kinds=tuple(reversed(faultproxy.DEFAULT_KINDS)))
    assert [decide(swapped, "compute", "POST", "/servers", n) for n in range(1, 2001)] == first


def _run_sequence(proxy: FaultProxy) -> list[tuple[str, str, int, str | None, int | None]]:
    compute, network = proxy.url("compute"), proxy.url("network")
    for index in range(30):
        base = compute if index % 3 else network
        method = ("GET", "POST", "DELETE")[index % 3]
        requests.request(method, f"{base}/things/x{index}", timeout=5)
    return [
        (r["service"], r["method"], r["n"], r["fault"], r["status"])
        for r in proxy.wait_for_requests(30)
    ]


def test_same_seed_same_requests_same_faults(start: Callable[..., FaultProxy]) -> None:
    def config(seed: int) -> FaultConfig:
        return FaultConfig(rate=0.5, seed=seed, kinds=("500", "503", "409"))

    first = _run_sequence(start(config(11)))
    second = _run_sequence(start(config(11)))
    third = _run_sequence(start(config(12)))
    assert first == second
    assert [r[3] for r in first] != [r[3] for r in third]
    assert 5 < sum(r[3] is not None for r in first) < 25


# --------------------------------------------------------------------------- log and control


def test_every_request_is_one_json_line_without_secrets(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy], tmp_path: Path
) -> None:
    log = tmp_path / "faults.jsonl"
    proxy = start(faults_only("503", services=frozenset({"compute"})), log=log)
    headers = {"X-Auth-Token": TOKEN}
    requests.get(proxy.url("network") + "/things?name=a", headers=headers, timeout=5)
    requests.get(proxy.url("compute") + "/things", headers=headers, timeout=5)
    proxy.close()
    text = log.read_text()
    assert TOKEN not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["event"] for line in lines] == ["listen", "request", "request"]
    assert lines[0]["listeners"] == proxy.urls
    forwarded, faulted = lines[1], lines[2]
    assert forwarded["service"] == "network" and forwarded["path"] == "/things?name=a"
    assert (forwarded["fault"], forwarded["status"], forwarded["upstream_status"]) == (
        None,
        200,
        200,
    )
    assert forwarded["upstream_seconds"] >= 0 and forwarded["time"].endswith("+00:00")
    assert (faulted["service"], faulted["fault"], faulted["status"]) == ("compute", "503", 503)
    assert faulted["upstream_seconds"] is None


def test_control_port_changes_faults_triggers_outages_and_counts(
    fakes: dict[str, FakeService], start: Callable[..., FaultProxy]
) -> None:
    proxy = start(admin_port=0)
    admin = proxy.admin_url
    assert admin is not None
    compute = proxy.url("compute") + "/things"
    assert requests.get(compute, timeout=5).ok
    changed = requests.post(f"{admin}/config", json={"rate": 1, "kinds": ["502"]}, timeout=5)
    assert changed.json()["config"]["kinds"] == ["502"]
    assert requests.get(compute, timeout=5).status_code == 502
    state = requests.get(f"{admin}/state", timeout=5).json()
    assert state["counts"]["faults"] == {"502": 1} and state["counts"]["requests"] == 2
    bad = requests.post(f"{admin}/config", json={"rate": 2}, timeout=5)
    assert bad.status_code == 400 and "between 0 and 1" in bad.json()["error"]
    bad = requests.post(f"{admin}/config", json={"colour": "red"}, timeout=5)
    assert bad.status_code == 400 and "unknown setting" in bad.json()["error"]
    outage = requests.post(f"{admin}/outage", json={"seconds": 0.3, "mode": "reset"}, timeout=5)
    assert outage.json()["in_outage"] is True
    wait_until(lambda: not requests.get(f"{admin}/state", timeout=5).json()["in_outage"])


def test_command_line_serves_until_sigterm_and_ctl_changes_it(
    fakes: dict[str, FakeService], tmp_path: Path
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        yaml.safe_dump({"clouds": {"c": {"auth": {"auth_url": fakes["identity"].url + "/v3"}}}})
    )
    log = tmp_path / "log.jsonl"
    argv = [
        sys.executable,
        str(TOOL),
        "serve",
        "--upstream",
        f"identity={fakes['identity'].url}",
        "--upstream",
        f"compute=127.0.0.1:{fakes['compute'].port}",
        "--port-offset",
        "0",
        "--admin-port",
        "0",
        "--log",
        str(log),
        "--rate",
        "1",
        "--kinds",
        "503",
        "--clouds-from",
        str(clouds),
        "--clouds-out",
        str(tmp_path / "out.yaml"),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=15), "the proxy never said it was ready"
        ready = json.loads(proc.stdout.readline())
        compute = ready["listeners"]["compute"] + "/things"
        out = yaml.safe_load((tmp_path / "out.yaml").read_text())
        assert out["clouds"]["c"]["auth"]["auth_url"] == ready["listeners"]["identity"] + "/v3"
        assert requests.get(compute, timeout=5).status_code == 503
        ctl = [sys.executable, str(TOOL), "ctl", "--admin", ready["admin"]]
        subprocess.run([*ctl, "set", "rate=0"], check=True, capture_output=True, timeout=15)
        assert requests.get(compute, timeout=5).status_code == 200
        state = json.loads(
            subprocess.run([*ctl, "state"], check=True, capture_output=True, timeout=15).stdout
        )
        assert state["counts"]["faults"] == {"503": 1}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["fault"] for line in lines if line["event"] == "request"] == ["503", None]
    assert [line["event"] for line in lines] == ["listen", "request", "config", "request"]


def test_bad_settings_are_named_with_the_choices() -> None:
    with pytest.raises(faultproxy.ConfigError, match=r"unknown fault kind.*known: 409"):
        FaultConfig(kinds=("504",))
    with pytest.raises(faultproxy.ConfigError, match="between 0 and 1"):
        FaultConfig().updated({"rate": "1.5"})
    with pytest.raises(faultproxy.ConfigError, match="outage_mode"):
        FaultConfig(outage_mode="gone")
    with pytest.raises(faultproxy.ConfigError, match="needs outage_seconds"):
        FaultConfig(outage_at_request=5)


def test_default_upstreams_are_the_local_clouds_catalog() -> None:
    from scs_testbed.localcloud import layout, provision

    ports = {urlsplit(url).port for _, _, url in provision.CATALOG}
    ports.add(urlsplit(layout.KEYSTONE_URL).port)
    assert {port for _, port in faultproxy.LOCAL_CLOUD} == ports
