"""The reference's conventions for environment files, read as they are and said in our terms.

Why over 400 lines: most of it is data — the reference's 14 comments and 30 variables, each
with its meaning here and its source — read by one small parser; splitting the tables from
the code that reads them would only scatter one concern.

The environment files of the SCS/OSISM testbed (osism/testbed `terraform/environments/`)
rely on three things besides their variables:

- comment lines `# override:NAME` and `# customisation:NAME` that the reference's Makefile
  turns into Terraform override and customisation files of osism/terraform-base;
- no `cloud_provider`: the Makefile adds it (the environment's name unless told otherwise);
- variables of the reference's module that ours lacks (`is_zuul`, `ceph_stack`, `keypair`)
  or names that mean something else here (`deploy_mode`).

This module says what each of them means in scs-testbed: values of our plain variables, with
the comment or rule as their source, or a refusal with file:line and what to use instead.
Nothing is ignored silently. It reads text and values only; environment.py merges the result.

Facts (names, values, line numbers) come from the reference at these commits:
  osism/testbed         a8a90ccb98a4e7e1b0782736210b4aab45d53ac2 (2026-07-24)
  osism/terraform-base  a4e86b2a41ad8496509949c55792872c45508d2e (2026-07-01)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TESTBED = "osism/testbed a8a90ccb"
TERRAFORM_BASE = "osism/terraform-base a4e86b2a"

# osism/testbed terraform/Makefile:88 and :93 (init): grep '^# *customisation:' (and
# '^# *override:') over the whole file, strip that prefix, split the rest into words.
_DIRECTIVE = re.compile(r"^# *(override|customisation):(.*)$")
# What a person may have meant as one, but the Makefile does not read: other case, American
# spelling, blanks before `#`, `//` comments.
_NEAR_MISS = re.compile(r"^\s*(#+|//)\s*(overrides?|customi[sz]ations?)\s*:", re.IGNORECASE)

BUILTIN = "built in"  # what `meaning` says of a variant that scs-testbed always has


@dataclass(frozen=True)
class Variant:
    """One override or customisation of osism/terraform-base and what it means here."""

    kind: str  # "override" | "customisation"
    name: str
    file: str  # where it lives in osism/terraform-base testbed-default/
    meaning: str  # said in scs-testbed's terms
    sets: Mapping[str, Any] = field(default_factory=dict)  # our variables and their values
    exclusive: str | None = None  # what it chooses; one variant per choice
    refused: str | None = None  # why it has no equivalent here, and what to use instead


def _override(name: str, meaning: str, **kwargs: Any) -> Variant:
    return Variant("override", name, f"overrides/{name}_override.tf", meaning, **kwargs)


def _customisation(name: str, meaning: str, **kwargs: Any) -> Variant:
    return Variant("customisation", name, f"customisations/{name}_custom.tf", meaning, **kwargs)


# Every name osism/terraform-base has at a4e86b2a (testbed-default/overrides/ and
# testbed-default/customisations/): 8 overrides, 6 customisations.
VARIANTS: dict[tuple[str, str], Variant] = {
    (v.kind, v.name): v
    for v in (
        _override(
            "manager_boot_from_image",
            "manager_boot_from_volume = false (the manager boots from the image)",
            sets={"manager_boot_from_volume": False},
            exclusive="how the manager boots",
        ),
        _override(
            "manager_boot_from_volume",
            "manager_boot_from_volume = true (a boot volume of volume_size_base GB)",
            sets={"manager_boot_from_volume": True},
            exclusive="how the manager boots",
        ),
        _override(
            "nodes_boot_from_image",
            "node_boot_from_volume = false (the nodes boot from the image)",
            sets={"node_boot_from_volume": False},
            exclusive="how the nodes boot",
        ),
        _override(
            "nodes_boot_from_volume",
            "node_boot_from_volume = true (boot volumes of volume_size_base GB)",
            sets={"node_boot_from_volume": True},
            exclusive="how the nodes boot",
        ),
        _override(
            "nodes_use_ephemeral_storage",
            "nodes boot from the image with two blank local disks for Ceph",
            exclusive="how the nodes boot",
            refused="local ephemeral disks (boot from the image plus two blank local disks of "
            "volume_size_storage GB) have no equivalent here: nova accepts them only within "
            "the flavor's ephemeral size, which scs-testbed does not check; use "
            "`# override:nodes_boot_from_image` with data volumes (number_of_volumes), or a "
            "flavor with local disks and `number_of_volumes = 0` as the otc environment does",
        ),
        _override(
            "neutron_availability_zone_hints_network",
            "AZ hint network_availability_zone on the network (together with the router's)",
        ),
        _override(
            "neutron_availability_zone_hints_router",
            "AZ hint network_availability_zone on the router (together with the network's)",
        ),
        _override(
            "neutron_router_enable_snat",
            "router_enable_snat = true",
            sets={"router_enable_snat": True},
        ),
        _customisation(
            "access_floatingip",
            f"{BUILTIN}: the manager is reached through its floating IP",
        ),
        _customisation(
            "access_ipv4",
            "the manager is reached at its fixed IPv4 address",
            refused="reaching the manager at its fixed IPv4 address has no equivalent here: "
            "scs-testbed reaches the manager through its floating IP (ssh, watch, tunnel); "
            "use `# customisation:access_floatingip`",
        ),
        _customisation(
            "access_ipv6",
            "the manager is reached at its fixed IPv6 address",
            refused="reaching the manager at its IPv6 address has no equivalent here: "
            "scs-testbed reaches the manager through its floating IP (ssh, watch, tunnel); "
            "use `# customisation:access_floatingip`",
        ),
        _customisation(
            "default",
            f"{BUILTIN}: the node servers and their data volumes",
        ),
        _customisation(
            "external_api",
            "external_api = true (the OpenStack API ports open on the manager)",
            sets={"external_api": True},
        ),
        _customisation(
            "neutron_floatingip",
            f"{BUILTIN}: router, gateway and the manager's floating IP",
        ),
    )
}
HINTS = ("neutron_availability_zone_hints_network", "neutron_availability_zone_hints_router")
# Variables of the reference's module that are not ours but are read here (see below).
HANDLED = frozenset({"is_zuul", "ceph_stack", "keypair"})


@dataclass(frozen=True)
class ReferenceVariable:
    """A variable of osism/terraform-base's testbed-default/variables.tf and its fate here."""

    name: str
    line: int  # in testbed-default/variables.tf
    here: str  # "same" (a variable of ours with that meaning) or what happens to it


# All 30 variables of osism/terraform-base testbed-default/variables.tf at a4e86b2a. Most are
# ours with the same meaning; the rest are handled in `read_conventions` below.
REFERENCE_VARIABLES = tuple(
    ReferenceVariable(name, line, here)
    for name, line, here in (
        ("cloud_provider", 1, "same; when the file has none, the environment's name"),
        ("prefix", 5, "same"),
        ("keypair", 10, "refused: the key pair is always <prefix>-key"),
        ("image", 15, "same"),
        ("image_user", 20, "same"),
        ("image_node", 25, "same"),
        ("image_node_user", 30, "same"),
        ("volume_size_base", 35, "same"),
        ("volume_size_storage", 40, "same"),
        ("volume_type", 45, "same"),
        ("flavor_node", 50, "same"),
        ("flavor_manager", 55, "same"),
        ("availability_zone", 60, "same"),
        ("volume_availability_zone", 65, "same"),
        ("network_availability_zone", 70, "same with the two hint overrides, else null"),
        ("public", 75, "same"),
        ("ara", 80, "same"),
        ("tempest", 85, "same"),
        ("configuration_version", 90, "same"),
        ("ceph_version", 95, "same"),
        ("manager_version", 100, "same"),
        ("openstack_version", 105, "same"),
        ("number_of_nodes", 110, "same; the reference's default 6 for its files"),
        ("number_of_volumes", 115, "same"),
        ("enable_config_drive", 120, "same"),
        ("dns_nameservers", 125, "same"),
        ("is_zuul", 130, "accepted: true turns ARA off, as in the reference"),
        ("external_api", 135, "same (with the customisation's security group rules)"),
        ("ceph_stack", 140, "accepted when ceph-ansible (the only stack); else refused"),
        ("deploy_mode", 151, "refused in reference files: the name means something else here"),
    )
)

# The reference module's defaults where ours differ, for files in the reference's conventions
# (their authors relied on them): osism/terraform-base testbed-default/variables.tf:110-113
# (number_of_nodes 6 since 5ea048d, 2024-11-11); port security is never sent there
# (testbed-default/neutron.tf, manager.tf: no port_security_enabled).
REFERENCE_DEFAULTS: dict[str, tuple[Any, str]] = {
    "number_of_nodes": (
        6,
        f"reference default ({TERRAFORM_BASE} testbed-default/variables.tf:110)",
    ),
    "port_security_enabled": (
        None,
        f"reference default: not sent ({TERRAFORM_BASE} testbed-default/neutron.tf)",
    ),
}
# osism/testbed terraform/Makefile:6 `CLOUD ?= $(ENVIRONMENT)`, :36 `OS_CLOUD ?= $(CLOUD)`,
# :68 appends `cloud_provider = "$(OS_CLOUD)"` to the copy of the environment file.
NAME_SOURCE = (
    f"environment name (as the reference: CLOUD ?= $(ENVIRONMENT), {TESTBED} terraform/Makefile:6)"
)


@dataclass(frozen=True)
class Directive:
    """One name of a `# override:` or `# customisation:` line."""

    kind: str
    name: str
    line: int

    def __str__(self) -> str:
        return f"# {self.kind}:{self.name}"

    @property
    def variant(self) -> Variant | None:
        return VARIANTS.get((self.kind, self.name))


@dataclass(frozen=True)
class Derived:
    """A value of one of our variables that the reference's conventions give."""

    value: Any
    where: str  # shown as the value's source
    kind: str = "reference"  # "reference" | "name"


@dataclass(frozen=True)
class Translated:
    """A reference variable of the file that is not ours, accepted with this meaning."""

    line: int
    value: Any
    meaning: str


@dataclass
class Reading:
    """What the reference's conventions of one file mean here."""

    directives: list[Directive] = field(default_factory=list)
    defaults: dict[str, Derived] = field(default_factory=dict)  # below the file's values
    settings: dict[str, Derived] = field(default_factory=dict)  # above the file's values
    translated: dict[str, Translated] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def follows_reference(self) -> bool:
        """The file chooses Terraform variants the reference's way (it has directives)."""
        return bool(self.directives)

    def as_dict(self) -> dict[str, Any]:
        return {
            "follows_reference": self.follows_reference,
            "directives": [
                {
                    "line": d.line,
                    "directive": f"{d.kind}:{d.name}",
                    "meaning": d.variant.meaning if d.variant else None,
                }
                for d in self.directives
            ],
            "translated": {
                key: {"line": t.line, "value": t.value, "meaning": t.meaning}
                for key, t in self.translated.items()
            },
            "warnings": list(self.warnings),
        }


def find_directives(text: str, where: str) -> tuple[list[Directive], list[str]]:
    """The directives of a file as the reference's Makefile finds them, and near misses."""
    directives: list[Directive] = []
    near_misses: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _DIRECTIVE.match(line)
        if match:
            directives += [Directive(match[1], name, number) for name in match[2].split()]
        elif _NEAR_MISS.match(line):
            near_misses.append(
                f"{where}:{number}: `{line.strip()}` is not read as a reference directive: "
                "the reference's Makefile reads only lines that start with `# override:` or "
                "`# customisation:` (lower case, British spelling)"
            )
    return directives, near_misses


def _known(kind: str) -> list[str]:
    return sorted(name for k, name in VARIANTS if k == kind)


def _unknown_message(directive: Directive, where: str) -> str:
    kind, name = directive.kind, directive.name
    folder = "overrides" if kind == "override" else "customisations"
    message = (
        f"{where}:{directive.line}: {directive} is not a{'n' if kind == 'override' else ''} "
        f"{kind} of the reference ({TERRAFORM_BASE} testbed-default/{folder}/)"
    )
    other = "customisation" if kind == "override" else "override"
    if (other, name) in VARIANTS:
        message += f"; it is a{'n' if other == 'override' else ''} {other}: # {other}:{name}"
    else:
        guess = difflib.get_close_matches(name, _known(kind), n=1, cutoff=0.6)
        if guess:
            message += f"; did you mean # {kind}:{guess[0]}"
    return message + f". Known {kind}s: {', '.join(_known(kind))}"


def _normal(value: Any) -> Any:
    """A file's value as Terraform converts it, for comparing with a derived value."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def read_conventions(
    name: str,
    where: str,
    text: str,
    file_values: Mapping[str, Any],
    file_lines: Mapping[str, int],
) -> Reading:
    """What the reference's conventions in one environment file mean here.

    `name` is the environment's name, `where` the file as shown to the user, `text` its
    content, `file_values`/`file_lines` its variables as parsed.
    """
    reading = Reading()
    reading.directives, reading.warnings = find_directives(text, where)
    if "cloud_provider" not in file_values:
        reading.defaults["cloud_provider"] = Derived(name, NAME_SOURCE, kind="name")
    if reading.follows_reference:
        for key, (value, source) in REFERENCE_DEFAULTS.items():
            if key not in file_values:
                reading.defaults[key] = Derived(value, source)
    _read_directives(reading, where, file_values, file_lines)
    _read_reference_variables(reading, where, file_values, file_lines)
    return reading


def _read_directives(
    reading: Reading, where: str, file_values: Mapping[str, Any], file_lines: Mapping[str, int]
) -> None:
    chosen: dict[str, Directive] = {}
    for directive in reading.directives:
        variant = directive.variant
        if variant is None:
            reading.problems.append(_unknown_message(directive, where))
            continue
        if variant.refused:
            reading.problems.append(
                f"{where}:{directive.line}: {directive}: {variant.refused} "
                f"(reference: {TERRAFORM_BASE} testbed-default/{variant.file})"
            )
            continue
        if variant.exclusive:
            first = chosen.setdefault(variant.exclusive, directive)
            if first.name != directive.name:
                reading.problems.append(
                    f"{where}:{directive.line}: {directive} and {first} (line {first.line}) "
                    f"both choose {variant.exclusive}; keep one"
                )
                continue
        for key, value in variant.sets.items():
            source = f"{where}:{directive.line} ({directive})"
            if key in file_values and _normal(file_values[key]) != value:
                reading.problems.append(
                    f"{where}:{file_lines.get(key, '?')}: {key} = {_hcl(file_values[key])} "
                    f"contradicts {directive} (line {directive.line}), which means "
                    f"{key} = {_hcl(value)}; keep one"
                )
            reading.settings[key] = Derived(value, source)
    _read_hints(reading, where, file_values, file_lines)


def _read_hints(
    reading: Reading, where: str, file_values: Mapping[str, Any], file_lines: Mapping[str, int]
) -> None:
    """Our network_availability_zone hints network and router together, when non-null."""
    if not reading.follows_reference:
        return
    hints = {d.name: d for d in reading.directives if d.name in HINTS and d.kind == "override"}
    key = "network_availability_zone"
    if len(hints) == 1:
        (only,) = hints.values()
        missing = next(h for h in HINTS if h not in hints)
        reading.problems.append(
            f"{where}:{only.line}: {only} without # override:{missing}: here the AZ hint "
            f"({key}) goes to network and router together; add the other line, or remove "
            "this one for no hints"
        )
        return
    if hints:
        lines = "-".join(str(h.line) for h in sorted(hints.values(), key=lambda h: h.line))
        if key in file_values and file_values[key] is None:
            reading.problems.append(
                f"{where}:{file_lines.get(key, '?')}: {key} = null but the hint overrides "
                f"(lines {lines}) send it as an AZ hint; name the zone, or remove them"
            )
            return
        origin = f"{where}:{file_lines[key]}" if key in file_lines else "module default"
        value = file_values.get(key, "nova")  # "nova": the default here and in the reference
        reading.settings[key] = Derived(
            value, f"{origin}, hinted by # override:neutron_availability_zone_hints_* (l.{lines})"
        )
        return
    unused = f"{where}:{file_lines[key]} unused: " if key in file_lines else ""
    reading.settings[key] = Derived(
        None,
        f"{unused}no # override:neutron_availability_zone_hints_* (the reference sends no "
        "AZ hints then)",
    )


def _read_reference_variables(
    reading: Reading, where: str, file_values: Mapping[str, Any], file_lines: Mapping[str, int]
) -> None:
    """is_zuul, ceph_stack, keypair, and deploy_mode in a file of the reference's kind."""
    for key, value in file_values.items():
        at = f"{where}:{file_lines.get(key, '?')}"
        if key == "is_zuul":
            _read_is_zuul(reading, at, value, file_lines.get(key, 0), file_values)
        elif key == "ceph_stack":
            if value != "ceph-ansible":
                reading.problems.append(
                    f"{at}: ceph_stack = {_hcl(value)}: Ceph is deployed with ceph-ansible only "
                    f"(as in the reference, whose {TERRAFORM_BASE} testbed-default/"
                    'variables.tf:140-148 accepts only "ceph-ansible"); remove the line'
                )
            else:
                reading.translated[key] = Translated(
                    file_lines.get(key, 0),
                    value,
                    "the only Ceph stack, here as in the reference (CEPH_STACK=ceph-ansible)",
                )
        elif key == "keypair":
            reading.problems.append(
                f"{at}: keypair: the testbed's key pair is always named <prefix>-key and holds "
                "the testbed's own public key (no private key in the Terraform state); remove "
                "the line"
            )
        elif (
            key == "deploy_mode"
            and reading.follows_reference
            and value
            in (
                "manager",
                "baremetal",
            )
        ):
            reading.problems.append(
                f"{at}: deploy_mode = {_hcl(value)} is the reference's DEPLOY_MODE (manager or "
                f"baremetal, set by its Makefile, {TESTBED} terraform/Makefile:20); here "
                "deploy_mode says how far the bootstrap goes (manager, ceph, openstack, full; "
                "default full): remove the line, or give -o deploy_mode=..."
            )


def _read_is_zuul(
    reading: Reading, at: str, value: Any, line: int, file_values: Mapping[str, Any]
) -> None:
    # osism/testbed scripts/deploy-manager.sh:63 disables ARA when IS_ZUUL is true or ARA is
    # false; that script runs here too (bootstrap step deploy-manager). The other use of
    # IS_ZUUL (ansible/manager-part-3.yml:52-56, ARA's database on tmpfs) is part of a
    # playbook our bootstrap does not run. IS_ZUUL itself stays false: this is not Zuul.
    if not isinstance(_normal(value), bool):
        reading.problems.append(f"{at}: is_zuul: a bool (true or false) is required")
        return
    if _normal(value):
        if _normal(file_values.get("ara")) is not False:  # else its own line is the source
            reading.settings["ara"] = Derived(
                False, f"{at} (is_zuul = true: {TESTBED} scripts/deploy-manager.sh:63)"
            )
        meaning = (
            "reference CI switch (Zuul): turns ARA off as there (ara = false); nothing else here"
        )
        reading.warnings.append(
            f"{at}: is_zuul = true is the reference's switch for its Zuul CI; here it only "
            "turns ARA off (ara = false), as it does there"
        )
    else:
        meaning = "reference CI switch (Zuul), off: no effect"
    reading.translated["is_zuul"] = Translated(line, _normal(value), meaning)


def _hcl(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
