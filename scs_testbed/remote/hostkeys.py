"""Host keys: read them from a console log, pin them in known_hosts, render ssh_config."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BEGIN_MARKER = "-----BEGIN SSH HOST KEY KEYS-----"
END_MARKER = "-----END SSH HOST KEY KEYS-----"
_KEY = re.compile(
    r"\b(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com)"
    r"\s+(AAAA[A-Za-z0-9+/]+={0,3})"
)


@dataclass(frozen=True)
class HostKey:
    """A public host key as in known_hosts: type and base64 blob."""

    key_type: str
    blob: str

    def line_for(self, host: str) -> str:
        return f"{host} {self.key_type} {self.blob}"


def parse_console_host_keys(console: str) -> list[HostKey]:
    """Host keys from the last complete BEGIN/END SSH HOST KEY KEYS block cloud-init printed.

    The last block wins: a console log can hold several boots. Prefixes that consoles add
    (timestamps, `ci-info:`) are tolerated. An empty list means no complete block yet.
    """
    blocks: list[list[HostKey]] = []
    current: list[HostKey] | None = None
    for line in console.splitlines():
        if BEGIN_MARKER in line:
            current = []
        elif END_MARKER in line:
            if current is not None:
                blocks.append(current)
            current = None
        elif current is not None:
            match = _KEY.search(line)
            if match:
                current.append(HostKey(match.group(1), match.group(2)))
    return blocks[-1] if blocks else []


def known_hosts_name(host: str, port: int = 22) -> str:
    """How known_hosts names a host ([host]:port for a non-standard port)."""
    return host if port == 22 else f"[{host}]:{port}"


def render_known_hosts(keys: Mapping[str, Sequence[HostKey]]) -> str:
    """known_hosts text for {known_hosts_name: keys}."""
    lines = [key.line_for(name) for name, host_keys in keys.items() for key in host_keys]
    return "".join(f"{line}\n" for line in lines)


def write_private(path: Path, text: str) -> None:
    """Write a file created 0600 (never briefly wider)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def write_known_hosts(path: Path, keys: Mapping[str, Sequence[HostKey]]) -> None:
    """Pin exactly these keys (the file is replaced, so stale keys of recycled IPs go)."""
    write_private(path, render_known_hosts(keys))


@dataclass(frozen=True)
class HostEntry:
    """One `Host` block of the generated ssh_config."""

    alias: str
    address: str
    user: str
    port: int = 22
    jump: str | None = None


def _quote(value: Path | str) -> str:
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def render_ssh_config(
    hosts: Iterable[HostEntry], *, key_file: Path, known_hosts: Path, header: str = ""
) -> str:
    """An ssh_config that pins host keys (StrictHostKeyChecking yes) and uses only our key."""
    lines = [f"# {line}" for line in header.splitlines()]
    for entry in hosts:
        lines += [f"Host {entry.alias}", f"  HostName {entry.address}", f"  User {entry.user}"]
        if entry.port != 22:
            lines.append(f"  Port {entry.port}")
        if entry.jump:
            lines.append(f"  ProxyJump {entry.jump}")
        lines.append("")
    lines += [
        "Host *",
        f"  IdentityFile {_quote(key_file)}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {_quote(known_hosts)}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  UpdateHostKeys no",
        "  HashKnownHosts no",
        "  CheckHostIP no",
        "  ServerAliveInterval 15",
        "  ServerAliveCountMax 4",
        # a VM just booted restarts sshd once cloud-init has written its host keys: a refused
        # connection then is retried (one second apart) instead of failing the command
        "  ConnectTimeout 15",
        "  ConnectionAttempts 3",
        "",
    ]
    return "\n".join(lines)
