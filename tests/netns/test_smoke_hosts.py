"""The smoke suite's host checks on a really booted host (the local cloud's nspawn host layer,
without the cloud): testinfra over an ssh_config made as the testbed's (host keys pinned from
the console), real cloud-init, a progress file written by user_data.

cloud-init and bootstrap checks report what is there — a pass, then a failure once a failed
step is appended — and the OSISM checks (manager containers, Ceph) FAIL, neither pass nor skip:
no OSISM runs on this host. Needs root and the cached image (netns tier).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scs_testbed.localcloud import Layout, image
from scs_testbed.remote import hostkeys
from scs_testbed.smoke import suite
from tests.netns import containers

BOOT_TIMEOUT = 180.0
PROGRESS = "/var/log/scs-testbed/progress.jsonl"
DONE = [
    '{"v":1,"ts":"2026-01-01T00:00:00Z","step":"node","state":"done","detail":""}',
    '{"v":1,"ts":"2026-01-01T00:00:01Z","step":"testbed","state":"done","detail":"stand-in"}',
]
FAILED = '{"v":1,"ts":"2026-01-01T00:00:02Z","step":"ceph","state":"failed","detail":"exit 2"}'
USER_DATA = f"""#cloud-config
hostname: smk-manager
ssh_key_console_blacklist: []
package_update: false
write_files:
  - path: {PROGRESS}
    content: |
      {DONE[0]}
      {DONE[1]}
"""
OSISM_CHECKS = "cloud_init or bootstrap_finished or manager_services or ceph_status"


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One booted host, its ssh_config (pinned keys); everything removed afterwards."""
    if not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")):
        pytest.fail("systemd-nspawn/debootstrap missing (.ci/run installs them for this tier)")
    rootfs = image.ensure_image(Layout.default()).rootfs
    work = tmp_path_factory.mktemp("smk-smoke")
    with containers.cloud(work / "cloud", rootfs) as cloud:
        server = cloud.create(
            "smk-manager", "192.168.16.5", containers.random_floating(), USER_DATA
        )
        cloud.host.start(server.uuid)
        console = lambda: cloud.host.console_output(server.uuid).decode(errors="replace")  # noqa: E731
        containers.wait_until(
            lambda: hostkeys.END_MARKER in console(), BOOT_TIMEOUT, "host keys on the console"
        )
        assert server.floating
        known_hosts, ssh_config = work / "known_hosts", work / "ssh_config"
        hostkeys.write_known_hosts(
            known_hosts,
            {
                hostkeys.known_hosts_name(server.floating): hostkeys.parse_console_host_keys(
                    console()
                )
            },
        )
        hostkeys.write_private(
            ssh_config,
            hostkeys.render_ssh_config(
                [hostkeys.HostEntry("manager", server.floating, containers.DEFAULT_USER)],
                key_file=work / "cloud" / "id_ed25519",
                known_hosts=known_hosts,
            ),
        )
        containers.wait_until(
            lambda: _ssh(ssh_config, "test -e /run/cloud-init/result.json").returncode == 0,
            BOOT_TIMEOUT,
            "cloud-init finished (and sshd accepting)",
        )
        yield ssh_config


def _ssh(ssh_config: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(ssh_config), "-o", "ConnectTimeout=5", "manager", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _run(ssh_config: Path, tmp_path: Path) -> tuple[dict[str, suite.CheckResult], str]:
    config = suite.SmokeConfig(
        "smk", deploy_mode="ceph", ssh_config=str(ssh_config), manager="manager", nodes=[]
    )
    request = suite.SmokeRequest(
        suite.write_config(config, tmp_path / "config.json"),
        tmp_path / "junit.xml",
        keyword=OSISM_CHECKS,
        markers="hosts",
    )
    lines: list[str] = []
    result = suite.run_suite(request, lines.append)
    assert result.exit_code == suite.PYTEST_FAILED, "\n".join(lines)
    return {c.name.split("[")[0]: c for c in result.checks}, "\n".join(lines)


def test_bootstrap_passes_and_osism_checks_fail(booted: Path, tmp_path: Path) -> None:
    checks, output = _run(booted, tmp_path)
    assert {name: c.outcome for name, c in checks.items()} == {
        "test_cloud_init_finished": "passed",
        "test_bootstrap_finished": "passed",
        "test_manager_services_running": "failed",
        "test_ceph_status": "failed",
    }, output
    assert "docker ps" in checks["test_manager_services_running"].message
    assert "expected Docker running the OSISM containers" in output
    assert "Ceph: `ceph status --format json` exited" in checks["test_ceph_status"].message


def test_a_failed_bootstrap_step_is_reported(booted: Path, tmp_path: Path) -> None:
    appended = _ssh(booted, f"echo '{FAILED}' | sudo tee -a {PROGRESS} >/dev/null")
    assert appended.returncode == 0, appended.stderr
    checks, output = _run(booted, tmp_path)
    assert checks["test_bootstrap_finished"].outcome == "failed", output
    assert "bootstrap step ceph failed (exit 2)" in checks["test_bootstrap_finished"].message
    assert checks["test_cloud_init_finished"].outcome == "passed"
