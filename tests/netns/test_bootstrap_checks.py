"""The in-VM bootstrap, checked with the real tools: Terraform renders the cloud-init
templates, `cloud-init schema` validates them, shellcheck and ansible-playbook check the rest,
and bash runs the progress library so that watch's parser reads what it writes.

Lives in the netns tier because CI installs these tools for it (cloud-init, shellcheck,
ansible-core); none of these checks needs root itself.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scs_testbed.remote.progress import ProgressBoard, parse_event
from tests.tiers import REPO, terraform_command

BOOTSTRAP = REPO / "bootstrap"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKd3N1ZlZGt0c3RrZXlmb3J0ZXN0c29ubHkxMjM0 t@x"

ROOT_MODULE = """
locals { b = "%(bootstrap)s" }
output "manager" {
  value = templatefile("${local.b}/manager.yaml.tftpl", {
    prefix = "tb", image_user = "ubuntu", image_node_user = "debian", public_key = "%(key)s"
    manager_ip = "192.168.16.5", node_ips = ["192.168.16.10", "192.168.16.11"]
    management_cidr = "192.168.16.0/20", deploy_mode = "%(mode)s"
    configuration_repository = "https://example.org/configuration.git"
    configuration_version = "main", manager_version = "latest", ceph_version = "reef"
    openstack_version = "2024.2", number_of_nodes = %(nodes)d, manager_public_ip = "203.0.113.7"
    tempest = false, external_api = false, ara = true, apt_proxy = "", apt_mirror = "%(mirror)s"
    pypi_index_url = "", ansible_galaxy_server = "", collections_repository_base = "https://example.org/osism"
    container_registry_mirror = ""
    files = { for f in fileset(local.b, "{common,manager}/**") : f => file("${local.b}/${f}") }
  })
}
output "node" {
  value = templatefile("${local.b}/node.yaml.tftpl", {
    prefix = "tb", hostname = "tb-node-0", image_user = "debian", public_key = "%(key)s"
    manager_ip = "192.168.16.5", apt_proxy = "http://192.168.16.1:3142", apt_mirror = "%(mirror)s"
    files = { for f in fileset(local.b, "{common,node}/**") : f => file("${local.b}/${f}") }
  })
}
"""


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (CI installs it for this tier)")
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    terraform = terraform_command()
    if terraform is None:
        pytest.fail("no Terraform CLI for rendering the templates")
    module = tmp_path_factory.mktemp("render")
    text = ROOT_MODULE % {
        "bootstrap": BOOTSTRAP,
        "key": PUBLIC_KEY,
        "mode": "openstack",
        "nodes": 2,
        "mirror": "http://mirror.example.org/debian",
    }
    (module / "main.tf").write_text(text)
    for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        r = subprocess.run([terraform, *argv], cwd=module, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for name in ("manager", "node"):
        r = subprocess.run(
            [terraform, "output", "-raw", name],
            cwd=module,
            capture_output=True,
            text=True,
            check=True,
        )
        out[name] = module / f"{name}.yaml"
        out[name].write_text(r.stdout)
    return out


@pytest.mark.parametrize("name", ["manager", "node"])
def test_rendered_cloud_config_passes_cloud_init_schema(rendered, name) -> None:
    r = subprocess.run(
        [need("cloud-init"), "schema", "--config-file", str(rendered[name])],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Valid cloud-config" in r.stdout


@pytest.mark.parametrize("name", ["manager", "node"])
def test_user_data_carries_the_scripts_and_no_private_key(rendered, name) -> None:
    text = rendered[name].read_text()
    assert "PRIVATE KEY" not in text
    config = yaml.safe_load(text)
    assert len(text.encode()) < 16384  # far below Nova's 64 KiB user_data limit
    files = {f["path"]: f for f in config["write_files"]}
    shipped = [p for p in files if p.startswith("/opt/scs-testbed/")]
    assert shipped
    for path in shipped:
        entry = files[path]
        content = gzip.decompress(base64.b64decode(entry["content"])).decode()
        assert content == (BOOTSTRAP / path.removeprefix("/opt/scs-testbed/")).read_text()
        assert "PRIVATE KEY" not in content
    # cloud-init only starts the bootstrap, detached: the manager's as an enabled unit that
    # runs again after the reboot, the node's as a transient unit
    runcmd = config["runcmd"]
    if name == "manager":
        assert runcmd[-1] == ["systemctl", "start", "--no-block", "scs-testbed-bootstrap.service"]
        assert ["systemctl", "enable", "scs-testbed-bootstrap.service"] in runcmd
        unit = files["/etc/systemd/system/scs-testbed-bootstrap.service"]["content"]
        script = next(
            line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")
        )
        assert "DefaultDependencies=no" in unit and "After=" in unit
    else:
        assert runcmd[0][:2] == ["systemd-run", "--unit=scs-testbed-join"]
        script = runcmd[0][-1]
    assert script in files and files[script]["permissions"] == "0755"


def test_apt_sources_are_variables(rendered) -> None:
    manager = yaml.safe_load(rendered["manager"].read_text())
    node = yaml.safe_load(rendered["node"].read_text())
    assert "proxy" not in manager["apt"]  # empty variable: nothing rendered
    assert manager["apt"]["primary"][0]["uri"] == "http://mirror.example.org/debian"
    assert node["apt"]["proxy"] == "http://192.168.16.1:3142"


def test_nodes_cloud_config_as_the_reference(rendered) -> None:
    node = yaml.safe_load(rendered["node"].read_text())
    assert node["mounts"] == [["ephemeral0"]]
    assert node["ntp"] == {"enabled": True, "ntp_client": "chrony"}
    files = {f["path"]: f for f in node["write_files"]}
    disabled = files["/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg"]["content"]
    assert "config: disabled" in disabled


def test_manager_vars_are_complete(rendered) -> None:
    env = yaml.safe_load(rendered["manager"].read_text())["write_files"]
    content = next(f["content"] for f in env if f["path"] == "/opt/manager-vars.sh")
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in content.splitlines()
        if line.startswith("export ")
    )
    assert exported == {
        "NUMBER_OF_NODES": "2",
        "CEPH_VERSION": "reef",
        "CONFIGURATION_VERSION": "main",
        "MANAGER_VERSION": "latest",
        "OPENSTACK_VERSION": "2024.2",
        "ARA": "true",
        "DEPLOY_MODE": "manager",
        "TEMPEST": "false",
        "IS_ZUUL": "false",
        "MANAGER_PUBLIC_IP_ADDRESS": "203.0.113.7",
        "EXTERNAL_API": "false",
        "IMAGE_USER": "ubuntu",
        "IMAGE_NODE_USER": "debian",
        "CEPH_STACK": "ceph-ansible",
    }
    r = subprocess.run(["bash", "-c", content + "\necho $NUMBER_OF_NODES"], capture_output=True)
    assert r.stdout.decode().strip() == "2"


def test_manager_env_has_what_the_bootstrap_reads(rendered) -> None:
    env = yaml.safe_load(rendered["manager"].read_text())["write_files"]
    content = next(f["content"] for f in env if f["path"] == "/etc/scs-testbed/testbed.env")
    for key in (
        "IMAGE_USER=ubuntu",
        "IMAGE_NODE_USER=debian",
        "DEPLOY_MODE=openstack",
        'NODE_IPS="192.168.16.10 192.168.16.11"',
        "CONFIGURATION_VERSION=main",
        "COLLECTIONS_REPOSITORY_BASE=https://example.org/osism",
        "PIP_INDEX_URL=\n",
    ):
        assert key in content


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = sorted(BOOTSTRAP.rglob("*.sh"))
    assert len(scripts) >= 3
    r = subprocess.run(
        [need("shellcheck"), "-x", *map(str, scripts)], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout
    for script in scripts:
        if script.name != "lib.sh":  # sourced, inherits the caller's settings
            assert "set -euo pipefail" in script.read_text(), script


def test_playbooks_pass_ansible_syntax_check(tmp_path) -> None:
    playbooks = sorted(BOOTSTRAP.rglob("playbooks/*.yml"))
    assert playbooks
    # the reference's roles are installed on the manager by the bootstrap; here stand-ins
    # with the same names let the syntax check resolve them
    for role in ("services/docker", "commons/docker_compose", "services/rng"):
        tasks = tmp_path / "ansible_collections" / "osism" / role.replace("/", "/roles/") / "tasks"
        tasks.mkdir(parents=True)
        (tasks / "main.yml").write_text("---\n- ansible.builtin.debug: {msg: stand-in}\n")
    for playbook in playbooks:
        r = subprocess.run(
            [need("ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
            capture_output=True,
            text=True,
            env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path)},
        )
        assert r.returncode == 0, r.stdout + r.stderr


def run_script(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`body` as a script sourcing the progress library (run_step needs a script file: each
    step runs as a fresh process of it)."""
    script = tmp_path / "script.sh"
    script.write_text(
        f"""#!/usr/bin/env bash
set -euo pipefail
export SCS_LOG_DIR={tmp_path}/log STATE_DIR={tmp_path}/state
source {BOOTSTRAP}/common/lib.sh
{body}
"""
    )
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_progress_library_writes_what_watch_reads(tmp_path) -> None:
    r = run_script(
        tmp_path,
        """
ok() { echo 'a "quoted" \\ line'; }
broken() { echo 'E: "mirror" \\unreachable'; return 3; }
main() {
  init_logs
  run_step first ok
  run_step first ok
  progress ceph skipped "not part of deploy_mode manager"
  run_step second broken || progress testbed failed second
}
dispatch main "$@"
""",
    )
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "log" / "progress.jsonl").read_text().splitlines()
    events = [parse_event(line) for line in lines]
    assert [(e.step, e.state) for e in events] == [
        ("first", "start"),
        ("first", "done"),
        ("first", "done"),
        ("ceph", "skipped"),
        ("second", "start"),
        ("second", "failed"),
        ("testbed", "failed"),
    ]
    assert events[2].detail == "already done"
    assert events[5].detail == 'exit 3: E: "mirror" \\unreachable'
    board = ProgressBoard()
    for event in events:
        board.apply(event)
    assert board.outcome == "failed" and board.failed_step == "second"
    log = (tmp_path / "log" / "bootstrap.log").read_text()
    assert 'a "quoted"' in log
    assert all(json.loads(line)["v"] == 1 for line in lines)


def test_a_failing_command_fails_its_step_even_under_if(tmp_path) -> None:
    """Defect 9: the step function used to run under `||`, which switches errexit off: a
    failed `git clone` was followed by the next command and the step reported done."""
    r = run_script(
        tmp_path,
        f"""
clone() {{
  echo "cloning the configuration"
  echo
  git clone --quiet {tmp_path}/no-such-repository {tmp_path}/clone
  echo "after the clone" > {tmp_path}/continued
}}
main() {{
  init_logs
  if ! run_step configuration clone; then progress testbed failed configuration; fi
}}
dispatch main "$@"
""",
    )
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "continued").exists()
    lines = (tmp_path / "log/progress.jsonl").read_text().splitlines()
    events = [parse_event(line) for line in lines]
    failed = next(e for e in events if e.step == "configuration" and e.state == "failed")
    assert failed.detail.startswith("exit 128: cloning the configuration | ")
    assert "no-such-repository" in failed.detail and "does not exist" in failed.detail
    assert not (tmp_path / "state/done/configuration").exists()


def test_retry_budget_is_attempts_times_delay(tmp_path) -> None:
    r = run_script(
        tmp_path,
        f"""
count={tmp_path}/count
flaky() {{ echo x >>"$count"; [[ $(wc -l <"$count") -ge 3 ]]; }}
init_logs
retry 5 0 flaky
retry 2 0 false || echo gave-up
sleep() {{ echo "$1" >>{tmp_path}/slept; }}
retry 4 30 false || true
""",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "gave-up"
    assert (tmp_path / "count").read_text().count("x") == 3
    # fixed delay: 4 attempts, 3 waits of 30 s (the comments state budgets as N x delay)
    assert (tmp_path / "slept").read_text().split() == ["30", "30", "30"]
    assert "giving up after 2 attempts: false" in (tmp_path / "log" / "bootstrap.log").read_text()


def reference_trace() -> dict:
    return yaml.safe_load((BOOTSTRAP / "reference.yaml").read_text())


MODES = ["manager", "ceph", "openstack", "full"]


def run_manager_bootstrap(tmp_path: Path, mode: str, dry_run: str, **extra: str):  # type: ignore[no-untyped-def]
    env = tmp_path / "testbed.env"
    env.write_text(f"TESTBED_PREFIX=tb\nDEPLOY_MODE={mode}\nCONFIGURATION_VERSION=main\n")
    r = subprocess.run(
        ["bash", str(BOOTSTRAP / "manager" / "bootstrap.sh")],
        env={
            "PATH": "/usr/bin:/bin",
            "TESTBED_ENV": str(env),
            "DRY_RUN": dry_run,
            "SCS_LOG_DIR": str(tmp_path / "log"),
            "STATE_DIR": str(tmp_path / "state"),
            **extra,
        },
        capture_output=True,
        text=True,
    )
    lines = (tmp_path / "log" / "progress.jsonl").read_text().splitlines()
    return r, [parse_event(line) for line in lines]


@pytest.mark.parametrize("mode", MODES)
def test_manager_steps_follow_deploy_mode(tmp_path, mode) -> None:
    r, events = run_manager_bootstrap(tmp_path, mode, "1")
    assert r.returncode == 0, r.stderr
    level = MODES.index(mode)
    order = [entry["name"] for entry in reference_trace()["steps"]]
    from_mode = {
        "pull-images": "ceph",
        "helpers": "ceph",
        "ceph": "ceph",
        "infrastructure": "openstack",
        "openstack": "openstack",
        "bootstrap-openstack": "openstack",
        "monitoring": "full",
    }
    expected_skips = [s for s in order if MODES.index(from_mode.get(s, "manager")) > level]
    assert [e.step for e in events if e.state == "skipped"] == expected_skips
    ran = [e.step for e in events if e.state == "done" and e.step != "testbed"]
    assert ran == [s for s in order if s not in expected_skips]
    assert events[-1].step == "testbed" and events[-1].state == "done"


def standin_configuration(root: Path, record: Path, fail: str | None = None) -> Path:
    """A configuration repository with the reference's script names whose scripts only
    record that they ran (and the files the bootstrap reads)."""
    repo = root / "configuration"
    for entry in reference_trace()["script_order"]:
        script = repo / entry["script"]
        script.parent.mkdir(parents=True, exist_ok=True)
        body = f"echo {entry['script']} >>{record}\n"
        if entry["script"] == fail:
            body += 'echo "osism apply failed: stand-in failure"\nexit 7\n'
        script.write_text(f"#!/bin/sh\n{body}")
        script.chmod(0o755)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


@pytest.mark.parametrize("mode", MODES)
def test_configuration_scripts_run_in_the_reference_order(tmp_path, mode) -> None:
    record = tmp_path / "ran.txt"
    repo = standin_configuration(tmp_path, record)
    r, events = run_manager_bootstrap(tmp_path, mode, "scripts", CONFIGURATION=str(repo))
    assert r.returncode == 0, r.stderr + (tmp_path / "log/bootstrap.log").read_text()
    level = MODES.index(mode)
    expected = [
        e["script"]
        for e in reference_trace()["script_order"]
        if MODES.index(e["from_mode"]) <= level
    ]
    assert record.read_text().split() == expected
    assert events[-1].state == "done"


def test_a_failing_configuration_script_fails_its_step_with_its_output(tmp_path) -> None:
    record = tmp_path / "ran.txt"
    repo = standin_configuration(tmp_path, record, fail="scripts/deploy/100-ceph-with-ansible.sh")
    r, events = run_manager_bootstrap(tmp_path, "full", "scripts", CONFIGURATION=str(repo))
    assert r.returncode == 1
    failed = [e for e in events if e.state == "failed"]
    assert [(e.step, e.detail) for e in failed] == [
        ("ceph", "exit 7: osism apply failed: stand-in failure"),
        ("testbed", "ceph"),
    ]
    assert record.read_text().split()[-1] == "scripts/deploy/100-ceph-with-ansible.sh"
