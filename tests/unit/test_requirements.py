"""Requirements and preflight rows: pure computations, golden figures from the SCS material."""

from __future__ import annotations

import json

from scs_testbed.environment import Catalog, load_environment
from scs_testbed.preflight import Quota, quota_row
from scs_testbed.requirements import FlavorSize, compute_requirements, count_security
from scs_testbed.resources import builtin_env_dir, module_dir

MANAGER = FlavorSize("SCS-4V-16", 4, 16384, 0)
NODE = FlavorSize("SCS-8V-32", 8, 32768, 0)


def values(name: str, *overrides: str) -> dict:
    return load_environment(name, Catalog(None, builtin_env_dir()), overrides).values


def test_default_testbed_matches_the_scs_figures() -> None:
    req = compute_requirements(values("local"), MANAGER, NODE)
    assert (req.instances, req.cores, req.ram_mib) == (4, 28, 112 * 1024)
    assert (req.volumes, req.gigabytes) == (9, 180)
    assert (req.networks, req.subnets, req.routers, req.floating_ips, req.keypairs) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert req.ports == 4 + 2  # one per VM, router interface, DHCP


def test_boot_volumes_and_local_disks() -> None:
    otc = compute_requirements(values("otc"), MANAGER, NODE)  # boot from volume, no data disks
    assert (otc.volumes, otc.gigabytes) == (4, 4 * 80)
    ten = compute_requirements(values("local", "number_of_nodes=10"), MANAGER, NODE)
    # data volumes only on the resource nodes 3..9, as in the reference
    assert (ten.instances, ten.cores, ten.volumes) == (11, 84, 21)
    five = compute_requirements(values("local", "number_of_nodes=5"), MANAGER, NODE)
    assert (five.volumes, five.gigabytes) == (2 * 3, 2 * 3 * 20)


def test_security_counts_follow_the_data_file() -> None:
    data = json.loads((module_dir() / "security_groups.json").read_text())
    always = {n: g for n, g in data["groups"].items() if "when" not in g}
    rules = sum(len(g["rules"]) for g in always.values())
    groups, counted = count_security(allowed_ssh_cidrs=1)
    assert groups == len(always)
    assert counted == rules + 2 * groups
    ssh_rules = sum(r["remote"] == "ssh" for g in always.values() for r in g["rules"])
    assert count_security(3)[1] == counted + 2 * ssh_rules


def test_external_api_adds_its_group_and_rules() -> None:
    """The reference's external_api customisation: 16 API ports on the manager."""
    data = json.loads((module_dir() / "security_groups.json").read_text())
    api = data["groups"]["api"]
    assert api["when"] == "external_api" and api["applies_to"] == ["manager"]
    ports = sorted(r["port"] for r in api["rules"])
    # osism/terraform-base a4e86b2a testbed-default/customisations/external_api_custom.tf
    assert ports == [
        *(80, 443, 5000, 5050, 6080, 6385, 6780, 8774),
        *(8776, 8780, 9001, 9292, 9311, 9511, 9696, 9876),
    ]
    groups, rules = count_security(1)
    assert count_security(1, {"external_api": True}) == (groups + 1, rules + 16 + 2)
    on = compute_requirements(values("local", "external_api=true"), MANAGER, NODE)
    off = compute_requirements(values("local"), MANAGER, NODE)
    assert on.security_group_rules == off.security_group_rules + 18


def test_shortfall_message_reads_like_a_sentence() -> None:
    row = quota_row("RAM", "GiB", 104 * 1024, Quota(limit=100 * 1024, used=50 * 1024))
    assert not row.ok
    assert row.message == "RAM: need 104 GiB, 50 GiB free (quota 100, used 50)"


def test_unlimited_quota_is_ok() -> None:
    row = quota_row("instances", "", 4, Quota(limit=-1, used=99))
    assert row.ok and row.free == "unlimited"
