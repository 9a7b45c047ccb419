"""The module, judged by the real Terraform CLI with the real terraform-provider-openstack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests import tiers
from tests.terraform.conftest import RunTerraform

ENVIRONMENTS = sorted(p.stem for p in (tiers.REPO / "environments").glob("*.tfvars"))
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3RrZXl0ZXN0a2V5dGVzdGtleXRlc3RrZXk test"


def test_fmt_is_clean(run_terraform: RunTerraform) -> None:
    done = run_terraform(
        "fmt", "-check", "-recursive", "-diff", cwd=tiers.REPO / "terraform", check=False
    )
    assert done.returncode == 0, f"terraform fmt would change:\n{done.stdout}"


def test_validate_with_real_provider_schema(
    run_terraform: RunTerraform, module_copy: Path, cli_kind: str
) -> None:
    done = run_terraform("validate", "-json", cwd=module_copy, check=False)
    result = json.loads(done.stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
    lock = (module_copy / ".terraform.lock.hcl").read_text()
    # each tool names the provider by its own registry host; the mirror serves both
    host = {"opentofu": "registry.opentofu.org", "terraform": "registry.terraform.io"}[cli_kind]
    assert f'provider "{host}/terraform-provider-openstack/openstack"' in lock


def test_provider_schema_knows_every_resource_type(
    run_terraform: RunTerraform, module_copy: Path
) -> None:
    schema = json.loads(run_terraform("providers", "schema", "-json", cwd=module_copy).stdout)
    known = next(iter(schema["provider_schemas"].values()))["resource_schemas"]
    used = set()
    for tf in module_copy.glob("*.tf"):
        for line in tf.read_text().splitlines():
            if line.startswith('resource "'):
                used.add(line.split('"')[1])
    assert used, "no resources found in the module"
    assert used <= set(known), used - set(known)


PLAN_TEST = """
mock_provider "openstack" {
  mock_data "openstack_networking_network_v2" {
    defaults = { id = "00000000-0000-0000-0000-0000000000aa" }
  }
  mock_data "openstack_images_image_v2" {
    defaults = { id = "00000000-0000-0000-0000-0000000000bb" }
  }
}

# apply with the mock provider (not plan): the manager's user_data carries the floating IP's
# address (MANAGER_PUBLIC_IP_ADDRESS), which Terraform only knows after an apply.
run "plan" {
  command = apply

  assert {
    condition     = length(openstack_compute_instance_v2.node) == var.number_of_nodes
    error_message = "one server per node"
  }
  assert {
    condition     = openstack_compute_instance_v2.manager.flavor_name == var.flavor_manager
    error_message = "manager flavor from the environment"
  }
  assert {
    condition     = alltrue([for n in openstack_compute_instance_v2.node : n.flavor_name == var.flavor_node])
    error_message = "node flavor from the environment"
  }
  assert {
    condition     = length(openstack_blockstorage_volume_v3.data) == (var.number_of_nodes <= 3 ? var.number_of_nodes : var.number_of_nodes - 3) * var.number_of_volumes
    error_message = "number_of_volumes data volumes per node; only nodes 3..N-1 with more than 3 nodes"
  }
  assert {
    condition     = length(openstack_compute_volume_attach_v2.data) == length(openstack_blockstorage_volume_v3.data)
    error_message = "every data volume attached"
  }
  assert {
    condition     = openstack_networking_port_v2.manager.fixed_ip[0].ip_address == cidrhost(var.management_cidr, 5)
    error_message = "manager at .5"
  }
  assert {
    condition     = [for p in openstack_networking_port_v2.node : p.fixed_ip[0].ip_address] == [for i in range(var.number_of_nodes) : cidrhost(var.management_cidr, 10 + i)]
    error_message = "node-N at .10+N"
  }
  assert {
    condition     = var.router_enable_snat == null || openstack_networking_router_v2.router.enable_snat == var.router_enable_snat
    error_message = "router_enable_snat passed through"
  }
  assert {
    condition     = var.network_availability_zone == null || openstack_networking_network_v2.management.availability_zone_hints == toset([var.network_availability_zone])
    error_message = "network AZ hint passed through"
  }
  assert {
    condition     = length(openstack_compute_instance_v2.manager.block_device) == (var.manager_boot_from_volume ? 1 : 0)
    error_message = "manager boots from volume exactly when asked"
  }
  assert {
    condition     = alltrue([for n in openstack_compute_instance_v2.node : length(n.block_device) == (var.node_boot_from_volume ? 1 : 0)])
    error_message = "nodes boot from volume exactly when asked"
  }
  assert {
    condition     = alltrue([for k, v in openstack_networking_secgroup_v2.group : startswith(v.name, "${var.prefix}-")]) && startswith(openstack_networking_network_v2.management.name, "${var.prefix}-")
    error_message = "every name carries the prefix"
  }
  assert {
    condition     = length(openstack_networking_secgroup_rule_v2.rule) == %(rules)d
    error_message = "security rules as in security_groups.json"
  }
  assert {
    condition     = strcontains(openstack_compute_instance_v2.manager.user_data, var.public_key) && !strcontains(openstack_compute_instance_v2.manager.user_data, "PRIVATE KEY")
    error_message = "user_data carries the public key and no private key"
  }
}
"""


def expected_rule_count(allowed_ssh_cidrs: int = 1, **switches: bool) -> int:
    data = json.loads((tiers.REPO / "terraform" / "security_groups.json").read_text())
    per_remote = {"ssh": allowed_ssh_cidrs, "management": 1, "any": 1}
    groups = [g for g in data["groups"].values() if switches.get(g.get("when"), "when" not in g)]
    return sum(per_remote[r["remote"]] for g in groups for r in g["rules"])


@pytest.fixture(scope="module")
def plan_suite(module_copy: Path) -> Path:
    tests_dir = module_copy / "tests"
    tests_dir.mkdir(exist_ok=True)
    (tests_dir / "plan.tftest.hcl").write_text(PLAN_TEST % {"rules": expected_rule_count()})
    return module_copy


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_plan_of_each_environment(
    name: str, plan_suite: Path, run_terraform: RunTerraform, tmp_path: Path
) -> None:
    """A full plan of the module per environment, the provider mocked (its schema real)."""
    extra = tmp_path / "key.tfvars"
    extra.write_text(f'public_key = "{PUBLIC_KEY}"\n')
    env_file = tiers.REPO / "environments" / f"{name}.tfvars"
    done = run_terraform(
        "test",
        "-no-color",
        f"-var-file={env_file}",
        f"-var-file={extra}",
        cwd=plan_suite,
        check=False,
    )
    assert done.returncode == 0 and "1 passed, 0 failed" in done.stdout, done.stdout + done.stderr


def test_plan_with_ten_nodes_and_no_volumes(
    plan_suite: Path, run_terraform: RunTerraform, tmp_path: Path
) -> None:
    extra = tmp_path / "x.tfvars"
    extra.write_text(
        f'public_key = "{PUBLIC_KEY}"\ncloud_provider = "x"\nnumber_of_nodes = 10\n'
        "number_of_volumes = 0\nport_security_enabled = false\n"
    )
    done = run_terraform("test", "-no-color", f"-var-file={extra}", cwd=plan_suite, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_public_key_is_refused(
    plan_suite: Path, run_terraform: RunTerraform, tmp_path: Path
) -> None:
    """Without a public key the provider would generate a private key into the state."""
    extra = tmp_path / "x.tfvars"
    extra.write_text('cloud_provider = "x"\n')
    done = run_terraform("test", "-no-color", f"-var-file={extra}", cwd=plan_suite, check=False)
    assert done.returncode != 0
    assert "public_key is required" in done.stdout + done.stderr


def test_user_data_templates_render(run_terraform: RunTerraform, tmp_path: Path) -> None:
    """Both bootstrap templates render with templatefile() as the module calls them."""
    shutil.copytree(tiers.REPO / "bootstrap", tmp_path / "bootstrap")
    compute = (tiers.REPO / "terraform" / "compute.tf").read_text()
    assert compute.count("templatefile(") == 2
    # Render through the real module: the planned user_data is the rendered template.
    module = tmp_path / "terraform"
    shutil.copytree(tiers.REPO / "terraform", module)
    (module / "tests").mkdir()
    (module / "tests" / "render.tftest.hcl").write_text(
        'mock_provider "openstack" {}\n'
        'run "render" {\n  command = apply\n'
        "  assert {\n"
        '    condition     = startswith(openstack_compute_instance_v2.manager.user_data, "#cloud-config")\n'
        '    error_message = "manager user_data is a cloud-config"\n  }\n'
        "  assert {\n"
        '    condition     = alltrue([for n in openstack_compute_instance_v2.node : startswith(n.user_data, "#cloud-config")])\n'
        '    error_message = "node user_data is a cloud-config"\n  }\n}\n'
    )
    run_terraform("init", "-input=false", "-backend=false", cwd=module)
    extra = tmp_path / "x.tfvars"
    extra.write_text(f'public_key = "{PUBLIC_KEY}"\ncloud_provider = "x"\n')
    done = run_terraform("test", "-no-color", f"-var-file={extra}", cwd=module, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
