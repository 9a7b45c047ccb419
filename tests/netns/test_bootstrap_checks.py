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
    configuration_version = "main", manager_version = "latest", ceph_version = "quincy"
    openstack_version = "2023.2"
    files = { for f in fileset(local.b, "{common,manager}/**") : f => file("${local.b}/${f}") }
  })
}
output "node" {
  value = templatefile("${local.b}/node.yaml.tftpl", {
    prefix = "tb", hostname = "tb-node-0", image_user = "debian", public_key = "%(key)s"
    manager_ip = "192.168.16.5"
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
    text = ROOT_MODULE % {"bootstrap": BOOTSTRAP, "key": PUBLIC_KEY, "mode": "openstack"}
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
    runcmd = config["runcmd"][0][0]
    assert runcmd in files and files[runcmd]["permissions"] == "0755"


def test_manager_env_has_what_the_bootstrap_reads(rendered) -> None:
    env = yaml.safe_load(rendered["manager"].read_text())["write_files"]
    content = next(f["content"] for f in env if f["path"] == "/etc/scs-testbed/testbed.env")
    for key in (
        "IMAGE_USER=ubuntu",
        "IMAGE_NODE_USER=debian",
        "DEPLOY_MODE=openstack",
        'NODE_IPS="192.168.16.10 192.168.16.11"',
        "CONFIGURATION_VERSION=main",
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


def test_playbooks_pass_ansible_syntax_check() -> None:
    playbooks = sorted(BOOTSTRAP.rglob("playbooks/*.yml"))
    assert playbooks
    for playbook in playbooks:
        r = subprocess.run(
            [need("ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stdout + r.stderr


def test_progress_library_writes_what_watch_reads(tmp_path) -> None:
    script = f"""
set -euo pipefail
export SCS_LOG_DIR={tmp_path}/log STATE_DIR={tmp_path}/state
source {BOOTSTRAP}/common/lib.sh
init_logs
ok() {{ echo 'a "quoted" \\\\ line'; }}
broken() {{ echo 'E: "mirror" \\unreachable'; return 3; }}
run_step first ok
run_step first ok
progress ceph skipped "not part of deploy_mode manager"
run_step second broken || progress testbed failed second
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
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


def test_retry_retries_then_gives_up_with_a_log_line(tmp_path) -> None:
    script = f"""
set -euo pipefail
export SCS_LOG_DIR={tmp_path}/log STATE_DIR={tmp_path}/state RETRY_MAX_DELAY=0
source {BOOTSTRAP}/common/lib.sh
init_logs
count={tmp_path}/count
flaky() {{ echo x >>"$count"; [[ $(wc -l <"$count") -ge 3 ]]; }}
retry 5 0 flaky
retry 2 0 false || echo gave-up
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "gave-up"
    assert (tmp_path / "count").read_text().count("x") == 3
    assert "giving up after 2 attempts: false" in (tmp_path / "log" / "bootstrap.log").read_text()


@pytest.mark.parametrize(
    ("mode", "skipped"),
    [
        ("manager", ["ceph", "infrastructure", "openstack", "monitoring"]),
        ("ceph", ["infrastructure", "openstack", "monitoring"]),
        ("openstack", ["monitoring"]),
        ("full", []),
    ],
)
def test_manager_steps_follow_deploy_mode(tmp_path, mode, skipped) -> None:
    env = tmp_path / "testbed.env"
    env.write_text(f"TESTBED_PREFIX=tb\nDEPLOY_MODE={mode}\n")
    r = subprocess.run(
        ["bash", str(BOOTSTRAP / "manager" / "bootstrap.sh")],
        env={
            "PATH": "/usr/bin:/bin",
            "TESTBED_ENV": str(env),
            "DRY_RUN": "1",
            "SCS_LOG_DIR": str(tmp_path / "log"),
            "STATE_DIR": str(tmp_path / "state"),
        },
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "log" / "progress.jsonl").read_text().splitlines()
    events = [parse_event(line) for line in lines]
    assert [e.step for e in events if e.state == "skipped"] == skipped
    ran = [e.step for e in events if e.state == "done" and e.step != "testbed"]
    assert ran[:7] == [
        "packages",
        "operator",
        "ansible",
        "configuration",
        "docker",
        "nodes",
        "manager",
    ]
    assert events[-1].step == "testbed" and events[-1].state == "done"
