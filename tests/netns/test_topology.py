"""The stand-in hosts themselves: sshd per namespace, the node unreachable without a tunnel."""

from __future__ import annotations

import subprocess

from tests.netns.conftest import NODE_IP


def test_node_is_not_reachable_from_the_client_without_tunnel(bed) -> None:
    r = subprocess.run(
        ["ip", "netns", "exec", bed.client_ns, "curl", "-sf", "-m", "1", f"http://{NODE_IP}:8080/"],
        capture_output=True,
    )
    assert r.returncode != 0
