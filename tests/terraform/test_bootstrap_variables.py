"""The variables the reference's configuration depends on, judged by Terraform itself.

number_of_nodes 3..10 and the fixed management CIDR are plain validation blocks (a
variables-only plan, as scs-testbed's own validation runs it); the pair manager_version /
ceph_version / openstack_version is a precondition of the manager against versions.json (a
copy of osism/release's file names), so it is checked with the whole module and the mock
provider. Assertions hold under OpenTofu and Terraform alike.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from scs_testbed.resources import module_dir
from tests import tiers
from tests.terraform.conftest import RunTerraform
from tests.terraform.test_module import PUBLIC_KEY


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory: pytest.TempPathFactory, run_terraform: RunTerraform) -> Path:
    scratch = tmp_path_factory.mktemp("variables")
    shutil.copy(module_dir() / "variables.tf", scratch / "variables.tf")
    run_terraform("init", "-input=false", "-backend=false", cwd=scratch)
    return scratch


def judge(run_terraform: RunTerraform, scratch: Path, tmp_path: Path, text: str) -> str:
    """'' when the variables are valid, else Terraform's messages on one line."""
    tfvars = tmp_path / "x.tfvars"
    tfvars.write_text(f'cloud_provider = "x"\n{text}\n')
    done = run_terraform(
        "plan", "-input=false", "-no-color", f"-var-file={tfvars}", cwd=scratch, check=False
    )
    return "" if done.returncode == 0 else " ".join((done.stdout + done.stderr).split())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("number_of_nodes = 3", ""),
        ("number_of_nodes = 10", ""),
        ("number_of_nodes = 2", "node-0..2 the control nodes"),
        ("number_of_nodes = 11", "host_vars for node-0..node-9 only"),
        ('management_cidr = "192.168.16.0/20"', ""),
        ('management_cidr = "10.0.0.0/16"', "hard-codes the manager (192.168.16.5)"),
        ('openstack_version = "2023.1"', "openstack_version must be one of"),
        ('ceph_version = "pacific"', "ceph_version must be one of quincy, reef, squid"),
        ('manager_version = "6.0.0"', "manager_version must be latest or a release"),
        ('manager_version = "10.2.0"', ""),
    ],
)
def test_variables_the_configuration_depends_on(
    variables_only: Path, run_terraform: RunTerraform, tmp_path: Path, text: str, message: str
) -> None:
    verdict = judge(run_terraform, variables_only, tmp_path, text)
    if message:
        assert message in verdict, verdict
    else:
        assert verdict == ""


def test_defaults_exist_in_osism_release() -> None:
    releases = json.loads((module_dir() / "versions.json").read_text())["releases"]
    text = (module_dir() / "variables.tf").read_text()
    defaults = {
        name: re.search(rf'variable "{name}" {{.*?default\s+=\s+"([^"]+)"', text, re.S)[1]  # type: ignore[index]
        for name in ("manager_version", "ceph_version", "openstack_version")
    }
    assert defaults == {
        "manager_version": "latest",
        "ceph_version": "reef",
        "openstack_version": "2024.2",
    }
    assert defaults["ceph_version"] in releases["latest"]["ceph"]
    assert defaults["openstack_version"] in releases["latest"]["openstack"]
    # every manager_version the validation accepts has a row in versions.json
    block = re.search(r'variable "manager_version" \{.*?contains\(\[(.*?)\]', text, re.S)
    assert block
    assert set(re.findall(r'"([^"]+)"', block[1])) == set(releases)


@pytest.fixture(scope="module")
def pair_suite(tmp_path_factory: pytest.TempPathFactory, run_terraform: RunTerraform) -> Path:
    """Its own copy of the module: the shared one's tests/ directory belongs to test_module."""
    base = tmp_path_factory.mktemp("pair")
    shutil.copytree(tiers.REPO / "terraform", base / "terraform")
    shutil.copytree(tiers.REPO / "bootstrap", base / "bootstrap")
    module = base / "terraform"
    (module / "tests").mkdir()
    (module / "tests" / "pair.tftest.hcl").write_text(
        'mock_provider "openstack" {}\nrun "pair" {\n  command = plan\n}\n'
    )
    run_terraform("init", "-input=false", "-backend=false", cwd=module)
    return module


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ({"manager_version": "latest", "ceph_version": "reef", "openstack_version": "2024.2"}, ""),
        ({"manager_version": "latest", "ceph_version": "squid", "openstack_version": "2025.1"}, ""),
        (
            {"manager_version": "latest", "ceph_version": "reef", "openstack_version": "2023.2"},
            "openstack_version 2023.2 does not exist for manager_version latest",
        ),
        ({"manager_version": "9.0.0", "ceph_version": "reef", "openstack_version": "2024.2"}, ""),
        (
            {"manager_version": "8.0.0", "ceph_version": "reef", "openstack_version": "2024.1"},
            "ceph_version reef does not exist for manager_version 8.0.0",
        ),
    ],
)
def test_version_pair_exists_in_osism_release(
    pair_suite: Path, run_terraform: RunTerraform, tmp_path: Path, versions: dict, message: str
) -> None:
    extra = tmp_path / "x.tfvars"
    lines = [f'public_key = "{PUBLIC_KEY}"', 'cloud_provider = "x"']
    lines += [f'{key} = "{value}"' for key, value in versions.items()]
    extra.write_text("\n".join(lines) + "\n")
    done = run_terraform("test", "-no-color", f"-var-file={extra}", cwd=pair_suite, check=False)
    out = " ".join((done.stdout + done.stderr).split())
    if message:
        assert done.returncode != 0 and message in out, out
    else:
        assert done.returncode == 0, out
