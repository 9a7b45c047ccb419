"""check / deploy / status / destroy against the local cloud: real openstacksdk, real Terraform,
real terraform-provider-openstack, real OpenStack APIs. Every resource is verified in the cloud.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scs_testbed.discover import find_resources
from tests import tiers
from tests.localcloud.conftest import (
    Cli,
    LocalCloud,
    cli_runner,
    host_ids_of_testbed,
    host_leftovers,
    user_env,
)

SECURITY = json.loads((tiers.REPO / "terraform" / "security_groups.json").read_text())


@pytest.fixture(scope="module")
def lifecycle_env(cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Process environment of a user of the local cloud, with the test Terraform."""
    return user_env(cloud.clouds_file, tmp_path_factory.mktemp("lifecycle"))


@pytest.fixture(scope="module")
def cli(lifecycle_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return cli_runner(lifecycle_env, tmp_path_factory.mktemp("cwd"))


def host_ids_of(cloud: LocalCloud, prefix: str) -> tuple[set[str], set[str]]:
    """Server UUIDs and host-layer namespaces of the servers and networks named prefix-*."""
    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

    conn = cloud.project
    servers = {s.id for s in conn.compute.servers() if s.name.startswith(f"{prefix}-")}
    networks = {n.id for n in conn.network.networks() if n.name.startswith(f"{prefix}-")}
    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    return servers, {n.namespace for n, _ in host.network_records() if n.id in networks}


def names_in_cloud(cloud: LocalCloud, prefix: str) -> list[str]:
    return sorted(f"{f.kind}:{f.name}" for f in find_resources(cloud.project, prefix))


CAPTURED: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}


def start_deploy(
    name: str, env: dict[str, str], extra: list[str] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """`scs-testbed deploy` of a three-node testbed (the minimum), running in the background."""
    argv = [sys.executable, "-m", "scs_testbed", "deploy", "-e", "local", "--name", name]
    return subprocess.Popen(
        [*argv, "--nodes", "3", *(extra or [])],
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        **popen,
    )


@pytest.fixture
def cleanup(cli: Cli, cloud: LocalCloud) -> Iterator[list[str]]:
    """Testbed names to destroy (with --force-cleanup) whatever the test's outcome."""
    names: list[str] = []
    yield names
    for name in names:
        cli("destroy", name, "--yes", "--force-cleanup")


def assert_default_testbed(cloud: LocalCloud, prefix: str) -> None:
    """Every resource of a default `local` testbed named `prefix`, as the cloud shows it."""
    conn = cloud.project
    servers = {s.name: s for s in conn.compute.servers() if s.name.startswith(prefix + "-")}
    assert sorted(servers) == [f"{prefix}-manager", *(f"{prefix}-node-{i}" for i in range(3))]
    for server in servers.values():
        assert server.status == "ACTIVE"
    assert servers[f"{prefix}-manager"].flavor["original_name"] == "SCS-4V-16-50"
    assert {servers[f"{prefix}-node-{i}"].flavor["original_name"] for i in range(3)} == {
        "SCS-8V-32-50"
    }

    ports = {p.name: p for p in conn.network.ports() if p.name.startswith(prefix + "-")}
    assert ports[f"{prefix}-manager"].fixed_ips[0]["ip_address"] == "192.168.16.5"
    for i in range(3):
        port = ports[f"{prefix}-node-{i}"]
        assert port.fixed_ips[0]["ip_address"] == f"192.168.16.{10 + i}"
        assert port.device_id == servers[f"{prefix}-node-{i}"].id
        pairs = sorted(p["ip_address"] for p in port.allowed_address_pairs)
        assert pairs == ["192.168.16.254", "192.168.16.8", "192.168.16.9"]

    volumes = [v for v in conn.block_storage.volumes() if v.name.startswith(prefix + "-node-")]
    assert len(volumes) == 9
    node_ids = {servers[f"{prefix}-node-{i}"].id for i in range(3)}
    for volume in volumes:
        assert volume.status == "in-use", volume.name
        assert volume.size == 20
        assert volume.attachments[0]["server_id"] in node_ids

    ips = [ip for ip in conn.network.ips() if ip.description == f"{prefix}-manager"]
    assert len(ips) == 1
    assert ips[0].port_id == ports[f"{prefix}-manager"].id

    router = conn.network.find_router(f"{prefix}-router")
    public = conn.network.find_network("public")
    assert router.external_gateway_info["network_id"] == public.id

    for group_name, group in SECURITY["groups"].items():
        if group.get("when"):  # a group of an optional feature (e.g. external_api): not here
            assert conn.network.find_security_group(f"{prefix}-{group_name}") is None
            continue
        sg = conn.network.find_security_group(f"{prefix}-{group_name}")
        ingress = [
            r
            for r in conn.network.security_group_rules(security_group_id=sg.id)
            if r.direction == "ingress"
        ]
        assert len(ingress) == len(group["rules"]), group_name
        assert {(r.protocol, r.port_range_min) for r in ingress} == {
            (rule["protocol"], rule.get("port")) for rule in group["rules"]
        }


def test_two_testbeds_side_by_side_under_opentofu_and_terraform(
    cli: Cli, cloud: LocalCloud, cleanup: list[str], lifecycle_env: dict[str, str]
) -> None:
    """Two default testbeds deployed at once into one project: `lc-a` with OpenTofu (the
    tool's first choice, named with --terraform as a user would), `lc-b` with Terraform.
    Every resource of each is checked in the cloud; on a booting cloud each manager answers
    ssh on its own floating IP with its own name, behind the same fixed address; destroying
    one leaves the other untouched; nothing is left, in the cloud or on the host."""
    reason = tiers.missing_cli("opentofu")
    if reason:
        if "localcloud" in tiers.required_tiers():
            pytest.fail(f"OpenTofu is required here: {reason}", pytrace=False)
        pytest.skip(reason)
    tofu = str(tiers.tofu_command())
    tofu_env = dict(lifecycle_env)
    tofu_env.pop("SCS_TESTBED_TERRAFORM")
    testbeds = Path(lifecycle_env["SCS_TESTBED_STATE_DIR"]) / "testbeds"
    cleanup.extend(["lc-a", "lc-b"])
    runs = {
        "lc-a": start_deploy("lc-a", tofu_env, ["--terraform", tofu], **CAPTURED),
        "lc-b": start_deploy("lc-b", lifecycle_env, [], **CAPTURED),
    }
    outputs = {name: run.communicate(timeout=900)[0] for name, run in runs.items()}
    for name, run in runs.items():
        assert run.returncode == 0, outputs[name]
        if cloud.boots:  # nspawn: the consoles' host keys are pinned before deploy returns
            assert "host keys" in outputs[name]
            assert (testbeds / name / "known_hosts").read_text()
        else:
            assert "VMs do not boot" in outputs[name]

    record = json.loads((testbeds / "lc-a" / "testbed.json").read_text())
    assert record["terraform"] == tofu
    lock = (testbeds / "lc-a" / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.opentofu.org/terraform-provider-openstack/openstack"' in lock
    for name in ("lc-a", "lc-b"):
        assert_default_testbed(cloud, name)
        state = testbeds / name
        assert (state / "id_ed25519").stat().st_mode & 0o777 == 0o600
        assert state.stat().st_mode & 0o777 == 0o700
        assert "PRIVATE KEY" not in (state / "terraform.tfvars.json").read_text()

        status = cli("status", name, "--json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        ips = [ip for ip in cloud.project.network.ips() if ip.description == f"{name}-manager"]
        assert shown["outputs"]["manager_address"] == ips[0].floating_ip_address
        assert [s["status"] for s in shown["servers"]] == ["ACTIVE"] * 4
    listed = json.loads(cli("list", "--json").stdout)
    assert sorted((t["name"], t["state"]) for t in listed) == [
        ("lc-a", "deployed"),
        ("lc-b", "deployed"),
    ]

    side = [host_ids_of_testbed(testbeds / name) for name in ("lc-a", "lc-b")]
    if cloud.boots:
        # the same fixed addresses (manager 192.168.16.5) in two networks: each testbed's
        # manager answers on its own floating IP with its own name and host keys
        for name in ("lc-a", "lc-b"):
            shown = cli("ssh", "--name", name, "manager", "--", "hostname; hostname -I")
            assert shown.returncode == 0, shown.stderr
            assert shown.stdout.split()[:2] == [f"{name}-manager", "192.168.16.5"]
        assert not side[0][0] & side[1][0] and not side[0][1] & side[1][1]

    before_b = names_in_cloud(cloud, "lc-b")
    assert len(before_b) == len(names_in_cloud(cloud, "lc-a")) > 10
    done = cli("destroy", "lc-a", "--yes", env=tofu_env)  # the recorded binary: tofu again
    assert done.returncode == 0, done.stdout + done.stderr
    assert names_in_cloud(cloud, "lc-a") == []
    assert not (testbeds / "lc-a").exists()
    assert names_in_cloud(cloud, "lc-b") == before_b
    servers = [s for s in cloud.project.compute.servers() if s.name.startswith("lc-b-")]
    assert sorted(s.status for s in servers) == ["ACTIVE"] * 4

    done = cli("destroy", "lc-b", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert names_in_cloud(cloud, "lc-b") == []
    assert not (testbeds / "lc-b").exists()
    assert host_leftovers(side[0][0] | side[1][0], side[0][1] | side[1][1]) == []


def test_quota_shortfall_is_named_and_nothing_is_created(
    cli: Cli, cloud: LocalCloud, lifecycle_env: dict[str, str]
) -> None:
    original = cloud.admin.compute.get_quota_set(cloud.project_id).ram
    cloud.admin.compute.update_quota_set(cloud.project_id, ram=50 * 1024)
    try:
        done = cli("check", "-e", "local", "--name", "lc-short", "--json")
        assert done.returncode == 3, done.stdout + done.stderr
        failed = [c for c in json.loads(done.stdout)["checks"] if not c["ok"]]
        assert [c["item"] for c in failed] == ["RAM"]
        assert failed[0]["message"].startswith("RAM: need 112 GiB, ")
        assert "(quota 50, used" in failed[0]["message"]

        done = cli("deploy", "-e", "local", "--name", "lc-short")
        assert done.returncode == 3
        assert "RAM: need 112 GiB" in done.stderr
        assert names_in_cloud(cloud, "lc-short") == []
        assert not (Path(lifecycle_env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / "lc-short").exists()
    finally:
        cloud.admin.compute.update_quota_set(cloud.project_id, ram=original)


def test_security_group_rule_shortfall(cli: Cli, cloud: LocalCloud) -> None:
    quota = cloud.admin.network.get_quota(cloud.project_id)
    original = quota.security_group_rules
    used = cloud.admin.network.get_quota(cloud.project_id, details=True).security_group_rules
    cloud.admin.network.update_quota(quota, security_group_rules=used["used"] + 5)
    try:
        done = cli("check", "-e", "local", "--name", "lc-rules", "--json")
        assert done.returncode == 3, done.stdout + done.stderr
        failed = [c["item"] for c in json.loads(done.stdout)["checks"] if not c["ok"]]
        assert failed == ["security group rules"]
    finally:
        cloud.admin.network.update_quota(quota, security_group_rules=original)


def test_terraform_killed_mid_apply_then_destroy_leaves_nothing(
    cloud: LocalCloud, lifecycle_env: dict[str, str], cleanup: list[str], cli: Cli
) -> None:
    cleanup.append("lc-killed")
    process = start_deploy(
        "lc-killed",
        lifecycle_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if len(names_in_cloud(cloud, "lc-killed")) >= 6:
                break
            time.sleep(0.5)
        assert process.poll() is None, "deploy finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert names_in_cloud(cloud, "lc-killed"), "nothing was created before the kill"

    done = cli("destroy", "lc-killed", "--yes")  # it knows the deploy never finished
    assert done.returncode == 0, done.stdout + done.stderr
    assert names_in_cloud(cloud, "lc-killed") == []


def test_ctrl_c_stops_terraform_keeps_state_and_destroy_cleans_up(
    cloud: LocalCloud, lifecycle_env: dict[str, str], cleanup: list[str], cli: Cli
) -> None:
    """SIGINT reaches Terraform through scs-testbed; the state is kept; exit 130."""
    cleanup.append("lc-int")
    process = start_deploy(
        "lc-int", lifecycle_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    created = 0
    for line in process.stdout:
        created += " created " in line
        # during the boot: once a server exists (its container starts with it), and with
        # enough created before it for the state check below
        if created >= 5 and "compute_instance" in line and " created " in line:
            process.send_signal(signal.SIGINT)
            break
    output = process.stdout.read()
    assert process.wait(timeout=300) == 130, output
    booted, booted_namespaces = host_ids_of(cloud, "lc-int")
    workspace = Path(lifecycle_env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / "lc-int"
    state = json.loads((workspace / "terraform.tfstate").read_text())
    assert sum(len(r["instances"]) for r in state["resources"] if r["mode"] == "managed") >= 5
    assert json.loads((workspace / "testbed.json").read_text())["state"] == "interrupted"

    # servers created before the Ctrl-C were booting (nspawn) or running: destroy must take
    # their containers, overlays and namespaces too
    done = cli("destroy", "lc-int", "--yes")  # no --force-cleanup: it knows the deploy broke off
    assert done.returncode == 0, done.stdout + done.stderr
    assert names_in_cloud(cloud, "lc-int") == []
    assert host_leftovers(booted_namespaces, booted) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("-e", "no-such-env"), 2, "unknown environment 'no-such-env'"),
        (
            ("-e", "local", "-o", "cloud_provider=nowhere"),
            2,
            "cloud 'nowhere' is not in clouds.yaml",
        ),
        (("-e", "local", "-o", "image=No Such Image"), 3, "no active image named 'No Such Image'"),
        (("-e", "local", "-o", "flavor_node=SCS-1V-1"), 3, "'SCS-1V-1' does not exist"),
        (("-e", "local", "-o", "public=private-net"), 3, "'private-net' does not exist"),
        (("-e", "local", "-o", "number_of_nodes=0"), 2, "a whole number from 3 to 10"),
    ],
)
def test_bad_input_creates_nothing(
    cli: Cli,
    cloud: LocalCloud,
    lifecycle_env: dict[str, str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    done = cli("deploy", "--name", "lc-bad", *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert names_in_cloud(cloud, "lc-bad") == []
    assert not (Path(lifecycle_env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / "lc-bad").exists()


def test_wrong_password_is_a_clear_error(
    cli: Cli, cloud: LocalCloud, lifecycle_env: dict[str, str], tmp_path: Path
) -> None:
    import yaml

    clouds = yaml.safe_load(cloud.clouds_file.read_text())
    clouds["clouds"]["localcloud"]["auth"]["password"] = "wrong-password"
    bad = tmp_path / "clouds.yaml"
    bad.write_text(yaml.safe_dump(clouds))
    env = dict(lifecycle_env, OS_CLIENT_CONFIG_FILE=str(bad))
    done = cli("check", "-e", "local", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "authentication failed" in done.stderr
    assert "wrong-password" not in done.stdout + done.stderr


def test_failed_terraform_init_leaves_no_workspace(
    cli: Cli, cloud: LocalCloud, lifecycle_env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    rc = tmp_path / "terraformrc"
    rc.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{empty}"\n  }}\n}}\n'
    )
    done = cli(
        "deploy",
        "-e",
        "local",
        "--name",
        "lc-noinit",
        env=dict(lifecycle_env, TF_CLI_CONFIG_FILE=str(rc)),
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "terraform init failed" in done.stderr
    assert names_in_cloud(cloud, "lc-noinit") == []
    assert not (Path(lifecycle_env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / "lc-noinit").exists()
