#!/usr/bin/env python3
"""Servers as nspawn containers (the local cloud's host layer), without nova.

Prints: server image build (cold: the last build's time from its manifest, or a fresh one with
--cold; cached: the lookup), one manager + three nodes started together until sshd answers
(manager on its floating IP from the host, nodes on their fixed IPs inside the network's
namespace), their memory (PSS), and the time to delete them all. Target from issue 9:
4 servers reachable <= 60 s, <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scs_testbed.localcloud import Layout, image
from tests.netns import containers

TARGETS = {"boot": 60.0, "pss": 1536.0}


def line(name: str, value: float, unit: str, target: float | None = None) -> None:
    verdict = (
        ""
        if target is None
        else f"(target <= {target:g} {unit}) " + ("ok" if value <= target else "OVER TARGET")
    )
    print(f"{name:<44} {value:8.1f} {unit:<4} {verdict}", flush=True)


def ssh_in_namespace(namespace: str, address: str) -> bool:
    """sshd's banner on address:22, read from inside the network's namespace."""
    probe = f"exec 3<>/dev/tcp/{address}/22 && head -c 7 <&3"
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "timeout", "2", "bash", "-c", probe],
        capture_output=True,
        check=False,
    )
    return done.stdout.startswith(b"SSH-2.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="rebuild the image (minutes)")
    args, _ = parser.parse_known_args()
    if os.geteuid() != 0:
        print("skipped: needs root")
        return
    layout = Layout.default()
    built = image.ensure_image(layout, rebuild=args.cold)
    cold = image.manifest(built.rootfs).get("build_seconds")
    if isinstance(cold, (int, float)):
        line("image build, cold (debootstrap + fix-ups)", float(cold), "s")
    line("image, cached", image.ensure_image(layout).seconds, "s")

    with (
        tempfile.TemporaryDirectory(prefix="scs-nspawn-bench-") as tmp,
        containers.cloud(Path(tmp), built.rootfs) as cloud,
    ):
        manager = cloud.create("bench-manager", "192.168.16.5", containers.random_floating())
        nodes = [cloud.create(f"bench-node-{i}", f"192.168.16.{10 + i}") for i in range(3)]
        started = time.perf_counter()
        for server in (manager, *nodes):
            cloud.host.start(server.uuid)
        floating = manager.floating or ""
        containers.wait_until(
            lambda: containers.tcp_banner(floating).startswith(b"SSH-2.0"),
            180,
            "the manager's sshd on its floating IP",
        )
        line("manager: start -> sshd on floating IP", time.perf_counter() - started, "s")
        for node in nodes:
            containers.wait_until(
                lambda node=node: ssh_in_namespace(cloud.network.namespace, node.address),
                180,
                f"sshd of {node.hostname}",
            )
        line(
            "1 manager + 3 nodes: start -> all sshd up",
            time.perf_counter() - started,
            "s",
            TARGETS["boot"],
        )
        for server in (manager, *nodes):
            containers.wait_until(cloud.marker(server).exists, 180, "cloud-init's runcmd")
        line("... -> user_data ran on all four", time.perf_counter() - started, "s")
        pss = {s.hostname: containers.pss_bytes(cloud.host.pids(s.uuid)) for s in cloud.servers}
        for name, value in pss.items():
            line(f"  PSS {name}", value / 2**20, "MiB")
        line("PSS of the four", sum(pss.values()) / 2**20, "MiB", TARGETS["pss"])
        started = time.perf_counter()
        for server in cloud.servers:
            cloud.host.delete(server.uuid, timeout=30)
        line("delete all four (power off + cleanup)", time.perf_counter() - started, "s")
        cloud.servers.clear()


if __name__ == "__main__":
    main()
