"""The manager's real rendered user_data on a booted server (an nspawn container of the local
cloud's host layer, real cloud-init from a config drive, real systemd).

Proves what can be proven without the internet: cloud-init only starts the bootstrap unit and
finishes (host keys on the console within a minute), the unit runs while cloud-init is done,
`/opt/manager-vars.sh` is complete, the bootstrap runs up to the first source this machine
cannot reach (the apt mirror) and says so in the failed step's detail; marked done by hand, it
continues, creates the operator with uid/gid 45000 and the venv owned by it, and stops at the
next unreachable source. Network: only the test's own namespace (no DNS, no route out).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scs_testbed.localcloud import Layout, image
from scs_testbed.remote import hostkeys
from scs_testbed.remote.progress import ProgressEvent, parse_event
from tests.netns import containers
from tests.netns.test_bootstrap_checks import BOOTSTRAP, ROOT_MODULE
from tests.tiers import terraform_command

BOOT_TIMEOUT = 180.0
STEP_TIMEOUT = 300.0  # apt: 5 attempts x 10 s; pip: 5 x 10 s plus its own retries
UNIT = "scs-testbed-bootstrap.service"


@pytest.fixture(scope="module")
def rootfs() -> Path:
    if not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")):
        pytest.fail("systemd-nspawn/debootstrap missing (.ci/run installs them for this tier)")
    return image.ensure_image(Layout.default()).rootfs


def render_manager(tmp_path: Path, public_key: str, nodes: int) -> str:
    """The manager's user_data exactly as the module renders it (Terraform templatefile)."""
    terraform = terraform_command()
    if terraform is None:
        pytest.fail("no Terraform CLI for rendering the templates")
    module = tmp_path / f"render-{nodes}"
    module.mkdir()
    text = ROOT_MODULE % {
        "bootstrap": BOOTSTRAP,
        "key": public_key,
        "mode": "full",
        "nodes": nodes,
        "mirror": "",
    }
    text = text.replace('image_user = "ubuntu"', 'image_user = "debian"')
    (module / "main.tf").write_text(text)
    for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        r = subprocess.run([terraform, *argv], cwd=module, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(
        [terraform, "output", "-raw", "manager"], cwd=module, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


class Manager:
    """A booted manager: its console, its progress file and commands inside it."""

    def __init__(self, cloud: containers.Cloud, server: containers.Booted) -> None:
        self.cloud, self.server = cloud, server
        self.upper = cloud.host.server_dir(server.uuid) / "upper"

    def console(self) -> str:
        return self.cloud.host.console_output(self.server.uuid).decode(errors="replace")

    def events(self) -> list[ProgressEvent]:
        path = self.upper / "var/log/scs-testbed/progress.jsonl"
        if not path.exists():
            return []
        return [parse_event(line) for line in path.read_text().splitlines() if line.strip()]

    def init_pid(self) -> int:
        for pid in self.cloud.host.pids(self.server.uuid):
            status = Path(f"/proc/{pid}/status")
            try:
                nspid = next(
                    line.split()[1:]
                    for line in status.read_text().splitlines()
                    if line.startswith("NSpid:")
                )
            except (OSError, StopIteration):
                continue
            if nspid[-1] == "1" and len(nspid) > 1:
                return pid
        raise AssertionError("no init process in the container")

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.init_pid()), "-m", "-u", "-i", "-n", "-p", "--", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def wait_for_event(self, step: str, state: str, after: int = 0) -> ProgressEvent:
        found: list[ProgressEvent] = []

        def seen() -> bool:
            found[:] = [e for e in self.events()[after:] if e.step == step and e.state == state]
            return bool(found)

        try:
            containers.wait_until(seen, STEP_TIMEOUT, f"{step} {state}")
        except TimeoutError as error:
            log = self.upper / "var/log/scs-testbed/bootstrap.log"
            tail = log.read_text().splitlines()[-15:] if log.exists() else []
            raise AssertionError(f"{error}; bootstrap.log ends:\n" + "\n".join(tail)) from None
        return found[0]


@pytest.fixture
def manager(rootfs: Path, tmp_path: Path) -> Iterator[tuple[Manager, str]]:
    with containers.cloud(tmp_path / "cloud", rootfs) as cloud:
        user_data = render_manager(tmp_path, cloud.public_key, nodes=5)
        server = cloud.create("tb-manager", "192.168.16.5", user_data=user_data)
        yield Manager(cloud, server), user_data


def test_manager_bootstrap_on_a_booted_server(manager: tuple[Manager, str], tmp_path: Path) -> None:
    mgr, user_data = manager
    started = time.monotonic()
    mgr.cloud.host.start(mgr.server.uuid)

    # cloud-init only starts the unit: the host keys reach the console within a minute
    containers.wait_until(
        lambda: hostkeys.END_MARKER in mgr.console(), BOOT_TIMEOUT, "host keys on the console"
    )
    keys_after = time.monotonic() - started
    assert hostkeys.parse_console_host_keys(mgr.console())
    assert keys_after < 60, f"host keys after {keys_after:.0f}s"

    # the bootstrap unit runs while cloud-init has finished
    mgr.wait_for_event("packages", "start")
    status = mgr.run("cloud-init", "status")
    assert "status: done" in status.stdout, status.stdout + status.stderr
    active = mgr.run("systemctl", "is-active", UNIT)
    assert active.stdout.strip() in ("active", "activating"), active.stdout
    # a run begins with `testbed start` (watch follows the newest run from there)
    assert [(e.step, e.state) for e in mgr.events()][:4] == [
        ("testbed", "start"),
        ("cloud-init", "start"),
        ("cloud-init", "done"),
        ("packages", "start"),
    ]

    # /opt/manager-vars.sh as rendered: complete, with the number of nodes
    vars_text = (mgr.upper / "opt/manager-vars.sh").read_text()
    assert "export NUMBER_OF_NODES=5\n" in vars_text
    for key in (
        "TEMPEST",
        "DEPLOY_MODE",
        "CONFIGURATION_VERSION",
        "IMAGE_USER",
        "IMAGE_NODE_USER",
        "MANAGER_PUBLIC_IP_ADDRESS",
        "CEPH_STACK",
        "ARA",
        "IS_ZUUL",
        "EXTERNAL_API",
    ):
        assert f"export {key}=" in vars_text, key
    three = render_manager(tmp_path, mgr.cloud.public_key, nodes=3)
    assert "export NUMBER_OF_NODES=3\n" in three and "export NUMBER_OF_NODES=5\n" in user_data

    # the first source out of reach: the apt mirror, named in the failed step
    failed = mgr.wait_for_event("packages", "failed")
    assert "cannot reach the apt mirror" in failed.detail, failed.detail
    assert "apt_mirror or apt_proxy" in failed.detail
    assert mgr.wait_for_event("testbed", "failed").detail == "packages"
    containers.wait_until(
        lambda: mgr.run("systemctl", "is-active", UNIT).stdout.strip() == "failed",
        30,
        "the unit to end as failed",
    )

    # as after a fix by hand: the step marked done, the unit started again
    seen = len(mgr.events())
    assert mgr.run("touch", "/var/lib/scs-testbed/done/packages").returncode == 0
    assert mgr.run("systemctl", "start", UNIT).returncode == 0
    mgr.wait_for_event("operator", "done", after=seen)
    ids = mgr.run("id", "dragon").stdout
    assert "uid=45000(dragon) gid=45000(dragon)" in ids, ids
    venv_failed = mgr.wait_for_event("venv", "failed", after=seen)
    assert venv_failed.detail, "a failed step always says why"
    owner = mgr.run("stat", "-c", "%u:%g", "/opt/venv").stdout.strip()
    assert owner == "45000:45000"
