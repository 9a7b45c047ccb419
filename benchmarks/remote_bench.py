"""Measure the remote side on the netns stand-ins: ssh connect, watch latency, tunnel-up time.

Run as root from the repository root:  python benchmarks/remote_bench.py
Prints one line per figure (median / p95 / max where it makes sense).
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from scs_testbed import ui
from scs_testbed.remote import ssh, testbed, tunnel
from scs_testbed.remote.progress import ProgressBoard, ProgressEvent
from scs_testbed.remote.view import PlainView
from scs_testbed.remote.watch import WatchOptions, follow
from scs_testbed.workspace import Workspace
from tests.netns.conftest import NET, Bed, stand_ins

LINES = 200
GAP = 0.01


def figures(name: str, values: list[float], unit: str = "ms") -> None:
    values = sorted(values)
    p95 = values[max(0, int(0.95 * len(values)) - 1)]
    print(
        f"{name:<38} median {statistics.median(values):8.1f} {unit}  p95 {p95:8.1f} {unit}  "
        f"max {values[-1]:8.1f} {unit}  (n={len(values)})"
    )


def bench_connect(bed: Bed) -> None:
    direct, jumped = [], []
    for _ in range(10):
        conn = ssh.connect(bed.manager_target())
        direct.append(conn.connect_seconds * 1000)
        conn.close()
    for _ in range(5):
        conn = ssh.connect(bed.node_target())
        jumped.append(conn.connect_seconds * 1000)
        conn.close()
    figures("ssh connect manager (paramiko)", direct)
    figures("ssh connect node via manager (paramiko)", jumped)


class TimingView(PlainView):
    """The plain view, timing each log line from its write (stamped in it) to printed."""

    def __init__(self) -> None:
        super().__init__("bench")
        self.latencies: list[float] = []
        self.done = threading.Event()

    def log_line(self, line: str) -> None:
        super().log_line(line)
        stamp = float(line.split()[1])
        self.latencies.append((time.time() - stamp) * 1000)

    def event(self, event: ProgressEvent, board: ProgressBoard) -> None:
        super().event(event, board)


def bench_watch(bed: Bed, base: Path) -> None:
    ui.console = Console(file=io.StringIO(), width=200)  # "screen" without a terminal
    progress, log = base / "progress.jsonl", base / "bootstrap.log"
    writer = f"""
import json, time
with open({str(log)!r}, "a", buffering=1) as log, open({str(progress)!r}, "a", buffering=1) as p:
    p.write(json.dumps({{"v": 1, "step": "bench", "state": "start"}}) + "\\n")
    time.sleep(0.5)
    for i in range({LINES}):
        log.write(f"{{i}} {{time.time():.6f}} TASK [bench]\\n")
        time.sleep({GAP})
    p.write(json.dumps({{"v": 1, "step": "testbed", "state": "done"}}) + "\\n")
"""
    view = TimingView()
    proc = subprocess.Popen(bed.mgr.exec(sys.executable, "-c", writer))
    options = WatchOptions(str(progress), str(log), None, 60, 30)
    follow(lambda: ssh.connect(bed.manager_target()), view, options)
    proc.wait(10)
    figures("watch log line write -> screen", view.latencies)


def bench_tunnel(bed: Bed, base: Path) -> None:
    ws = Workspace("bench", base / "ws")
    ws.create()
    outputs = bed.workspace_outputs()
    ws.write_private(ws.private_key, bed.key.read_text())
    testbed.write_ssh_config(ws, outputs)
    testbed.pin_host_keys(ws, {"manager": [bed.mgr.host_key()]}, outputs)
    ups, downs = [], []
    for _ in range(3):
        spec = tunnel.TunnelSpec(
            ws.ssh_config, "manager", [NET], wrapper=["ip", "netns", "exec", bed.client_ns]
        )
        started = time.perf_counter()
        tunnel.start_tunnel(spec, ws.path / "tunnel.pid", ws.path / "tunnel.log")
        ups.append(time.perf_counter() - started)
        started = time.perf_counter()
        tunnel.stop_tunnel(ws.path / "tunnel.pid")
        downs.append(time.perf_counter() - started)
    figures("tunnel start -> READY=1 (sshuttle)", ups, "s")
    figures("tunnel stop incl. firewall helper", downs, "s")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="scs-bench-") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        with stand_ins(base / "bed") as bed:
            print(f"{'netns stand-ins up':<40} {time.perf_counter() - started:8.2f} s")
            bench_connect(bed)
            bench_watch(bed, base)
            bench_tunnel(bed, base)
            teardown = time.perf_counter()
        print(f"{'netns stand-ins down':<40} {time.perf_counter() - teardown:8.2f} s")
    print(json.dumps({"lines": LINES, "gap_s": GAP}))


if __name__ == "__main__":
    main()
