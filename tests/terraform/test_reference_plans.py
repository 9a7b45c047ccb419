"""Files in the reference's conventions plan what their comments ask for.

Each corpus file (tests/unit/reference_corpus/good/) is loaded as scs-testbed loads it, its
merged values go to the real module as the workspace hands them over (a .tfvars.json), and
the plan, with the provider mocked and its schema real, is checked resource by resource:
`# override:nodes_boot_from_volume` gives node servers that boot from an image-backed
volume, `# override:neutron_router_enable_snat` a router that sends enable_snat, and so on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scs_testbed.environment import Catalog, load_environment
from scs_testbed.resources import builtin_env_dir
from scs_testbed.validation import validate_environments
from tests import tiers
from tests.terraform.conftest import RunTerraform
from tests.terraform.test_module import PUBLIC_KEY

CORPUS = tiers.REPO / "tests" / "unit" / "reference_corpus" / "good"

MOCK = """
mock_provider "openstack" {
  mock_data "openstack_networking_network_v2" {
    defaults = { id = "00000000-0000-0000-0000-0000000000aa" }
  }
  mock_data "openstack_images_image_v2" {
    defaults = { id = "00000000-0000-0000-0000-0000000000bb" }
  }
}
"""

NODES_FROM_VOLUME = """
  assert {
    condition = alltrue([for n in openstack_compute_instance_v2.node :
      length(n.block_device) == 1 && n.block_device[0].source_type == "image" &&
      n.block_device[0].destination_type == "volume" && n.block_device[0].boot_index == 0 &&
      n.block_device[0].uuid == "00000000-0000-0000-0000-0000000000bb" &&
      n.block_device[0].volume_size == var.volume_size_base])
    error_message = "every node boots from a volume made from the node image"
  }
"""
ROUTER_SNAT = """
  assert {
    condition     = openstack_networking_router_v2.router.enable_snat == true
    error_message = "the router sends enable_snat = true"
  }
"""

# What each corpus file must plan (assert blocks of a `terraform test` run).
CASES = {
    "volumes": NODES_FROM_VOLUME
    + """
  assert {
    condition     = length(openstack_compute_instance_v2.node) == 6
    error_message = "six nodes: the reference's default for its files"
  }
  assert {
    condition = (length(openstack_compute_instance_v2.manager.block_device) == 1 &&
      openstack_compute_instance_v2.manager.block_device[0].destination_type == "volume")
    error_message = "the manager boots from a volume"
  }
  assert {
    condition = (toset(openstack_networking_network_v2.management.availability_zone_hints) == toset(["zone-n"]) &&
      toset(openstack_networking_router_v2.router.availability_zone_hints) == toset(["zone-n"]))
    error_message = "AZ hint zone-n on network and router"
  }
""",
    "image-snat": ROUTER_SNAT
    + """
  assert {
    condition = alltrue([for n in openstack_compute_instance_v2.node :
      length(n.block_device) == 0 && n.image_id == "00000000-0000-0000-0000-0000000000bb"])
    error_message = "nodes boot from the image"
  }
  assert {
    condition     = length(openstack_compute_instance_v2.manager.block_device) == 0
    error_message = "the manager boots from the image"
  }
  assert {
    condition     = length(openstack_blockstorage_volume_v3.data) == 0
    error_message = "number_of_volumes = 0: no data volumes"
  }
""",
    "api": NODES_FROM_VOLUME
    + ROUTER_SNAT
    + """
  assert {
    condition     = length(openstack_compute_instance_v2.node) == 4
    error_message = "number_of_nodes from the file"
  }
  assert {
    condition = (length([for k, r in openstack_networking_secgroup_rule_v2.rule : k if startswith(k, "api/")]) == 16 &&
      toset([for r in local.security_rules : r.port_min if r.group == "api" && r.protocol == "tcp" && r.cidr == "0.0.0.0/0"]) == toset(
      [80, 443, 5000, 5050, 6080, 6385, 6780, 8774, 8776, 8780, 9001, 9292, 9311, 9511, 9696, 9876]))
    error_message = "the reference's 16 external API ports, tcp from anywhere"
  }
  assert {
    # the ports' group ids come from the mock provider, so the module's choice is checked
    condition     = contains(local.groups_of.manager, "api") && !contains(local.groups_of.node, "api")
    error_message = "the API group on the manager's port only"
  }
  assert {
    condition     = strcontains(openstack_compute_instance_v2.manager.user_data, "export EXTERNAL_API=true")
    error_message = "EXTERNAL_API=true for the reference's external-api script"
  }
""",
    "zuul": """
  assert {
    condition     = strcontains(openstack_compute_instance_v2.manager.user_data, "export ARA=false")
    error_message = "is_zuul = true turns ARA off"
  }
""",
    "stack": """
  assert {
    condition     = strcontains(openstack_compute_instance_v2.manager.user_data, "export ARA=true")
    error_message = "ARA stays on"
  }
  assert {
    condition     = !contains(keys(openstack_networking_secgroup_v2.group), "api")
    error_message = "no API group without external_api"
  }
""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_file_plans_what_its_comments_ask_for(
    name: str, module_copy: Path, run_terraform: RunTerraform, tmp_path: Path
) -> None:
    env = load_environment(name, Catalog(CORPUS, builtin_env_dir()))
    values = {**env.values, "public_key": PUBLIC_KEY}
    variables = tmp_path / "testbed.tfvars.json"
    variables.write_text(json.dumps(values))
    suite = module_copy / f"tests-reference-{name}"
    suite.mkdir(exist_ok=True)
    (suite / "plan.tftest.hcl").write_text(
        MOCK + 'run "plan" {\n  command = apply\n' + CASES[name] + "}\n"
    )
    done = run_terraform(
        "test",
        "-no-color",
        f"-test-directory={suite.name}",
        f"-var-file={variables}",
        cwd=module_copy,
        check=False,
    )
    assert done.returncode == 0 and "1 passed, 0 failed" in done.stdout, done.stdout + done.stderr


def test_validation_hands_derived_values_and_overrides_to_terraform(
    tmp_path: Path, cli_kind: str
) -> None:
    """A file with a problem of its own: -o still reaches Terraform, and a reference file's
    missing cloud_provider is the environment's name, not a problem."""
    binary = tiers.terraform_clis()[cli_kind]
    assert binary
    (tmp_path / "typo.tfvars").write_text('flavour_node = "x"\n')
    (tmp_path / "ci.tfvars").write_text((CORPUS / "zuul.tfvars").read_text())
    catalog = Catalog(tmp_path, builtin_env_dir())
    typo, ci = validate_environments(["typo", "ci"], catalog, ["number_of_nodes=2"], binary)
    assert typo.judged_by_terraform and ci.judged_by_terraform
    assert not any("cloud_provider" in p for p in typo.problems + ci.problems)
    assert "-o number_of_nodes: number_of_nodes must be" in " ".join(typo.problems)
    assert any("did you mean flavor_node" in p for p in typo.problems), typo.problems
    assert ci.problems == [f"-o number_of_nodes: {p.split(': ', 1)[1]}" for p in ci.problems]
    (ok,) = validate_environments(["ci"], catalog, [], binary)
    assert ok.ok and ok.warnings
