#!/usr/bin/env python3
"""Booting testbed on the local cloud (nspawn driver): the issue's figures.

Deploys `-e local` (1 manager + 3 nodes) and measures from the start of `deploy`: sshd
answering on the manager's floating IP, the first line of the bootstrap's progress file;
then the RAM (PSS) of the 4 containers. Then deploy is interrupted (Ctrl-C, it may still be
waiting for host keys) and `destroy` is timed; what is left on the host is listed.
Targets: 4 servers booted and reachable <= 60 s after apply, <= 1.5 GB for them.
Needs root, a running local cloud with `--driver nspawn` and the test Terraform (tests/tiers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scs_testbed import localcloud  # noqa: E402
from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn  # noqa: E402
from tests import tiers  # noqa: E402
from tests.netns.containers import pss_bytes  # noqa: E402

NAME = "bench-boot"


def line(name: str, value: float, unit: str, note: str = "") -> None:
    print(f"{name:<44} {value:8.1f} {unit:<4} {note}", flush=True)


def banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5) as sock:
            sock.settimeout(2)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def main() -> None:
    if os.geteuid() != 0 or not localcloud.is_running():
        print("skipped: needs root and a running local cloud (localcloud up --driver nspawn)")
        return
    layout = localcloud.Layout.default()
    base = Path(tempfile.mkdtemp(prefix="scs-boot-bench-"))
    env = dict(
        os.environ,
        OS_CLIENT_CONFIG_FILE=str(layout.clouds_file),
        TF_CLI_CONFIG_FILE=str(tiers.write_terraformrc(base / "terraformrc")),
        SCS_TESTBED_TERRAFORM=str(tiers.terraform_command()),
        SCS_TESTBED_STATE_DIR=str(base / "state"),
        NO_COLOR="1",
    )
    cli = [sys.executable, "-m", "scs_testbed"]
    host = nspawn.Host(layout.hosts, Path("/nonexistent"))
    before = set(host.server_uuids())
    started = time.monotonic()
    deploy = subprocess.Popen(
        [*cli, "deploy", "-e", "local", "--name", NAME],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        floating = sshd = progress = None
        while sshd is None or progress is None:
            now = time.monotonic() - started
            if now > 900:
                raise TimeoutError("no sshd or progress line within 15 min")
            fips = [r["floating"] for _, r in host.network_records() if r.get("floating")]
            if floating is None and fips:
                floating = next(iter(fips[0]))
            if sshd is None and floating and banner(floating):
                sshd = now
            if progress is None:
                for uuid in set(host.server_uuids()) - before:
                    path = host.server_dir(uuid) / "upper/var/log/scs-testbed/progress.jsonl"
                    if path.is_file() and path.stat().st_size:
                        progress = now
            if deploy.poll() is not None and deploy.returncode != 0:
                raise RuntimeError(f"deploy exited {deploy.returncode}")
            time.sleep(0.2)
        line("deploy -> sshd on the floating IP", sshd or 0, "s")
        line("deploy -> first progress line (manager)", progress or 0, "s")
        time.sleep(5)  # a moment of steady state for the memory figure
        ours = set(host.server_uuids()) - before
        pids = [pid for uuid in ours for pid in host.pids(uuid)]
        line(f"RAM (PSS) of {len(ours)} servers", pss_bytes(pids) / 2**20, "MiB", "<= 1536")
    finally:
        if deploy.poll() is None:
            deploy.send_signal(signal.SIGINT)
            deploy.wait()
        began = time.monotonic()
        subprocess.run(
            [*cli, "destroy", NAME, "--yes", "--force-cleanup"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        line("destroy", time.monotonic() - began, "s")
        from tests.localcloud.conftest import host_leftovers

        print("left on the host:", host_leftovers() or "nothing", flush=True)


if __name__ == "__main__":
    main()
