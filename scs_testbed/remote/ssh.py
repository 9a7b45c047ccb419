"""The tool's own SSH connections (paramiko): pinned host keys, jump host, retries while booting."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scs_testbed.errors import RemoteError

if TYPE_CHECKING:
    import paramiko

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SshTarget:
    """Everything needed to reach one host; `jump` is the host to tunnel through."""

    host: str
    user: str
    key_file: Path
    known_hosts: Path
    port: int = 22
    jump: SshTarget | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.host

    @property
    def known_hosts_name(self) -> str:
        """The host's name as written in known_hosts ([host]:port for a non-standard port)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


class HostKeyChangedError(RemoteError):
    """The host presented a key that differs from the pinned one."""


@dataclass
class Connection:
    """An open SSH connection (plus the jump connection it runs through, if any)."""

    target: SshTarget
    client: paramiko.SSHClient
    via: Connection | None = None
    connect_seconds: float = 0.0
    _closed: bool = field(default=False, repr=False)

    def run(self, command: str, timeout: float = 60.0) -> tuple[int, str, str]:
        """Run a command, return (exit status, stdout, stderr)."""
        _, stdout, stderr = self.client.exec_command(command, timeout=timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), out, err

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return bool(transport and transport.is_active())

    def close(self) -> None:
        """Close this connection and the jump connection below it."""
        if self._closed:
            return
        self._closed = True
        self.client.close()
        if self.via is not None:
            self.via.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def changed_key_error(target: SshTarget, detail: str = "") -> HostKeyChangedError:
    """The explanation a user gets when a host key differs from the pinned one."""
    return HostKeyChangedError(
        f"the host key of {target.label} ({target.known_hosts_name}) differs from the one "
        f"pinned in {target.known_hosts}; refusing to connect",
        hint=(
            "if the testbed was redeployed or its floating IP was recycled from another VM, the "
            "key changed legitimately: compare with `scs-testbed console` (the keys between "
            "'BEGIN SSH HOST KEY KEYS' markers) and re-pin with `scs-testbed ssh --pin`. "
            "Otherwise someone may be intercepting the connection: do not proceed."
        ),
        details=[detail] if detail else None,
    )


def _client(target: SshTarget) -> paramiko.SSHClient:
    import paramiko

    client = paramiko.SSHClient()
    if not target.known_hosts.is_file():
        raise RemoteError(
            f"no known_hosts file at {target.known_hosts}",
            hint="pin the host keys first: scs-testbed ssh --pin",
        )
    client.load_host_keys(str(target.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _open_once(target: SshTarget, timeout: float, via: Connection | None) -> paramiko.SSHClient:
    import paramiko

    sock: Any = None
    if via is not None:
        transport = via.client.get_transport()
        if transport is None or not transport.is_active():
            raise paramiko.SSHException("jump connection is closed")
        sock = transport.open_channel(
            "direct-tcpip", (target.host, target.port), ("127.0.0.1", 0), timeout=timeout
        )
    client = _client(target)
    try:
        client.connect(
            target.host,
            port=target.port,
            username=target.user,
            key_filename=str(target.key_file),
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            sock=sock,
        )
    except BaseException:
        client.close()
        raise
    return client


def connect(target: SshTarget, *, retry_for: float = 0.0, timeout: float = 10.0) -> Connection:
    """Open a connection to `target` (through its jump hosts), retrying for `retry_for` seconds.

    Retries cover what happens while a VM boots: refused or timed-out TCP, no SSH banner yet,
    authentication failing before cloud-init installed the key. A changed or unknown host key
    is never retried.
    """
    import paramiko

    deadline = time.monotonic() + retry_for
    delay = 0.5
    started = time.perf_counter()
    while True:
        via: Connection | None = None
        try:
            if target.jump is not None:
                via = connect(target.jump, retry_for=max(0.0, deadline - time.monotonic()))
            client = _open_once(target, timeout, via)
            conn = Connection(target, client, via, time.perf_counter() - started)
            if conn.alive:
                transport = client.get_transport()
                assert transport is not None
                transport.set_keepalive(15)
            return conn
        except paramiko.BadHostKeyException as error:
            if via is not None:
                via.close()
            raise changed_key_error(
                target, f"presented {error.key.get_name()} key {error.key.fingerprint}"
            ) from error
        except HostKeyChangedError:
            raise
        except RemoteError:
            if via is not None:
                via.close()
            raise
        except (OSError, EOFError, paramiko.SSHException) as error:
            if via is not None:
                via.close()
            if "not found in known_hosts" in str(error):
                raise RemoteError(
                    f"no pinned host key for {target.label} ({target.known_hosts_name}) "
                    f"in {target.known_hosts}",
                    hint="pin the host keys from the console log: scs-testbed ssh --pin",
                ) from error
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteError(
                    f"cannot connect to {target.label} ({target.user}@{target.host}:"
                    f"{target.port}): {type(error).__name__}: {error}",
                    hint="the VM may still be booting or its SSH never came up: look at "
                    "`scs-testbed console` for what the VM printed.",
                ) from error
            log.debug("connect %s: %s; retrying", target.label, error)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)


def fetch_host_key(
    target: SshTarget, key_types: list[str] | None = None, timeout: float = 10.0
) -> tuple[str, str]:
    """The (key type, base64) the host presents now, without authenticating.

    `key_types` restricts the negotiation to these types (those pinned), as ssh does.
    """
    import paramiko

    via = connect(target.jump, timeout=timeout) if target.jump else None
    try:
        if via is not None:
            transport0 = via.client.get_transport()
            assert transport0 is not None
            sock: Any = transport0.open_channel(
                "direct-tcpip", (target.host, target.port), ("127.0.0.1", 0), timeout=timeout
            )
        else:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
        transport = paramiko.Transport(sock)
        options = transport.get_security_options()
        wanted = tuple(k for k in options.key_types if k in (key_types or options.key_types))
        if wanted:
            options.key_types = wanted
        try:
            transport.start_client(timeout=timeout)
            key = transport.get_remote_server_key()
            return key.get_name(), key.get_base64()
        finally:
            transport.close()
    finally:
        if via is not None:
            via.close()


def check_host_key(target: SshTarget) -> None:
    """Explain why ssh refused a host: changed key (HostKeyChangedError) or none pinned.

    Returns quietly when the key matches or the host cannot be reached at all.
    """
    import paramiko

    if not target.known_hosts.is_file():
        raise RemoteError(
            f"no known_hosts file at {target.known_hosts}",
            hint="pin the host keys from the console logs: scs-testbed ssh --pin",
        )
    pinned = paramiko.HostKeys(str(target.known_hosts)).lookup(target.known_hosts_name) or {}
    if not pinned:
        raise RemoteError(
            f"no pinned host key for {target.label} ({target.known_hosts_name})",
            hint="pin the host keys from the console logs: scs-testbed ssh --pin",
        )
    try:
        key_type, key_b64 = fetch_host_key(target, list(pinned.keys()))
    except (OSError, EOFError, paramiko.SSHException, RemoteError):
        return  # unreachable: the ssh client's own message says more than we could
    pinned_key = pinned.get(key_type)
    if pinned_key is None or pinned_key.get_base64() != key_b64:
        raise changed_key_error(target)
