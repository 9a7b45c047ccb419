"""What the kernel knows about our processes: liveness, children, memory, listening ports.

Read straight from /proc so the tool needs no extra dependency; Linux only, like the
local cloud itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessRecord:
    """A started process: its PID plus its start time, so a reused PID is never mistaken."""

    pid: int
    start_ticks: int

    def dump(self) -> str:
        return f"{self.pid} {self.start_ticks}\n"

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            pid, ticks = path.read_text(encoding="utf-8").split()
            return cls(int(pid), int(ticks))
        except (OSError, ValueError):
            return None

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        return cls(pid, start_ticks(pid) or 0)

    def alive(self) -> bool:
        """True while this very process runs (not a zombie, not a newer one with its PID)."""
        stat = _stat(self.pid)
        return stat is not None and stat[0] != "Z" and int(stat[19]) == self.start_ticks


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid [1])."""
    try:
        raw = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return int(stat[19]) if stat else None


def command_name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text(encoding="utf-8").strip()
    except OSError:
        return "?"


def _all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (gunicorn workers, oslo.service children, beam)."""
    children: dict[int, list[int]] = {}
    for other in _all_pids():
        stat = _stat(other)
        if stat and stat[0] != "Z":
            children.setdefault(int(stat[1]), []).append(other)
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def rss_bytes(pids: list[int]) -> int:
    """Sum of the resident set sizes of `pids` (processes that vanished count as 0)."""
    total = 0
    for pid in pids:
        try:
            for line in (PROC / str(pid) / "status").read_text(encoding="utf-8").splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text(encoding="utf-8").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def port_holders(port: int) -> list[tuple[int, str]]:
    """(pid, command) of every process with a TCP socket listening on `port`."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders: list[tuple[int, str]] = []
    for pid in _all_pids():
        if _open_files(pid) & wanted:
            holders.append((pid, command_name(pid)))
    return holders


def _open_files(pid: int) -> set[str]:
    """Targets of /proc/PID/fd/* (descriptors closing while we look are skipped)."""
    fd_dir = PROC / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return set()
    targets = set()
    for name in names:
        with contextlib.suppress(OSError):
            targets.add(os.readlink(fd_dir / name))
    return targets


def is_listening(port: int) -> bool:
    return bool(_listening_inodes(port))


def terminate(records: list[ProcessRecord], timeout: float) -> list[int]:
    """SIGTERM each process, wait for it and its descendants, SIGKILL what outlives `timeout`.

    Returns the PIDs that had to be killed. Descendants are collected before the signal
    because they are re-parented to init once their parent is gone.
    """
    family: set[int] = set()
    for record in records:
        if record.alive():
            family.add(record.pid)
            family.update(descendants(record.pid))
            _signal(record.pid, signal.SIGTERM)
    tracked = {pid: start_ticks(pid) for pid in family}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _still_running(tracked):
            return []
        time.sleep(0.2)
    killed = _still_running(tracked)
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _still_running(tracked) and time.monotonic() < deadline:
        time.sleep(0.1)
    return killed


def _still_running(tracked: dict[int, int | None]) -> list[int]:
    alive = []
    for pid, ticks in tracked.items():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and int(stat[19]) == ticks:
            alive.append(pid)
    return alive


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
