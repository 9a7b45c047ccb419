"""What a testbed needs from its cloud, computed from the environment and the flavors' sizes.

The security groups and rules are counted from the same data file Terraform reads
(terraform/security_groups.json), so the preflight counts exactly what will be created.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from scs_testbed.resources import module_dir

# Neutron adds two egress rules (IPv4 + IPv6) to every new security group; they count.
DEFAULT_EGRESS_RULES = 2
# Besides one port per VM: the router's interface and the subnet's DHCP port.
EXTRA_PORTS = 2


@dataclass(frozen=True)
class FlavorSize:
    name: str
    vcpus: int
    ram_mib: int
    disk_gb: int


@dataclass(frozen=True)
class Requirements:
    """Counts per quota item. RAM in MiB, storage in GB (as the quota APIs count them)."""

    instances: int
    cores: int
    ram_mib: int
    volumes: int
    gigabytes: int
    networks: int
    subnets: int
    routers: int
    ports: int
    floating_ips: int
    security_groups: int
    security_group_rules: int
    keypairs: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@cache
def security_data() -> dict[str, Any]:
    """The security groups data file shared with the Terraform module."""
    return dict(json.loads((module_dir() / "security_groups.json").read_text(encoding="utf-8")))


def security_groups(switches: Mapping[str, Any]) -> dict[str, Any]:
    """The groups the module creates: one with `when` only while that variable is true."""
    return {
        name: group
        for name, group in security_data()["groups"].items()
        if "when" not in group or bool(switches.get(group["when"]))
    }


def count_security(
    allowed_ssh_cidrs: int, switches: Mapping[str, Any] | None = None
) -> tuple[int, int]:
    """(groups, rules) that the module creates, default egress rules included."""
    per_remote = {"ssh": allowed_ssh_cidrs, "management": 1, "any": 1}
    groups = security_groups(switches or {})
    rules = sum(per_remote[rule["remote"]] for g in groups.values() for rule in g["rules"])
    return len(groups), rules + DEFAULT_EGRESS_RULES * len(groups)


def compute_requirements(
    values: dict[str, Any], manager: FlavorSize, node: FlavorSize
) -> Requirements:
    """Requirements of one testbed from its merged variables and the two flavors."""
    nodes = int(values["number_of_nodes"])
    # data volumes as the module places them (locals.tf): all nodes of a 3-node testbed,
    # otherwise only the resource nodes 3..N-1
    nodes_with_volumes = nodes if nodes <= 3 else nodes - 3
    per_node_volumes = int(values["number_of_volumes"])
    storage = int(values["volume_size_storage"])
    base = int(values["volume_size_base"])
    manager_bfv = bool(values.get("manager_boot_from_volume"))
    node_bfv = bool(values.get("node_boot_from_volume"))
    boot_volumes = (1 if manager_bfv else 0) + (nodes if node_bfv else 0)
    groups, rules = count_security(len(values.get("allowed_ssh_cidrs") or []), values)
    return Requirements(
        instances=1 + nodes,
        cores=manager.vcpus + nodes * node.vcpus,
        ram_mib=manager.ram_mib + nodes * node.ram_mib,
        volumes=nodes_with_volumes * per_node_volumes + boot_volumes,
        gigabytes=nodes_with_volumes * per_node_volumes * storage + boot_volumes * base,
        networks=1,
        subnets=1,
        routers=1,
        ports=1 + nodes + EXTRA_PORTS,
        floating_ips=1,
        security_groups=groups,
        security_group_rules=rules,
        keypairs=1,
    )
