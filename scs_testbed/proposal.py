"""`env new`, choosing: every value of a new environment chosen from a cloud's catalog (plain
data, `cloud_catalog.CloudCatalog`), each with why — the comment written above it.

The SCS/OSISM testbed's minimum sizes decide the flavors (SCS names preferred, smallest that
fits), the newest image the reference accepts, the external network, zones, storage and the
network's quirks. When the cloud cannot host a testbed, `propose` raises PreflightError naming
everything that is missing, and nothing is written.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from scs_testbed.cloud_catalog import CloudCatalog
from scs_testbed.errors import InputError, PreflightError

GIB = 1024  # MiB


# The SCS/OSISM testbed's minimum sizes (DESIGN.md): HCI nodes and the manager.
NODE_MIN = (8, 30 * GIB)  # vCPUs, RAM MiB (the 32 GiB flavors report a little less on some clouds)


MANAGER_MIN = (4, 8 * GIB)


MANAGER_PREFERRED_RAM = 16 * GIB


ROOT_DISK_MIN_GB = 20  # smaller local root disks: boot from a volume instead


SCS_FLAVOR = re.compile(r"^SCS-\d+V-\d+", re.IGNORECASE)


# Images the reference accepts, best first: (label, login user, distro, version, name pattern).
IMAGE_CHOICES = (
    ("Ubuntu 24.04", "ubuntu", "ubuntu", "24.04", re.compile(r"ubuntu.*24\.04", re.IGNORECASE)),
    ("Debian 12", "debian", "debian", "12", re.compile(r"debian.*\b12\b", re.IGNORECASE)),
)


@dataclass
class Proposal:
    """The chosen values, each with why (the comment written above it)."""

    cloud: str
    values: dict[str, Any] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, why: str) -> None:
        self.values[key] = value
        self.why[key] = why


@dataclass(frozen=True)
class Choices:
    """What the user fixed on the command line (None: choose from the catalog)."""

    public: str | None = None
    flavor_manager: str | None = None
    flavor_node: str | None = None
    image: str | None = None
    availability_zone: str | None = None


def propose(catalog: CloudCatalog, cloud: str, choices: Choices | None = None) -> Proposal:
    """Choose every value of the environment from the catalog.

    Raises PreflightError (exit 3) listing everything the cloud lacks, InputError (exit 2) for
    a choice that needs the user (several external networks) or a given name that is not there.
    """
    choices = choices or Choices()
    proposal = Proposal(cloud)
    proposal.set("cloud_provider", cloud, "the clouds.yaml entry this environment deploys to")
    missing: list[str] = []
    node = _choose_flavor(catalog, "node", NODE_MIN, None, choices.flavor_node, missing)
    manager = _choose_flavor(
        catalog, "manager", MANAGER_MIN, MANAGER_PREFERRED_RAM, choices.flavor_manager, missing
    )
    image = _choose_image(catalog, choices.image, missing)
    public = _choose_public(catalog, choices.public, missing)
    has_volumes = catalog.volume_types is not None
    for role, flavor in (("node", node), ("manager", manager)):
        if flavor and not has_volumes and not flavor.get("disk"):
            missing.append(
                f"block storage: the cloud has no volume service and {role} flavor "
                f"{flavor['name']} has no local disk"
            )
    if missing:
        raise PreflightError(
            f"cloud {cloud!r} cannot host a testbed: {len(missing)} thing(s) missing",
            details=missing,
            hint="ask the provider for them (or name existing ones with --flavor-node, "
            "--flavor-manager, --image, --public); nothing was written",
        )
    assert node and manager and image and public
    _set_flavor(proposal, "manager", manager, has_volumes)
    _set_flavor(proposal, "node", node, has_volumes)
    label, user, found = image
    for key in ("image", "image_node"):
        proposal.set(key, found["name"], f"{label}: {_image_reason(found)}")
    for key in ("image_user", "image_node_user"):
        proposal.set(key, user, f"the login user of {label} images")
    proposal.set("public", public["name"], public["why"])
    _set_zones(proposal, catalog, choices.availability_zone)
    _set_storage(proposal, catalog, node)
    _set_network(proposal, catalog, public)
    return proposal


def _size(flavor: dict[str, Any]) -> tuple[int, int, int]:
    return int(flavor.get("vcpus") or 0), int(flavor.get("ram") or 0), int(flavor.get("disk") or 0)


def _describe_flavor(flavor: dict[str, Any]) -> str:
    vcpus, ram, disk = _size(flavor)
    disk_text = f"{disk} GB disk" if disk else "no local disk"
    return f"{vcpus} vCPU, {ram / GIB:g} GiB RAM, {disk_text}"


def _choose_flavor(
    catalog: CloudCatalog,
    role: str,
    minimum: tuple[int, int],
    preferred_ram: int | None,
    given: str | None,
    missing: list[str],
) -> dict[str, Any] | None:
    wanted = f"{minimum[0]} vCPU and {minimum[1] // GIB} GiB RAM"
    if given:
        found = next((f for f in catalog.flavors if f.get("name") == given), None)
        if found is None:
            known = ", ".join(sorted(str(f.get("name")) for f in catalog.flavors)) or "none"
            raise InputError(f"--flavor-{role} {given}: no such flavor (flavors: {known})")
        if _size(found)[0] < minimum[0] or _size(found)[1] < minimum[1]:
            missing.append(
                f"flavor {given} ({_describe_flavor(found)}) is below the {role} minimum of "
                f"{wanted}"
            )
            return None
        return {**found, "why": "given with --flavor-" + role}
    fitting = [
        f for f in catalog.flavors if _size(f)[0] >= minimum[0] and _size(f)[1] >= minimum[1]
    ]
    if not fitting:
        biggest = max(catalog.flavors, key=_size, default=None)
        seen = (
            f"; the biggest is {biggest['name']} ({_describe_flavor(biggest)})" if biggest else ""
        )
        missing.append(
            f"a {role} flavor with at least {wanted} (none of {len(catalog.flavors)} "
            f"flavor(s){seen})"
        )
        return None
    pool, rule = fitting, f"the smallest with at least {wanted}"
    if preferred_ram:
        roomy = [f for f in fitting if _size(f)[1] >= preferred_ram]
        if roomy:
            pool, rule = roomy, f"{rule}, preferring {preferred_ram // GIB} GiB RAM"
    scs = [f for f in pool if SCS_FLAVOR.match(str(f.get("name")))]
    if scs:
        pool, rule = scs, f"{rule}, SCS standard names preferred"
    # smallest first; a flavor without local disk before one with (volumes carry the data)
    chosen = min(pool, key=lambda f: (_size(f)[0], _size(f)[1], _size(f)[2], str(f["name"])))
    return {**chosen, "why": f"{rule}: {_describe_flavor(chosen)}"}


def _set_flavor(proposal: Proposal, role: str, flavor: dict[str, Any], has_volumes: bool) -> None:
    proposal.set(f"flavor_{role}", flavor["name"], flavor["why"])
    disk = _size(flavor)[2]
    if disk >= ROOT_DISK_MIN_GB or not has_volumes:
        why = f"the flavor's local disk ({disk} GB) holds the system: boot from the image"
        proposal.set(f"{role}_boot_from_volume", False, why)
    else:
        why = (
            "the flavor has no local disk: boot from a volume of volume_size_base GB"
            if not disk
            else f"the flavor's {disk} GB disk is below {ROOT_DISK_MIN_GB} GB: boot from a volume"
        )
        proposal.set(f"{role}_boot_from_volume", True, why)


def _image_key(image: dict[str, Any]) -> tuple[str, str]:
    return str(image.get("created_at") or ""), str(image.get("name") or "")


def _matches(image: dict[str, Any], distro: str, version: str, pattern: re.Pattern[str]) -> bool:
    os_distro = str(image.get("os_distro") or "").lower()
    os_version = str(image.get("os_version") or "")
    if os_distro == distro and (os_version == version or os_version.startswith(version + ".")):
        return True
    return bool(pattern.search(str(image.get("name") or "")))


def _image_reason(image: dict[str, Any]) -> str:
    props = [f"{k}={image[k]}" for k in ("os_distro", "os_version") if image.get(k)]
    made = str(image.get("created_at") or "")[:10]
    return (
        "the newest active image matching by "
        + (f"properties ({', '.join(props)})" if props else "name")
        + (f", created {made}" if made else "")
    )


def _choose_image(
    catalog: CloudCatalog, given: str | None, missing: list[str]
) -> tuple[str, str, dict[str, Any]] | None:
    if catalog.images is None:
        missing.append(
            "an Ubuntu 24.04 (or Debian 12) image: the project's service catalog has no image "
            "service, so it sees no image at all"
        )
        return None
    active = [i for i in catalog.images if (i.get("status") or "active") == "active"]
    if given:
        found = [i for i in active if i.get("name") == given]
        if not found:
            raise InputError(f"--image {given}: no active image of that name")
        image = max(found, key=_image_key)
        for label, user, distro, version, pattern in IMAGE_CHOICES:
            if _matches(image, distro, version, pattern):
                return label, user, image
        return "given with --image", "ubuntu", image
    for label, user, distro, version, pattern in IMAGE_CHOICES:
        found = [i for i in active if _matches(i, distro, version, pattern)]
        if found:
            return label, user, max(found, key=_image_key)
    names = ", ".join(sorted(str(i.get("name")) for i in active)[:8]) or "none"
    missing.append(f"an Ubuntu 24.04 (or Debian 12) image (active images: {names})")
    return None


def _choose_public(
    catalog: CloudCatalog, given: str | None, missing: list[str]
) -> dict[str, Any] | None:
    external = [n for n in catalog.networks if n.get("is_router_external")]
    names = sorted(str(n.get("name")) for n in external)
    if given:
        found = next((n for n in external if n.get("name") == given), None)
        if found is None:
            raise InputError(
                f"--public {given}: not an external network of this cloud",
                hint=f"external networks: {', '.join(names) or 'none'}",
            )
        return {**found, "why": "given with --public"}
    if not external:
        missing.append("an external network (router:external) for the router and floating IP")
        return None
    if len(external) > 1:
        raise InputError(
            f"the cloud has {len(external)} external networks: {', '.join(names)}",
            hint="choose the one for the router gateway and the floating IP with --public NAME",
        )
    return {**external[0], "why": "the cloud's only external network"}


def _set_zones(proposal: Proposal, catalog: CloudCatalog, given: str | None) -> None:
    for service, key in (
        ("compute", "availability_zone"),
        ("volume", "volume_availability_zone"),
        ("network", "network_availability_zone"),
    ):
        zones = catalog.zones.get(service)
        if given and service == "compute":
            if zones is not None and given not in zones:
                raise InputError(
                    f"--availability-zone {given}: not a compute zone of this cloud",
                    hint=f"compute zones: {', '.join(zones) or 'none'}",
                )
            proposal.set(key, given, "given with --availability-zone")
        elif not zones:
            what = "no zone API" if zones is None else "no zones"
            hint = "no availability_zone_hints are sent" if service == "network" else ""
            proposal.set(
                key,
                None,
                f"the {service} service has {what}: the cloud chooses"
                + (f" ({hint})" if hint else ""),
            )
        elif len(zones) == 1:
            proposal.set(key, zones[0], f"the {service} service's only zone")
        else:
            ordered = sorted(zones)
            pick = "nova" if "nova" in zones else ordered[0]
            if service == "volume" and proposal.values.get("availability_zone") in zones:
                pick = str(proposal.values["availability_zone"])
            proposal.set(key, pick, f"one of the {service} zones {', '.join(ordered)}")


def _set_storage(proposal: Proposal, catalog: CloudCatalog, node: dict[str, Any]) -> None:
    types = catalog.volume_types
    if types is None:
        proposal.set("number_of_volumes", 0, "no volume service: Ceph uses the nodes' local disks")
        proposal.set("volume_type", None, "no volume service")
        return
    proposal.set("number_of_volumes", 3, "three data volumes per node for Ceph (the reference's)")
    names = sorted(str(t.get("name")) for t in types if t.get("is_public", True))
    shown = ", ".join(names) or "none listed"
    proposal.set("volume_type", None, f"the cloud's default volume type (types: {shown})")


def _set_network(proposal: Proposal, catalog: CloudCatalog, public: dict[str, Any]) -> None:
    mtus = sorted({int(n["mtu"]) for n in catalog.networks if n.get("mtu")})
    seen = f" (MTUs seen: {', '.join(map(str, mtus))})" if mtus else ""
    proposal.set("mtu", None, f"the cloud sets the management network's MTU{seen}")
    proposal.set(
        "router_enable_snat",
        None,
        "not sent: the default policy lets only admins set enable_snat, and SNAT is on by default",
    )
    extensions = catalog.extensions
    if extensions is not None and "port-security" not in extensions:
        proposal.set(
            "port_security_enabled", None, "the network API has no port-security extension"
        )


ORDER = (
    "cloud_provider",
    "flavor_manager",
    "flavor_node",
    "manager_boot_from_volume",
    "node_boot_from_volume",
    "image",
    "image_node",
    "image_user",
    "image_node_user",
    "public",
    "availability_zone",
    "volume_availability_zone",
    "network_availability_zone",
    "number_of_volumes",
    "volume_type",
    "mtu",
    "router_enable_snat",
    "port_security_enabled",
)


def render_tfvars(proposal: Proposal, name: str) -> str:
    """The environment file: a header, then each value under the comment that explains it."""
    width = max(len(k) for k in proposal.values)
    lines = [
        f"# Provider: {proposal.cloud} (clouds.yaml entry)",
        f"# Written by `scs-testbed env new {name} --cloud {proposal.cloud}` on "
        f"{time.strftime('%Y-%m-%d')}",
        "# from the cloud's catalog; each value says why it was chosen. Edit freely.",
    ]
    for key in sorted(proposal.values, key=lambda k: (ORDER.index(k) if k in ORDER else 99, k)):
        lines.append("")
        lines.append(f"# {proposal.why[key]}")
        value = proposal.values[key]
        text = "null" if value is None else _hcl_literal(value)
        lines.append(f"{key.ljust(width)} = {text}")
    return "\n".join(lines) + "\n"


def _hcl_literal(value: Any) -> str:
    """A JSON literal is HCL, except that `${` and `%{` in strings start templates."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
