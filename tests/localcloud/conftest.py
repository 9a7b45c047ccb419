"""The local cloud, started once per session (or reused when it already runs).

The fixture calls `localcloud.up()`, which is idempotent: a running cloud costs a few seconds
(it re-checks readiness and resets the testbed project's quotas), a stopped one is started.
The cloud is left running afterwards so other tiers and people can use it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LAST_MODULES = ("test_down.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`down` stops the cloud for everyone: its module runs after all other tests."""
    items.sort(key=lambda item: Path(str(item.fspath)).name in LAST_MODULES)


@dataclass
class LocalCloud:
    clouds_file: Path
    project: Any  # openstack.connection.Connection as the testbed project's user
    admin: Any  # ... as the cloud admin
    project_id: str
    boots: bool = False  # the nspawn driver: servers boot as containers


def connect(clouds_file: Path, cloud: str) -> Any:
    """An openstacksdk connection from the written clouds.yaml, as users make one."""
    import openstack.config
    from openstack.connection import Connection

    config = openstack.config.OpenStackConfig(config_files=[str(clouds_file)])
    return Connection(config=config.get_one(cloud=cloud))


def start_cloud() -> LocalCloud:
    """The running local cloud as it is, else `localcloud up` (the driver of the last `up`).

    A running cloud is used untouched: `up` from a checkout with other plugin code would
    reinstall it and restart the services under every other session using the cloud.
    Whether its servers boot is asked of the cloud itself (the hypervisor type nova reports),
    never of a file an earlier run left.
    """
    from scs_testbed import localcloud

    layout = localcloud.Layout.default()
    if not (localcloud.is_running(layout) and layout.clouds_file.is_file()):
        localcloud.up(progress=lambda _message: None, layout=layout)
    return connect_cloud(layout.clouds_file)


def connect_cloud(clouds: Path) -> LocalCloud:
    """The running local cloud through its clouds.yaml, as the testbed user and as admin."""
    from scs_testbed import localcloud
    from scs_testbed.localcloud.provision import compute_driver

    project = connect(clouds, localcloud.CLOUD_NAME)
    admin = connect(clouds, localcloud.ADMIN_CLOUD_NAME)
    return LocalCloud(
        clouds_file=clouds,
        project=project,
        admin=admin,
        project_id=project.current_project_id,
        boots=compute_driver(admin) == "nspawn",
    )


def host_leftovers(
    namespaces: set[str] | None = None, servers: set[str] | None = None
) -> list[str]:
    """What booted servers left on this host: containers, server dirs, overlay mounts,
    network namespaces, veths, floating IP routes (the host layer's names: scs*).

    `namespaces` limits the network part to those and `servers` (server UUIDs) the server
    part: other sessions may boot servers on the same cloud meanwhile.
    """
    from scs_testbed.localcloud import Layout

    hosts = Layout.default().hosts
    dirs = sorted((hosts / "servers").glob("*"))
    if servers is not None:
        dirs = [d for d in dirs if d.name in servers]
    found = [f"server dir {p.name}" for p in dirs]
    for record in sorted((hosts / "networks").glob("*.json")):
        try:
            namespace = json.loads(record.read_text())["network"]["namespace"]
        except (OSError, ValueError, KeyError):
            namespace = None  # removed meanwhile, or another session writing it
        if namespaces is None or namespace in namespaces:
            found.append(f"network record {record.name}")
    found += [
        f"mount {line.split()[1]}"
        for line in Path("/proc/mounts").read_text().splitlines()
        if str(hosts) in line and (servers is None or any(s in line for s in servers))
    ]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            line = b" ".join(argv)
            ours = servers is None or any(s.encode() in line for s in servers)
            if argv[0].endswith(b"systemd-nspawn") and str(hosts).encode() in line and ours:
                found.append(f"container process {proc.name}")
    run = lambda *argv: subprocess.run(argv, capture_output=True, text=True).stdout  # noqa: E731
    listed = run("ip", "netns", "list").split()
    found += [
        f"namespace {n}"
        for n in listed
        if n.startswith("scsn-") and (namespaces is None or n in namespaces)
    ]
    uplinks = {"scsh" + n.removeprefix("scsn-") for n in namespaces or ()}
    for word in run("ip", "-o", "link").split():
        link = word.rstrip(":").split("@")[0]
        if link in uplinks or (namespaces is None and link.startswith(("scsv", "scsh"))):
            found.append(f"link {link}")
    for route in run("ip", "-4", "route").splitlines():
        device = route.split(" dev ")[-1].split()[0] if " dev " in route else ""
        if device in uplinks or (namespaces is None and device.startswith("scsh")):
            found.append(f"route {route}")
    return found


def host_ids_of_testbed(workspace: Path) -> tuple[set[str], set[str]]:
    """The host-layer namespaces and server UUIDs of a deployed testbed (from its outputs),
    to scope `host_leftovers` to it; read them before destroying it."""
    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

    outputs = json.loads((workspace / "outputs.json").read_text())
    servers = outputs["servers"]
    ids = {servers["manager"], *servers["nodes"]}
    network_ids = {n["id"] for n in outputs["networks"].values()}
    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    namespaces = {n.namespace for n, _ in host.network_records() if n.id in network_ids}
    return namespaces, ids


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloud]:
    yield start_cloud()


@pytest.fixture(scope="module")
def booting_cloud(cloud: LocalCloud) -> Iterator[LocalCloud]:
    """The local cloud with servers that boot (the nspawn driver), for this module.

    The test sets that shape itself: a cloud found running the fake driver is switched to
    nspawn with `up` and switched back afterwards, so no test depends on which driver an
    earlier run or a hand command left."""
    from scs_testbed import localcloud

    if cloud.boots:
        yield cloud
        return
    localcloud.up(driver="nspawn", progress=lambda _message: None)
    try:
        booting = connect_cloud(cloud.clouds_file)
        assert booting.boots, "nova reports no nspawn hypervisor after `up --driver nspawn`"
        yield booting
    finally:
        localcloud.up(driver="fake", progress=lambda _message: None)


Cli = Callable[..., subprocess.CompletedProcess[str]]


def user_env(clouds_file: Path, base: Path, **extra: str) -> dict[str, str]:
    """Process environment of a user of the local cloud: `clouds_file`, the test Terraform,
    a state directory of its own under `base`, this checkout first on the import path (so a
    worktree tests its own code), then `extra`."""
    from tests import tiers

    rc = tiers.write_terraformrc(base / "terraformrc")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    env.update(
        OS_CLIENT_CONFIG_FILE=str(clouds_file),
        TF_CLI_CONFIG_FILE=str(rc),
        SCS_TESTBED_TERRAFORM=str(tiers.terraform_command()),
        SCS_TESTBED_STATE_DIR=str(base / "state"),
        TF_PLUGIN_CACHE_DIR=str(base / "plugins"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(tiers.REPO), os.environ.get("PYTHONPATH")])),
    )
    (base / "plugins").mkdir(exist_ok=True)
    env.pop("SCS_TESTBED_ENV_DIR", None)
    env.update(extra)
    return env


def cli_runner(default_env: dict[str, str], cwd: Path | None = None, timeout: float = 900) -> Cli:
    """`scs-testbed ARGS` as that user runs it (no standard input, as in CI)."""
    default_timeout = timeout

    def run(*args: str, env: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        return subprocess.run(
            [sys.executable, "-m", "scs_testbed", *args],
            env=env or default_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout or default_timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    return run


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `scs-testbed ARGS` as a user would."""
    from tests.tools import faultrun

    return faultrun.cli(dict(os.environ, COLUMNS="200", NO_COLOR="1"), *args, timeout=timeout)
