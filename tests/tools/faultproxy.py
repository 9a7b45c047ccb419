#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of an OpenStack cloud's APIs (a test tool).

One listening port per service on 127.0.0.1, each forwarding to the real service. Clients are
pointed at the proxy's identity port (a clouds.yaml entry whose auth_url is that port); the
proxy rewrites every absolute URL of a proxied service (`http://127.0.0.1:<real port>`) in
JSON bodies and in headers to the proxy's own port, so the catalog in keystone's token
responses, version-discovery documents, `links` and `Location` lead every later request of
openstacksdk, the Terraform provider and the CLI through the proxy too.

On the way, requests get faults: HTTP 409/429/500/502/503 (with or without Retry-After),
connections reset before or after the service carried the request out, answers held longer
than the client waits, and outages of the whole cloud. Which request gets which fault is a
pure function of (seed, service, method, n) - n counts the requests of that service and
method - so the same seed and the same requests give the same faults. Every request is one
JSON line in the log. docs/faults.md describes the whole tool.

Standard library only (plus PyYAML for `--clouds-from`). Run `faultproxy.py serve --help`;
tests import `FaultProxy` and `FaultConfig`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

# The local cloud's services as scs_testbed/localcloud/provision.py builds its catalog (and
# layout.KEYSTONE_URL): service type -> port on 127.0.0.1. cinder's two catalog entries
# (volumev3, block-storage) share one port, so one listener serves both.
LOCAL_CLOUD: tuple[tuple[str, int], ...] = (
    ("identity", 5000),
    ("image", 9292),
    ("placement", 8778),
    ("compute", 8774),
    ("network", 9696),
    ("block-storage", 8776),
)
DEFAULT_PORT_OFFSET = 10000  # proxy port = real port + offset: 15000, 19292, 18778, ...
DEFAULT_ADMIN_PORT = 19999

# Every kind of fault, in the canonical order the choice among kinds uses (so "503,500" and
# "500,503" choose alike). Status kinds are NNN or NNN-retry-after.
STATUS_CODES = (409, 429, 500, 502, 503)
KINDS: tuple[str, ...] = (
    *(f"{code}{suffix}" for code in STATUS_CODES for suffix in ("", "-retry-after")),
    "reset-before",
    "reset-after",
    "slow",
)
DEFAULT_KINDS = ("500", "502", "503", "503-retry-after", "409", "reset-before", "reset-after")
# 409 Conflict is what a cloud answers to creating or deleting something that collides or is
# busy; a GET answering 409 would be no cloud's behaviour.
CONFLICT_METHODS = frozenset({"POST", "DELETE"})
OUTAGE_MODES = ("refuse", "reset", "hang")
SLOW_THEN = ("answer", "close")
REASONS = {
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
# 502 and 503 come from the load balancer in front of a real cloud's API (HAProxy's page);
# 409, 429 and 500 from the service itself, in its own error format (ERROR_BODIES).
BALANCER_CODES = frozenset({502, 503})
BALANCER_PAGE = (
    "<html><body><h1>{code} {reason}</h1>\n"
    "No server is available to handle this request (faultproxy).\n</body></html>\n"
)
# The error document each service answers with: {code}, {title} and {message} filled in.
ERROR_BODIES: dict[str, str] = {
    "network": '{{"NeutronError": {{"type": "FaultInjected", "message": "{message}", '
    '"detail": ""}}}}',
    "compute": '{{"{nova_key}": {{"code": {code}, "message": "{message}"}}}}',
    "block-storage": '{{"{nova_key}": {{"code": {code}, "message": "{message}"}}}}',
    "placement": '{{"errors": [{{"status": {code}, "title": "{title}", "detail": "{message}", '
    '"code": "placement.undefined_code"}}]}}',
}
DEFAULT_ERROR_BODY = '{{"error": {{"code": {code}, "title": "{title}", "message": "{message}"}}}}'
NOVA_KEYS = {409: "conflictingRequest", 429: "overLimit", 500: "computeFault"}
# Requests that authenticate a client: never faulted unless include_auth (runs must be able to
# log in). Version discovery of the identity service is part of authenticating.
AUTH_PATHS = re.compile(r"^/(v3/?)?(\?.*)?$|^/v3/auth/")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
CHUNK = 65536
IDLE_TIMEOUT = 75.0  # as the local cloud's gunicorn: above openstacksdk's 2 s polling
UPSTREAM_TIMEOUT = 300.0


class ConfigError(ValueError):
    """A fault setting that makes no sense (named, with the valid choices)."""


@dataclass(frozen=True)
class FaultConfig:
    """What to inject. `services`/`methods` None means all; rate applies to each request that
    matches them, the kind is then chosen among `kinds` that fit the method."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = DEFAULT_KINDS
    services: frozenset[str] | None = None
    methods: frozenset[str] | None = None
    include_auth: bool = False
    retry_after: int = 1  # seconds, for the *-retry-after kinds
    slow_seconds: float = 5.0  # how long a `slow` answer is held
    slow_then: str = "answer"  # after holding: answer, or close the connection (RST)
    outage_mode: str = "refuse"  # refuse: listeners closed; reset: RST; hang: never answer
    outage_seconds: float = 0.0  # for the triggers below
    outage_at_request: int | None = None  # the N-th request (1-based, all services) starts it
    outage_at_seconds: float | None = None  # ... or this long after start

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"rate {self.rate} is not between 0 and 1")
        unknown = [kind for kind in self.kinds if kind not in KINDS]
        if unknown:
            raise ConfigError(
                f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
            )
        # canonical order and no duplicates: the choice among kinds depends on it
        object.__setattr__(self, "kinds", tuple(k for k in KINDS if k in self.kinds))
        if self.slow_then not in SLOW_THEN:
            raise ConfigError(f"slow_then {self.slow_then!r} is not one of {', '.join(SLOW_THEN)}")
        if self.outage_mode not in OUTAGE_MODES:
            raise ConfigError(
                f"outage_mode {self.outage_mode!r} is not one of {', '.join(OUTAGE_MODES)}"
            )
        for name in ("slow_seconds", "outage_seconds", "retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        triggered = self.outage_at_request is not None or self.outage_at_seconds is not None
        if triggered and not self.outage_seconds:
            raise ConfigError("an outage trigger needs outage_seconds (how long the cloud is gone)")
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def updated(self, changes: Mapping[str, Any]) -> FaultConfig:
        """A copy with `changes` applied; values as JSON or the CLI give them (lists, strings)."""
        unknown = sorted(set(changes) - set(_CONVERT))
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(_CONVERT)}"
            )
        try:
            values = {name: _CONVERT[name](value) for name, value in changes.items()}
        except (TypeError, ValueError) as error:
            raise ConfigError(f"bad setting: {error}") from None
        return replace(self, **values)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("services", "methods"):
            data[name] = None if data[name] is None else sorted(data[name])
        data["kinds"] = list(self.kinds)
        return data


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


def _names(value: Any) -> frozenset[str] | None:
    """Services or methods; None (also "" and "all") means all."""
    names = _split(value)
    return None if not names or names == ["all"] else frozenset(names)


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")


def _optional(kind: Any) -> Any:
    return lambda value: None if value is None else kind(value)


# How each setting is read from JSON (the control port) or a string (the CLI's `ctl set`).
_CONVERT: dict[str, Any] = {
    "rate": float,
    "seed": int,
    "kinds": lambda value: tuple(_split(value)),
    "services": _names,
    "methods": _names,
    "include_auth": _flag,
    "retry_after": int,
    "slow_seconds": float,
    "slow_then": str,
    "outage_mode": str,
    "outage_seconds": float,
    "outage_at_request": _optional(int),
    "outage_at_seconds": _optional(float),
}


def is_auth_request(service: str, path: str) -> bool:
    """Whether a request is part of authenticating: keystone's version discovery and /v3/auth/."""
    return service == "identity" and bool(AUTH_PATHS.match(path))


def decide(config: FaultConfig, service: str, method: str, path: str, n: int) -> str | None:
    """The fault for the n-th request (1-based) of `method` to `service`, or None.

    A pure function: sha256 of "seed/service/method/n"; its first 8 bytes against the rate,
    the next 8 choose among the kinds that fit the method (409 only for POST and DELETE).
    So a request's fault does not depend on what other services or methods saw in between,
    and a retry (the next n) gets a fresh draw.
    """
    if config.rate <= 0 or not config.kinds:
        return None
    if config.services is not None and service not in config.services:
        return None
    if config.methods is not None and method not in config.methods:
        return None
    if not config.include_auth and is_auth_request(service, path):
        return None
    eligible = [
        kind for kind in config.kinds if method in CONFLICT_METHODS or not kind.startswith("409")
    ]
    if not eligible:
        return None
    digest = hashlib.sha256(f"{config.seed}/{service}/{method}/{n}".encode()).digest()
    if int.from_bytes(digest[:8], "big") / 2**64 >= config.rate:
        return None
    return eligible[int.from_bytes(digest[8:16], "big") % len(eligible)]


# --------------------------------------------------------------------------- URL rewriting


class PortMap:
    """Maps the real services' addresses to the proxy's: `http://127.0.0.1:5000/v3` becomes
    `http://127.0.0.1:15000/v3`, also with JSON's escaped slashes (`http:\\/\\/…`).

    Loopback host names (127.0.0.1, localhost) are interchangeable; a port that is a prefix of
    a longer one (5000 in 50001) is left alone.
    """

    LOOPBACK = ("127.0.0.1", "localhost")

    def __init__(self, mapping: Mapping[tuple[str, int], tuple[str, int]]) -> None:
        self.mapping: dict[tuple[str, int], tuple[str, int]] = {}
        for (host, port), target in mapping.items():
            for alias in self.LOOPBACK if host in self.LOOPBACK else (host,):
                self.mapping[(alias, port)] = target
        hosts = sorted(
            {host for host, _ in self.mapping} | set(self.LOOPBACK), key=len, reverse=True
        )
        source = r"(https?):(//|\\/\\/)(" + "|".join(re.escape(h) for h in hosts) + r"):(\d+)(?!\d)"
        self._text = re.compile(source)
        self._bytes = re.compile(source.encode())

    def _target(self, host: str, port: str) -> tuple[str, int] | None:
        return self.mapping.get((host, int(port)))

    def rewrite(self, text: str) -> str:
        """`text` with every mapped address replaced by the proxy's."""

        def swap(match: re.Match[str]) -> str:
            target = self._target(match.group(3), match.group(4))
            if target is None:
                return match.group(0)
            return f"{match.group(1)}:{match.group(2)}{target[0]}:{target[1]}"

        return self._text.sub(swap, text)

    def rewrite_bytes(self, data: bytes) -> bytes:
        """As `rewrite`, on a body's bytes (UTF-8 or anything ASCII-compatible)."""

        def swap(match: re.Match[bytes]) -> bytes:
            target = self._target(match.group(3).decode(), match.group(4).decode())
            if target is None:
                return match.group(0)
            return b"%s:%s%s:%d" % (match.group(1), match.group(2), target[0].encode(), target[1])

        return self._bytes.sub(swap, data)

    def unmapped(self, data: bytes) -> list[str]:
        """Loopback addresses in `data` that no listener stands for (they bypass the proxy)."""
        found = {
            f"{m.group(1).decode()}://{m.group(3).decode()}:{m.group(4).decode()}"
            for m in self._bytes.finditer(data)
            if self._target(m.group(3).decode(), m.group(4).decode()) is None
        }
        proxied = {port for _, port in self.mapping.values()}
        return sorted(url for url in found if int(url.rsplit(":", 1)[1]) not in proxied)


# --------------------------------------------------------------------------- HTTP layer


class ClientGone(Exception):
    """The client closed or broke the connection."""


class BadRequest(Exception):
    """What the client sent is not HTTP/1.x we understand."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: http.client.HTTPMessage

    @property
    def keep_alive(self) -> bool:
        if self.version == "HTTP/1.0":
            return False  # HTTP/1.0 keep-alive is not worth the trouble: no client here uses it
        tokens = {t.strip().lower() for t in self.headers.get("Connection", "").split(",")}
        return "close" not in tokens

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()


def read_request(rfile: IO[bytes]) -> Request | None:
    """The next request head on a connection; None when the client closed it cleanly."""
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):  # tolerated stray line ends between requests
        line = rfile.readline(65537)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {line[:80]!r}")
    method, target, version = parts
    try:
        headers = http.client.parse_headers(rfile)
    except http.client.HTTPException as error:
        raise BadRequest(str(error)) from error
    if "://" in target:  # absolute form: keep the path
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return Request(method.upper(), target, version, headers)


def body_chunks(rfile: IO[bytes], request: Request) -> Iterator[bytes]:
    """The request body in pieces (de-chunked); empty for requests without one."""
    if request.chunked:
        while True:
            size_line = rfile.readline(65537)
            if not size_line:
                raise ClientGone("connection closed inside a chunked body")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from _exactly(rfile, size)
            rfile.readline(65537)
    else:
        yield from _exactly(rfile, int(request.headers.get("Content-Length") or 0))


def _exactly(rfile: IO[bytes], size: int) -> Iterator[bytes]:
    while size > 0:
        data = rfile.read(min(size, CHUNK))
        if not data:
            raise ClientGone("connection closed inside the body")
        size -= len(data)
        yield data


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def head_bytes(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_document(service: str, code: int, message: str) -> tuple[str, bytes]:
    """(content type, body) of an injected error as the cloud would send it."""
    reason = REASONS.get(code, "Error")
    if code in BALANCER_CODES:
        return "text/html", BALANCER_PAGE.format(code=code, reason=reason).encode()
    template = ERROR_BODIES.get(service, DEFAULT_ERROR_BODY)
    body = template.format(
        code=code,
        title=reason,
        message=json.dumps(message)[1:-1],  # escaped for the JSON around it
        nova_key=NOVA_KEYS.get(code, "computeFault"),
    )
    return "application/json", body.encode()


@dataclass
class Answer:
    """An upstream answer read completely (for the kinds that must hold or drop it)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


# --------------------------------------------------------------------------- the proxy


@dataclass
class Upstream:
    service: str
    host: str
    port: int
    listen_port: int = 0  # 0: any free port


@dataclass
class _Listener:
    upstream: Upstream
    sock: socket.socket | None = None
    port: int = 0


@dataclass
class _Stats:
    requests: int = 0
    forwarded: int = 0
    upstream_errors: int = 0
    outages: int = 0
    outage_connections: int = 0
    recorded: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    by_service: dict[str, Counter[str]] = field(default_factory=dict)


class FaultProxy:
    """The proxy: `start()`, then `url(service)`, `configure()`, `outage()`, `counts()`,
    `records()`; `close()` (or use it as a context manager) stops every thread it started.

    `upstreams`: service -> real address (`"127.0.0.1:9696"` or `"http://127.0.0.1:9696"`).
    `listen_ports`: service -> port to listen on (missing or 0: any free port).
    `log`: a path for the JSON-lines log, or an open text stream, or None (in memory only).
    `admin_port`: the control port (GET /state, POST /config, POST /outage); None: none.
    """

    def __init__(
        self,
        upstreams: Mapping[str, str],
        config: FaultConfig | None = None,
        *,
        listen_host: str = "127.0.0.1",
        listen_ports: Mapping[str, int] | None = None,
        log: str | Path | IO[str] | None = None,
        admin_port: int | None = None,
        upstream_timeout: float = UPSTREAM_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        keep_records: int = 100_000,
    ) -> None:
        self.listen_host = listen_host
        self.upstreams = [
            Upstream(name, *_host_port(address), (listen_ports or {}).get(name, 0))
            for name, address in upstreams.items()
        ]
        self.config = config or FaultConfig()
        self.upstream_timeout = upstream_timeout
        self.idle_timeout = idle_timeout
        self.admin_port: int | None = None
        self._admin_wanted = admin_port
        self._admin: ThreadingHTTPServer | None = None
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)
        self._stats = _Stats()
        self._counters: Counter[tuple[str, str]] = Counter()
        self._seq = 0
        self._records: deque[dict[str, Any]] = deque(maxlen=keep_records)
        self._warned: set[str] = set()
        self._stopping = threading.Event()
        self._outage_until = 0.0  # time.monotonic() deadline; 0: none
        self._outage_over = threading.Event()
        self._outage_over.set()
        self._outage_timer: threading.Timer | None = None
        self._outage_lock = threading.Lock()
        self._trigger_timer: threading.Timer | None = None
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._log_owned = isinstance(log, str | Path)
        self._log: IO[str] | None = (
            open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in close()
            if isinstance(log, str | Path)
            else log
        )
        self.portmap = PortMap({})

    # ---- life

    def start(self) -> FaultProxy:
        """Open every listener (and the control port), then return self."""
        try:
            for upstream in self.upstreams:
                listener = _Listener(upstream)
                self._listeners[upstream.service] = listener
                self._open(listener)
            self.portmap = PortMap(
                {
                    (each.upstream.host, each.upstream.port): (self.listen_host, each.port)
                    for each in self._listeners.values()
                }
            )
            if self._admin_wanted is not None:
                self._start_admin(self._admin_wanted)
            if self.config.outage_at_seconds is not None:
                self._trigger_timer = threading.Timer(
                    self.config.outage_at_seconds, lambda: self.outage(self.config.outage_seconds)
                )
                self._trigger_timer.daemon = True
                self._trigger_timer.start()
            self._event(
                "listen",
                listeners={s: self.url(s) for s in self._listeners},
                upstreams={u.service: f"http://{u.host}:{u.port}" for u in self.upstreams},
                admin=self.admin_url,
                config=self.config.as_json(),
            )
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop listening, reset open connections, stop every thread this proxy started."""
        self._stopping.set()
        self._outage_over.set()
        for timer in (self._outage_timer, self._trigger_timer):
            if timer is not None:
                timer.cancel()
        with self._outage_lock:  # an ending outage must not open them again
            for listener in self._listeners.values():
                self._close_listener(listener)
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.shutdown()
            admin.server_close()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        if self._log is not None and self._log_owned:
            self._log.close()
            self._log = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what tests and the control port use

    def url(self, service: str) -> str:
        return f"http://{self.listen_host}:{self._listeners[service].port}"

    @property
    def urls(self) -> dict[str, str]:
        return {service: self.url(service) for service in self._listeners}

    @property
    def admin_url(self) -> str | None:
        return None if self.admin_port is None else f"http://{self.listen_host}:{self.admin_port}"

    def configure(self, **changes: Any) -> FaultConfig:
        """Change fault settings at run time (names as FaultConfig's); returns the new config.
        Per-service-and-method counters go on: the sequence stays reproducible."""
        with self._lock:
            self.config = self.config.updated(changes)
            config = self.config
        self._event("config", config=config.as_json())
        return config

    def outage(self, seconds: float, mode: str | None = None) -> None:
        """The whole cloud is gone for `seconds` from now (mode: refuse, reset or hang)."""
        mode = mode or self.config.outage_mode
        if mode not in OUTAGE_MODES:
            raise ConfigError(f"outage mode {mode!r} is not one of {', '.join(OUTAGE_MODES)}")
        with self._outage_lock:  # not while an ending outage opens the listeners again
            with self._lock:
                if mode != self.config.outage_mode:
                    self.config = replace(self.config, outage_mode=mode)
                self._outage_until = max(self._outage_until, time.monotonic() + seconds)
                self._stats.outages += 1
                self._outage_over.clear()
                if self._outage_timer is not None:
                    self._outage_timer.cancel()
                self._outage_timer = threading.Timer(seconds, self._end_outage)
                self._outage_timer.daemon = True
                self._outage_timer.start()
            self._event("outage", state="begin", seconds=seconds, mode=mode)
            if mode == "refuse":
                for listener in self._listeners.values():
                    self._close_listener(listener)

    @property
    def in_outage(self) -> bool:
        return not self._outage_over.is_set()

    def counts(self) -> dict[str, Any]:
        """How many requests, and how many faults of each kind really happened."""
        with self._lock:
            stats = self._stats
            return {
                "requests": stats.requests,
                "forwarded": stats.forwarded,
                "upstream_errors": stats.upstream_errors,
                "outages": stats.outages,
                "outage_connections": stats.outage_connections,
                "faults": dict(stats.faults),
                "faults_total": sum(stats.faults.values()),
                "by_service": {s: dict(c) for s, c in stats.by_service.items()},
            }

    def records(self, event: str | None = "request") -> list[dict[str, Any]]:
        """The log's records kept in memory (of one event type; None: all).

        A request's record is written when the proxy is done with it - after the client got
        its answer (or its reset): use `wait_for_requests` before looking at the last one."""
        with self._lock:
            return [r for r in self._records if event is None or r["event"] == event]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` requests are recorded; their records in the order the requests
        came in (TimeoutError if not). A record is written when its request is done, so a
        client's next request can be written first: the log's order is not the arrival's."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: self._stats.recorded >= count, timeout):
                raise TimeoutError(f"{self._stats.recorded} of {count} requests recorded")
        return sorted(self.records(), key=lambda record: record["seq"])

    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.as_json(),
            "counts": self.counts(),
            "listeners": self.urls,
            "in_outage": self.in_outage,
        }

    # ---- listeners

    def _open(self, listener: _Listener) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        port = listener.port or listener.upstream.listen_port
        try:
            sock.bind((self.listen_host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        listener.sock = sock
        listener.port = sock.getsockname()[1]
        self._spawn(self._accept_loop, listener, sock)

    def _close_listener(self, listener: _Listener) -> None:
        sock, listener.sock = listener.sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        sock.close()

    def _end_outage(self) -> None:
        while not self._stopping.is_set():  # a timer may wake a little early
            with self._lock:
                remaining = self._outage_until - time.monotonic()
            if remaining <= 0:
                break
            self._stopping.wait(remaining)
        with self._outage_lock:
            with self._lock:
                if self._stopping.is_set() or not self._outage_until:
                    return
                if time.monotonic() < self._outage_until:
                    return  # extended meanwhile: the newer timer ends it
                self._outage_until = 0.0
            self._event("outage", state="end")
            for listener in self._listeners.values():
                if listener.sock is None:
                    self._reopen(listener)
            self._outage_over.set()

    def _reopen(self, listener: _Listener) -> None:
        # the port was ours a moment ago; another socket may hold it briefly (never on the
        # fixed ports below 32768, which are outside the kernel's ephemeral range)
        deadline = time.monotonic() + 5
        while True:
            try:
                self._open(listener)
                return
            except OSError as error:
                if time.monotonic() > deadline:
                    self._event("error", message=f"cannot listen again on {listener.port}: {error}")
                    return
                self._stopping.wait(0.05)

    def _accept_loop(self, listener: _Listener, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed: an outage (refuse) or close()
            with self._lock:
                self._connections.add(conn)
            self._spawn(self._serve_connection, listener.upstream, conn)

    def _spawn(self, target: Any, *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    # ---- one client connection

    def _serve_connection(self, upstream: Upstream, conn: socket.socket) -> None:
        conn.settimeout(self.idle_timeout)
        rfile = conn.makefile("rb")
        try:
            while not self._stopping.is_set():
                request = read_request(rfile)
                if request is None:
                    break
                keep = self._handle(upstream, conn, rfile, request)
                if not keep:
                    break
        except (OSError, http.client.HTTPException, ClientGone, BadRequest, ValueError):
            pass  # the connection is closed below; the request's record says how far it got
        finally:
            rfile.close()
            with self._lock:
                self._connections.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _handle(
        self, upstream: Upstream, conn: socket.socket, rfile: IO[bytes], request: Request
    ) -> bool:
        """Serve one request; True to keep the connection for the next one."""
        service, method = upstream.service, request.method
        began = time.monotonic()
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._counters[(service, method)] += 1
            n = self._counters[(service, method)]
            config = self.config
            self._stats.requests += 1
            self._stats.by_service.setdefault(service, Counter())["requests"] += 1
        if config.outage_at_request is not None and seq == config.outage_at_request:
            self.outage(config.outage_seconds)
        record: dict[str, Any] = {
            "seq": seq,
            "service": service,
            "method": method,
            "path": request.target,
            "n": n,
            "fault": None,
            "status": None,
            "upstream_status": None,
            "upstream_seconds": None,
            "seconds": None,
        }
        fault = "outage" if self.in_outage else decide(config, service, method, request.target, n)
        record["fault"] = fault
        if fault is not None:  # counted before the client can notice it
            with self._lock:
                self._stats.faults[fault] += 1
                self._stats.by_service[service]["faults"] += 1
                if fault == "outage":
                    self._stats.outage_connections += 1
        try:
            return self._serve(upstream, conn, rfile, request, fault, config, record)
        finally:
            record["seconds"] = round(time.monotonic() - began, 4)
            self._event("request", **record)

    def _serve(
        self,
        upstream: Upstream,
        conn: socket.socket,
        rfile: IO[bytes],
        request: Request,
        fault: str | None,
        config: FaultConfig,
        record: dict[str, Any],
    ) -> bool:
        if fault == "outage":
            if config.outage_mode == "hang":
                self._outage_over.wait()
            reset(conn)
            return False
        if fault == "reset-before":
            reset(conn)  # the request is never read further, never forwarded
            return False
        if fault is not None and fault[0].isdigit():
            self._continue(conn, request)
            for _ in body_chunks(rfile, request):
                pass
            code = int(fault[:3])
            content_type, body = error_document(
                upstream.service, code, f"fault injected by faultproxy ({fault})"
            )
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            if fault.endswith("-retry-after"):
                headers.append(("Retry-After", str(config.retry_after)))
            keep = request.keep_alive
            if not keep:
                headers.append(("Connection", "close"))
            conn.sendall(head_bytes(code, REASONS[code], headers) + body)
            record["status"] = code
            return keep

        started = time.monotonic()
        try:
            response, upstream_conn = self._exchange(upstream, conn, rfile, request)
        except (OSError, http.client.HTTPException) as error:
            # the real service is down or broke: answer as a load balancer would
            with self._lock:
                self._stats.upstream_errors += 1
            record["upstream_error"] = f"{type(error).__name__}: {error}"
            content_type, body = error_document(upstream.service, 502, str(error))
            conn.sendall(
                head_bytes(
                    502,
                    "Bad Gateway",
                    [
                        ("Content-Type", content_type),
                        ("Content-Length", str(len(body))),
                        ("Connection", "close"),
                    ],
                )
                + body
            )
            record["status"] = 502
            return False
        try:
            record["upstream_status"] = response.status
            with self._lock:
                self._stats.forwarded += 1
            if fault in ("reset-after", "slow"):
                answer = self._read_answer(request, response)
                record["upstream_seconds"] = round(time.monotonic() - started, 4)
                if fault == "reset-after":
                    reset(conn)  # carried out upstream; the client never hears of it
                    return False
                self._stopping.wait(config.slow_seconds)
                if config.slow_then == "close" or self._stopping.is_set():
                    reset(conn)
                    return False
                self._send_answer(conn, answer, request.keep_alive)
                record["status"] = answer.status
                return request.keep_alive
            keep = self._relay(conn, request, response)
            record["status"] = response.status
            record["upstream_seconds"] = round(time.monotonic() - started, 4)
            return keep
        finally:
            self._untrack(upstream_conn.sock)
            upstream_conn.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._connections.discard(sock)

    def _continue(self, conn: socket.socket, request: Request) -> None:
        if request.headers.get("Expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _exchange(
        self, upstream: Upstream, conn: socket.socket, rfile: IO[bytes], request: Request
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Send the request upstream, streaming its body; the response with its head read."""
        upstream_conn = http.client.HTTPConnection(
            upstream.host, upstream.port, timeout=self.upstream_timeout
        )
        try:
            upstream_conn.connect()
            self._track(upstream_conn.sock)
            upstream_conn.putrequest(
                request.method, request.target, skip_host=True, skip_accept_encoding=True
            )
            dropped = HOP_BY_HOP | {
                t.strip().lower() for t in request.headers.get("Connection", "").split(",")
            }
            for name, value in request.headers.items():
                if name.lower() not in dropped and name.lower() != "accept-encoding":
                    upstream_conn.putheader(name, value)
            if "Host" not in request.headers:
                upstream_conn.putheader("Host", f"{upstream.host}:{upstream.port}")
            # identity: JSON bodies must stay readable for the rewriting
            upstream_conn.putheader("Accept-Encoding", "identity")
            upstream_conn.putheader("Connection", "close")
            if request.chunked:
                upstream_conn.putheader("Transfer-Encoding", "chunked")
            elif request.headers.get("Content-Length") is not None:
                upstream_conn.putheader("Content-Length", request.headers["Content-Length"])
            upstream_conn.endheaders()
            self._continue(conn, request)
            for piece in body_chunks(rfile, request):
                if request.chunked:
                    upstream_conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    upstream_conn.send(piece)
            if request.chunked:
                upstream_conn.send(b"0\r\n\r\n")
            return upstream_conn.getresponse(), upstream_conn
        except BaseException:
            self._untrack(upstream_conn.sock)
            upstream_conn.close()
            raise

    def _response_headers(self, response: http.client.HTTPResponse) -> list[tuple[str, str]]:
        dropped = HOP_BY_HOP | {
            t.strip().lower() for t in (response.getheader("Connection") or "").split(",")
        }
        return [
            (name, self.portmap.rewrite(value))
            for name, value in response.getheaders()
            if name.lower() not in dropped
        ]

    def _has_body(self, request: Request, response: http.client.HTTPResponse) -> bool:
        return not (
            request.method == "HEAD" or response.status in (204, 304) or response.status < 200
        )

    def _rewritten(self, response: http.client.HTTPResponse, body: bytes) -> bytes:
        if "json" not in (response.getheader("Content-Type") or "").lower():
            return body
        for url in self.portmap.unmapped(body):
            if url not in self._warned:
                self._warned.add(url)
                self._event(
                    "unproxied",
                    url=url,
                    hint="no listener for this address: "
                    "its requests bypass the proxy (add it with --upstream)",
                )
        return self.portmap.rewrite_bytes(body)

    def _read_answer(self, request: Request, response: http.client.HTTPResponse) -> Answer:
        """The whole answer, rewritten, with its Content-Length."""
        headers = self._response_headers(response)
        if self._has_body(request, response):
            body = self._rewritten(response, response.read())
            headers.append(("Content-Length", str(len(body))))
        else:
            body = b""
            length = response.getheader("Content-Length")
            if length is not None:  # HEAD tells the length of what GET would send
                headers.append(("Content-Length", length))
        return Answer(response.status, response.reason, headers, body)

    def _relay(
        self, conn: socket.socket, request: Request, response: http.client.HTTPResponse
    ) -> bool:
        """Send the upstream's answer to the client, streaming what needs no rewriting."""
        keep = request.keep_alive
        json_body = "json" in (response.getheader("Content-Type") or "").lower()
        if json_body or not self._has_body(request, response):
            self._send_answer(conn, self._read_answer(request, response), keep)
            return keep
        headers = self._response_headers(response)
        length = response.getheader("Content-Length")
        chunked = length is None and keep and request.version == "HTTP/1.1"
        if length is not None:
            headers.append(("Content-Length", length))
        elif chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            keep = False  # the end of the body is the end of the connection
        conn.sendall(head_bytes(response.status, response.reason, self._closing(headers, keep)))
        while True:
            piece = response.read1(CHUNK)
            if not piece:
                break
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            conn.sendall(b"0\r\n\r\n")
        return keep

    def _send_answer(self, conn: socket.socket, answer: Answer, keep: bool) -> None:
        head = head_bytes(answer.status, answer.reason, self._closing(answer.headers, keep))
        conn.sendall(head + answer.body)

    @staticmethod
    def _closing(headers: list[tuple[str, str]], keep: bool) -> list[tuple[str, str]]:
        return headers if keep else [*headers, ("Connection", "close")]

    # ---- control port

    def _start_admin(self, port: int) -> None:
        proxy = self

        class Control(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # the proxy's own log says what matters

            def _answer(self, status: int, data: Any) -> None:
                body = (json.dumps(data, indent=1) + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("", "/state"):
                    self._answer(200, proxy.state())
                else:
                    self._answer(404, {"error": "GET /state; POST /config, /outage"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    data = json.loads(self.rfile.read(length) or b"{}")
                    if self.path == "/config":
                        self._answer(200, {"config": proxy.configure(**data).as_json()})
                    elif self.path == "/outage":
                        proxy.outage(float(data.get("seconds", 0)), data.get("mode"))
                        self._answer(200, proxy.state())
                    else:
                        self._answer(404, {"error": "POST /config or /outage"})
                except (ValueError, TypeError) as error:
                    self._answer(400, {"error": str(error)})

        self._admin = ThreadingHTTPServer((self.listen_host, port), Control)
        self._admin.daemon_threads = True
        self.admin_port = self._admin.server_address[1]
        self._spawn(self._admin.serve_forever, 0.05)  # quick to shut down

    # ---- log

    def _event(self, event: str, **data: Any) -> None:
        now = time.time()
        record = {
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "event": event,
            **data,
        }
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._records.append(record)
            if event == "request":
                self._stats.recorded += 1
                self._recorded.notify_all()
            if self._log is not None:
                self._log.write(line + "\n")
                self._log.flush()


def _host_port(address: str) -> tuple[str, int]:
    rest = address.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"upstream {address!r} needs HOST:PORT (e.g. 127.0.0.1:9696)")
    return host, int(port)


def rewrite_clouds_yaml(source: Path, target: Path, portmap: PortMap) -> list[str]:
    """Copy clouds.yaml with every entry's auth_url turned to the proxy; returns the entries.
    Written 0600 (it holds passwords)."""
    import yaml

    data = yaml.safe_load(source.read_text()) or {}
    names = []
    for name, entry in (data.get("clouds") or {}).items():
        auth = entry.get("auth") or {}
        if "auth_url" in auth:
            auth["auth_url"] = portmap.rewrite(str(auth["auth_url"]))
            names.append(name)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(data, out, sort_keys=False)
    os.chmod(target, 0o600)
    return names


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faultproxy", description="Fault-injecting proxy in front of OpenStack APIs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the proxy until SIGTERM or Ctrl-C")
    serve.add_argument(
        "--upstream",
        action="append",
        metavar="SERVICE=HOST:PORT",
        help="a service to stand in front of (repeatable); default: the local cloud's six "
        + ", ".join(f"{s}={p}" for s, p in LOCAL_CLOUD),
    )
    serve.add_argument(
        "--port-offset",
        type=int,
        default=DEFAULT_PORT_OFFSET,
        help="listen on real port + offset (default %(default)s); 0: any free port",
    )
    serve.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="listen port of one service (wins over --port-offset)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    serve.add_argument(
        "--admin-port",
        type=int,
        default=DEFAULT_ADMIN_PORT,
        help="control port (default %(default)s; 0: any free port; -1: none)",
    )
    serve.add_argument("--log", default="-", help="JSON-lines log file (default: stderr)")
    serve.add_argument("--clouds-from", type=Path, help="clouds.yaml to copy ...")
    serve.add_argument(
        "--clouds-out", type=Path, help="... into this file with auth_url at the proxy"
    )
    _add_fault_options(serve)
    ctl = sub.add_parser("ctl", help="talk to a running proxy's control port")
    ctl.add_argument("--admin", default=f"http://127.0.0.1:{DEFAULT_ADMIN_PORT}")
    ctl.add_argument("action", choices=("state", "set", "outage"))
    ctl.add_argument("args", nargs="*", help="set: KEY=VALUE ...; outage: SECONDS [MODE]")
    return parser


def _add_fault_options(parser: argparse.ArgumentParser) -> None:
    d = FaultConfig()
    parser.add_argument(
        "--rate", type=float, default=d.rate, help="chance of a fault per request (0..1)"
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--kinds", default=",".join(d.kinds), help=f"comma list of: {', '.join(KINDS)}"
    )
    parser.add_argument("--services", help="comma list of services to fault (default: all)")
    parser.add_argument("--methods", help="comma list of methods to fault (default: all)")
    parser.add_argument("--include-auth", action="store_true", help="fault token requests too")
    parser.add_argument("--retry-after", type=int, default=d.retry_after, metavar="SECONDS")
    parser.add_argument("--slow-seconds", type=float, default=d.slow_seconds)
    parser.add_argument("--slow-then", choices=SLOW_THEN, default=d.slow_then)
    parser.add_argument("--outage-mode", choices=OUTAGE_MODES, default=d.outage_mode)
    parser.add_argument("--outage-seconds", type=float, default=d.outage_seconds)
    parser.add_argument("--outage-at-request", type=int, metavar="N")
    parser.add_argument("--outage-at-seconds", type=float, metavar="T")


def _config_from(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig().updated(
        {
            "rate": args.rate,
            "seed": args.seed,
            "kinds": args.kinds,
            "services": args.services,
            "methods": args.methods,
            "include_auth": args.include_auth,
            "retry_after": args.retry_after,
            "slow_seconds": args.slow_seconds,
            "slow_then": args.slow_then,
            "outage_mode": args.outage_mode,
            "outage_seconds": args.outage_seconds,
            "outage_at_request": args.outage_at_request,
            "outage_at_seconds": args.outage_at_seconds,
        }
    )


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{what} {item!r} needs NAME=VALUE")
        pairs[name.strip()] = value.strip()
    return pairs


def serve(args: argparse.Namespace) -> int:
    upstreams = (
        _pairs(args.upstream, "--upstream")
        if args.upstream
        else {service: f"127.0.0.1:{port}" for service, port in LOCAL_CLOUD}
    )
    listen = {name: int(port) for name, port in _pairs(args.listen, "--listen").items()}
    if args.port_offset:
        for service, address in upstreams.items():
            listen.setdefault(service, _host_port(address)[1] + args.port_offset)
    if bool(args.clouds_from) != bool(args.clouds_out):
        raise ConfigError("--clouds-from and --clouds-out go together")
    log: IO[str] | str = sys.stderr if args.log == "-" else args.log
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    proxy = FaultProxy(
        upstreams,
        _config_from(args),
        listen_host=args.host,
        listen_ports=listen,
        log=log,
        admin_port=None if args.admin_port < 0 else args.admin_port,
    )
    try:
        proxy.start()
    except OSError as error:
        raise ConfigError(
            f"cannot listen: {error} (another proxy running? --port-offset)"
        ) from None
    try:
        ready: dict[str, Any] = {
            "event": "ready",
            "listeners": proxy.urls,
            "admin": proxy.admin_url,
        }
        if args.clouds_from:
            ready["clouds"] = rewrite_clouds_yaml(args.clouds_from, args.clouds_out, proxy.portmap)
            ready["clouds_yaml"] = str(args.clouds_out)
        print(json.dumps(ready), flush=True)
        stop.wait()
    finally:
        proxy.close()
    return 0


def ctl(args: argparse.Namespace) -> int:
    if args.action == "state":
        request = urllib.request.Request(args.admin + "/state")
    else:
        if args.action == "set":
            data: dict[str, Any] = _pairs(args.args, "setting")
        else:
            if not args.args:
                raise ConfigError("outage needs SECONDS")
            data = {"seconds": float(args.args[0])}
            if len(args.args) > 1:
                data["mode"] = args.args[1]
        request = urllib.request.Request(
            f"{args.admin}/{'config' if args.action == 'set' else 'outage'}",
            data=json.dumps(data).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            print(answer.read().decode(), end="")
    except urllib.error.HTTPError as error:
        print(error.read().decode(), end="", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return serve(args) if args.command == "serve" else ctl(args)
    except ConfigError as error:
        print(f"faultproxy: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
