"""The lifecycle writes records only once their step worked, and states only once they began.

Terraform is a stand-in script whose every command can be told to fail (and how far it gets).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from scs_testbed import deployment, teardown
from scs_testbed.environment import Catalog, load_environment
from scs_testbed.errors import InputError, TerraformError
from scs_testbed.testbed import SilentReporter, Target, resolve_target
from scs_testbed.workspace import Workspace

APPLY_START = '{"type":"apply_start","hook":{"resource":{"addr":"x"},"action":"create"}}'
ERROR = '{"type":"diagnostic","diagnostic":{"severity":"error","summary":"no route to cloud"}}'
STATE = (  # what verify_applied looks for: the manager and its bound floating IP in the module
    '{"version":4,"resources":['
    '{"module":"module.testbed","mode":"managed","type":"openstack_compute_instance_v2",'
    '"name":"manager","instances":[{}]},'
    '{"module":"module.testbed","mode":"managed","type":"openstack_networking_floatingip_v2",'
    '"name":"manager","instances":[{}]},'
    '{"module":"module.testbed","mode":"managed",'
    '"type":"openstack_networking_floatingip_associate_v2","name":"manager","instances":[{}]}]}'
)


def fake_terraform(tmp_path: Path) -> Path:
    """A `terraform` whose command X fails when the file fail-X exists in its directory.

    `apply` prints apply_start first when `begin` exists, and writes a state when it succeeds.
    """
    here = tmp_path / "tf"
    here.mkdir()
    script = here / "terraform"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"here={here}\n"
        'cmd="$1"\n'
        'case "$cmd" in\n'
        '  version) if [ "$2" = -json ]; then'
        ' echo \'{"terraform_version":"1.9.0","platform":"linux_amd64"}\';'
        " else echo 'Terraform v1.9.0'; fi; exit 0;;\n"
        '  output) echo \'{"manager_address":{"value":"203.0.113.7"},'
        '"image_user":{"value":"ubuntu"}}\'; exit 0;;\n'
        "esac\n"
        'if [ "$cmd" = apply ] && [ -e "$here/begin" ]; then echo \'' + APPLY_START + "'; fi\n"
        'if [ -e "$here/fail-$cmd" ]; then echo \'' + ERROR + "'; exit 1; fi\n"
        'if [ "$cmd" = apply ]; then echo \'' + STATE + "' > terraform.tfstate; fi\n"
        "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def tf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", str(tmp_path / "cache"))
    return fake_terraform(tmp_path)


def fail(tf: Path, command: str, on: bool = True) -> None:
    flag = tf.parent / f"fail-{command}"
    flag.touch() if on else flag.unlink(missing_ok=True)


def target(name: str = "tb", overrides: tuple[str, ...] = ()) -> Target:
    env = load_environment("local", Catalog.locate(), ["cloud_provider=c", *overrides])
    return resolve_target(env, name)


def records(ws: Workspace) -> dict[str, bytes]:
    files = (ws.meta_file, ws.tfvars_file, ws.root_module)
    return {p.name: p.read_bytes() for p in files if p.exists()}


def meta(ws: Workspace) -> dict[str, Any]:
    return dict(json.loads(ws.meta_file.read_text()))


# --------------------------------------------------------------------------- class 2


def test_a_name_of_another_environment_or_cloud_is_refused_before_any_write(tf: Path) -> None:
    deployment.plan(target(), str(tf), SilentReporter())
    ws = Workspace.named("tb")
    before = records(ws)
    env = load_environment("local", Catalog.locate(), ["cloud_provider=other"])
    with pytest.raises(InputError, match="belongs to environment 'local' \\(cloud 'c'\\)"):
        resolve_target(env, "tb")
    assert records(ws) == before


@pytest.mark.parametrize("step", ["init", "plan"])
def test_a_failed_plan_leaves_the_old_records(tf: Path, step: str) -> None:
    deployment.plan(target(), str(tf), SilentReporter())
    ws = Workspace.named("tb")
    before = records(ws)
    fail(tf, step)
    with pytest.raises(TerraformError):
        deployment.plan(target(overrides=("number_of_nodes=5",)), str(tf), SilentReporter())
    assert records(ws) == before
    fail(tf, step, on=False)
    deployment.plan(target(overrides=("number_of_nodes=5",)), str(tf), SilentReporter())
    assert json.loads(ws.tfvars_file.read_text())["number_of_nodes"] == 5


def test_a_failed_init_of_a_new_testbed_leaves_nothing(tf: Path) -> None:
    fail(tf, "init")
    with pytest.raises(TerraformError):
        deployment.plan(target(), str(tf), SilentReporter())
    assert not Workspace.named("tb").path.exists()


@pytest.mark.parametrize("step", ["init", "plan"])
def test_a_deploy_that_fails_before_apply_leaves_the_old_records(tf: Path, step: str) -> None:
    deployment.plan(target(), str(tf), SilentReporter())
    ws = Workspace.named("tb")
    before = records(ws)
    fail(tf, step)
    with pytest.raises(TerraformError):
        deployment.deploy(
            target(overrides=("number_of_nodes=5",)),
            str(tf),
            SilentReporter(),
            skip_check=True,
            retry_delays=(),
            destroy_on_failure=True,  # nothing was created: nothing to destroy either
        )
    assert records(ws) == before


def test_a_new_testbed_whose_first_plan_fails_leaves_nothing(tf: Path) -> None:
    fail(tf, "plan")
    with pytest.raises(TerraformError):
        deployment.deploy(target(), str(tf), SilentReporter(), skip_check=True, retry_delays=())
    assert not Workspace.named("tb").path.exists()


# --------------------------------------------------------------------------- class 4


def test_deploy_records_deploying_only_once_apply_begins(tf: Path) -> None:
    deployment.plan(target(), str(tf), SilentReporter())
    ws = Workspace.named("tb")
    fail(tf, "plan")  # e.g. the cloud does not answer the plan's reads
    with pytest.raises(TerraformError):
        deployment.deploy(target(), str(tf), SilentReporter(), skip_check=True, retry_delays=())
    assert meta(ws)["state"] == "new"
    fail(tf, "plan", on=False)
    fail(tf, "apply")
    (tf.parent / "begin").touch()
    with pytest.raises(TerraformError):
        deployment.deploy(target(), str(tf), SilentReporter(), skip_check=True, retry_delays=())
    assert meta(ws)["state"] == "failed"
    fail(tf, "apply", on=False)
    outputs = deployment.deploy(target(), str(tf), SilentReporter(), skip_check=True)
    assert outputs["manager_address"] == "203.0.113.7"
    assert meta(ws)["state"] == "deployed"
    assert stat.S_IMODE(ws.state_file.stat().st_mode) == 0o600  # Terraform ran with umask 077


def deployed(tf: Path) -> Workspace:
    deployment.deploy(target(), str(tf), SilentReporter(), skip_check=True)
    return Workspace.named("tb")


def test_destroy_with_an_unreachable_cloud_changes_nothing(
    tf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = deployed(tf)
    before = records(ws)

    def unreachable(cloud: str) -> None:
        raise InputError(f"cloud {cloud!r}: cannot reach its identity service")

    monkeypatch.setattr("scs_testbed.cloud.connect", unreachable)
    for _ in range(2):  # and the second attempt does not switch on force-cleanup by itself
        with pytest.raises(InputError, match="cannot reach"):
            teardown.destroy(ws, str(tf), SilentReporter(), retry_delays=())
        assert records(ws) == before
    assert meta(ws)["state"] == "deployed"


def test_destroy_records_destroying_only_once_terraform_began(
    tf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = deployed(tf)
    monkeypatch.setattr("scs_testbed.cloud.connect", lambda cloud: object())
    monkeypatch.setattr("scs_testbed.discover.find_resources", lambda conn, prefix: [])
    fail(tf, "apply")
    with pytest.raises(TerraformError):
        teardown.destroy(ws, str(tf), SilentReporter(), retry_delays=())
    assert meta(ws)["state"] == "deployed"  # refused before deleting anything
    (tf.parent / "begin").touch()
    with pytest.raises(TerraformError):
        teardown.destroy(ws, str(tf), SilentReporter(), retry_delays=())
    assert meta(ws)["state"] == "destroy-failed"
    fail(tf, "apply", on=False)
    teardown.destroy(ws, str(tf), SilentReporter(), retry_delays=())
    assert not ws.path.exists()


def test_a_deploy_that_fails_once_apply_began_is_destroyed_when_asked(
    tf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEPLOY's teardown: --destroy-on-failure destroys what a failed apply may have created;
    the apply's error is what the caller gets."""
    monkeypatch.setattr("scs_testbed.cloud.connect", lambda cloud: object())
    monkeypatch.setattr("scs_testbed.discover.find_resources", lambda conn, prefix: [])
    steps: list[str] = []

    class Steps(SilentReporter):
        def step(self, message: str) -> None:
            steps.append(message)

    fail(tf, "apply")
    (tf.parent / "begin").touch()
    with pytest.raises(TerraformError, match="terraform apply failed"):
        deployment.deploy(
            target(), str(tf), Steps(), skip_check=True, retry_delays=(), destroy_on_failure=True
        )
    assert "deploy failed: destroying what was created (--destroy-on-failure)" in steps
    assert not Workspace.named("tb").path.exists()
