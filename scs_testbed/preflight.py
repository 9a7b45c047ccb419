"""Preflight: can this cloud hold this testbed? Quotas minus usage against the requirements,
and every named resource (flavors, image, public network, AZs, volume type) present.

The API reads run concurrently; a preflight against the local cloud takes well under 1.5 s.
A little over 400 lines: one table of checks and their concurrent reads, kept together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from scs_testbed.cloud import Deadline, as_dict, cloud_calls, gather, request_limit
from scs_testbed.errors import PreflightError
from scs_testbed.requirements import FlavorSize, Requirements, compute_requirements

if TYPE_CHECKING:
    from openstack.connection import Connection

# Minimum and recommended flavor sizes of the SCS testbed (RAM in MiB).
MINIMUM = {"node": (8, 30 * 1024), "manager": (4, 8 * 1024)}
RECOMMENDED_MANAGER_RAM = 16 * 1024

# Quota items: requirement field, label, unit, and where each API reports limit and usage.
QUOTA_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("instances", "instances", ""),
    ("cores", "vCPUs", ""),
    ("ram_mib", "RAM", "GiB"),
    ("keypairs", "key pairs", ""),
    ("volumes", "volumes", ""),
    ("gigabytes", "volume storage", "GB"),
    ("networks", "networks", ""),
    ("subnets", "subnets", ""),
    ("routers", "routers", ""),
    ("ports", "ports", ""),
    ("floating_ips", "floating IPs", ""),
    ("security_groups", "security groups", ""),
    ("security_group_rules", "security group rules", ""),
)


@dataclass
class CheckRow:
    """One line of the preflight: a quota item or a resource that must exist."""

    item: str
    ok: bool
    needed: str = ""
    free: str = ""
    quota: str = ""
    used: str = ""
    message: str = ""
    warning: bool = False


@dataclass
class Quota:
    limit: int  # -1 = unlimited
    used: int

    @property
    def free(self) -> int | None:
        return None if self.limit < 0 else max(self.limit - self.used, 0)


@dataclass
class PreflightReport:
    cloud: str
    project_id: str
    rows: list[CheckRow] = field(default_factory=list)
    requirements: Requirements | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [row for row in self.rows if not row.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "project_id": self.project_id,
            "ok": self.ok,
            "elapsed_seconds": round(self.elapsed, 3),
            "requirements": self.requirements.as_dict() if self.requirements else None,
            "checks": [row.__dict__ for row in self.rows],
        }

    def raise_for_failures(self) -> None:
        if not self.ok:
            raise PreflightError(
                f"the cloud {self.cloud!r} cannot hold this testbed "
                f"({len(self.failures)} check(s) failed)",
                details=[row.message for row in self.failures],
                hint="raise the quota, free resources, or pick other flavors/sizes with -o",
            )


def _amount(value: int, unit: str) -> str:
    if unit == "GiB":
        gib = value / 1024
        return f"{gib:.0f} GiB" if gib.is_integer() else f"{gib:.1f} GiB"
    if unit == "GB":
        return f"{value} GB"
    return str(value)


def quota_row(label: str, unit: str, needed: int, quota: Quota) -> CheckRow:
    """Compare one requirement with the quota; the message reads like a sentence."""
    free = quota.free
    limit = "unlimited" if quota.limit < 0 else _amount(quota.limit, unit)
    row = CheckRow(
        item=label,
        ok=free is None or needed <= free,
        needed=_amount(needed, unit),
        free="unlimited" if free is None else _amount(free, unit),
        quota=limit,
        used=_amount(quota.used, unit),
    )
    if not row.ok:
        quota_plain = limit.split()[0]
        used_plain = row.used.split()[0]
        row.message = (
            f"{label}: need {row.needed}, {row.free} free (quota {quota_plain}, used {used_plain})"
        )
    return row


# --------------------------------------------------------------------------- API reads


def _get(data: Any, *names: str, default: int = 0) -> int:
    for name in names:
        value = data.get(name) if isinstance(data, dict) else getattr(data, name, None)
        if value is not None:
            return int(value)
    return default


def read_compute_quotas(conn: Connection) -> dict[str, Quota]:
    absolute = as_dict(conn.compute.get_limits().absolute)
    keypairs_used = sum(1 for _ in conn.compute.keypairs())
    return {
        "instances": Quota(_get(absolute, "instances"), _get(absolute, "instances_used")),
        "cores": Quota(_get(absolute, "total_cores"), _get(absolute, "total_cores_used")),
        "ram_mib": Quota(_get(absolute, "total_ram"), _get(absolute, "total_ram_used")),
        "keypairs": Quota(_get(absolute, "keypairs", default=-1), keypairs_used),
    }


def read_network_quotas(conn: Connection) -> dict[str, Quota]:
    details = as_dict(conn.network.get_quota(str(conn.current_project_id), details=True))
    names = {
        "networks": ("networks", "network"),
        "subnets": ("subnets", "subnet"),
        "routers": ("routers", "router"),
        "ports": ("ports", "port"),
        "floating_ips": ("floating_ips", "floatingip"),
        "security_groups": ("security_groups", "security_group"),
        "security_group_rules": ("security_group_rules", "security_group_rule"),
    }
    quotas = {}
    for key, candidates in names.items():
        entry: dict[str, Any] = next(
            (details[n] for n in candidates if isinstance(details.get(n), dict)), {}
        )
        used = int(entry.get("used", 0)) + int(entry.get("reserved", 0))
        quotas[key] = Quota(int(entry.get("limit", -1)), used)
    return quotas


def read_volume_quotas(conn: Connection) -> dict[str, Quota]:
    quota_set = conn.block_storage.get_quota_set(str(conn.current_project_id), usage=True)
    usage = getattr(quota_set, "usage", None) or {}
    reserved = getattr(quota_set, "reservation", None) or {}
    result = {}
    for key in ("volumes", "gigabytes"):
        limit = getattr(quota_set, key, None)
        if isinstance(limit, dict):  # raw usage format: {"limit", "in_use", "reserved"}
            result[key] = Quota(int(limit["limit"]), int(limit["in_use"]) + int(limit["reserved"]))
        else:
            used = int(usage.get(key, 0)) + int(reserved.get(key, 0))
            result[key] = Quota(-1 if limit is None else int(limit), used)
    return result


def read_flavors(conn: Connection) -> dict[str, FlavorSize]:
    return {
        f.name: FlavorSize(f.name, int(f.vcpus), int(f.ram), int(f.disk or 0))
        for f in conn.compute.flavors(details=True)
    }


def read_image(conn: Connection, name: str) -> dict[str, Any] | None:
    """The most recent active image with this exact name."""
    images = [i for i in conn.image.images(name=name) if i.status == "active"]
    if not images:
        return None
    newest = max(images, key=lambda i: i.created_at or "")
    return {"id": newest.id, "created_at": newest.created_at, "count": len(images)}


def read_network(conn: Connection, name: str) -> dict[str, Any] | None:
    networks = list(conn.network.networks(name=name))
    if not networks:
        return None
    return {"id": networks[0].id, "external": any(n.is_router_external for n in networks)}


def read_zones(conn: Connection, service: str) -> set[str] | None:
    """Zone names of one service; None when the API or extension is absent."""
    listers = {
        "compute": conn.compute.availability_zones,
        "volume": conn.block_storage.availability_zones,  # type: ignore[union-attr]
        "network": conn.network.availability_zones,
    }
    try:
        return {str(z.name) for z in listers[service]()}
    except Exception:  # nothing to check against
        return None


def read_volume_type(conn: Connection, name: str | None) -> bool | None:
    if not name:
        return None
    return any(t.name == name or t.id == name for t in conn.block_storage.types())


def read_prefix_use(conn: Connection, prefix: str) -> list[str]:
    from scs_testbed.discover import prefix_in_use

    return [f"{f.kind} {f.name}" for f in prefix_in_use(conn, prefix)]


# Concurrent API reads. A few overlap the network latency of a remote cloud; many more only
# thrash a small control plane (measured on the local cloud: 2-4 workers 1.1 s, 16 workers 3 s).
READ_WORKERS = 4

ZONE_VARIABLES = (
    ("compute", "availability_zone"),
    ("volume", "volume_availability_zone"),
    ("network", "network_availability_zone"),
)
# The services each read asks (by read, or by the part of its key before ":"): named when
# the reads run out of time.
READ_SERVICES: dict[str, tuple[str, ...]] = {
    "compute": ("compute",),
    "network": ("network",),
    "volume": ("block-storage",),
    "flavors": ("compute",),
    "public": ("network",),
    "volume_type": ("block-storage",),
    "image": ("image",),
    "zones:compute": ("compute",),
    "zones:volume": ("block-storage",),
    "zones:network": ("network",),
    "prefix": ("compute", "network"),
}


# --------------------------------------------------------------------------- the check


def run_preflight(
    conn: Connection, cloud: str, values: dict[str, Any], check_prefix: bool = True
) -> PreflightReport:
    """Run every check; never raises for a failed check (see PreflightReport.ok).

    The reads end within the connection's read timeout as a whole (an InputError naming the
    services that did not answer), while a line says what is waited for.
    """
    import time

    from scs_testbed import ui

    started = time.monotonic()
    jobs: dict[str, Callable[[], Any]] = {
        "compute": lambda: read_compute_quotas(conn),
        "network": lambda: read_network_quotas(conn),
        "volume": lambda: read_volume_quotas(conn),
        "flavors": lambda: read_flavors(conn),
        "public": lambda: read_network(conn, values["public"]),
        "volume_type": lambda: read_volume_type(conn, values.get("volume_type")),
    }
    for image in {values["image"], values["image_node"]}:
        jobs[f"image:{image}"] = partial(read_image, conn, image)
    for service, variable in ZONE_VARIABLES:
        if values.get(variable) is not None:
            jobs[f"zones:{service}"] = partial(read_zones, conn, service)
    if check_prefix:
        jobs["prefix"] = lambda: read_prefix_use(conn, values["prefix"])
    limit = request_limit(conn)
    services = {key: READ_SERVICES.get(key) or READ_SERVICES[key.split(":")[0]] for key in jobs}
    what = f"cloud {cloud!r}: quotas, flavors, images and networks"
    with ui.waiting(what, limit=limit), cloud_calls(conn):
        deadline = Deadline.after(limit) if limit is not None else None
        results = gather(jobs, deadline, READ_WORKERS, services)

    report = PreflightReport(cloud, str(conn.current_project_id))
    report.rows.append(CheckRow("credentials", True, message="authenticated"))
    flavor_rows, sizes = _flavor_rows(results["flavors"], values)
    report.rows += flavor_rows
    if "manager" in sizes and "node" in sizes:
        report.requirements = compute_requirements(values, sizes["manager"], sizes["node"])
        quotas = {**results["compute"], **results["network"], **results["volume"]}
        for key, label, unit in QUOTA_ITEMS:
            needed = getattr(report.requirements, key)
            report.rows.append(quota_row(label, unit, needed, quotas[key]))
    report.rows += _resource_rows(results, values)
    report.elapsed = time.monotonic() - started
    return report


def _flavor_rows(
    flavors: dict[str, FlavorSize], values: dict[str, Any]
) -> tuple[list[CheckRow], dict[str, FlavorSize]]:
    rows, sizes = [], {}
    for role in ("manager", "node"):
        name = values[f"flavor_{role}"]
        cpus, ram = MINIMUM[role]
        wanted = f">= {cpus} vCPU / {ram // 1024} GiB"
        flavor = flavors.get(name)
        if flavor is None:
            close = sorted(flavors)[:12]
            rows.append(
                CheckRow(
                    f"flavor {role}",
                    False,
                    needed=name,
                    message=f"flavor {role}: {name!r} does not exist "
                    f"(available: {', '.join(close) or 'none'})",
                )
            )
            continue
        sizes[role] = flavor
        found = f"{flavor.vcpus} vCPU / {flavor.ram_mib / 1024:g} GiB"
        row = CheckRow(f"flavor {role} ({name})", True, needed=wanted, free=found)
        if flavor.vcpus < cpus or flavor.ram_mib < ram:
            row.ok = False
            row.message = f"flavor {role}: {name} has {found}, the testbed needs {wanted}"
        elif role == "manager" and flavor.ram_mib < RECOMMENDED_MANAGER_RAM:
            row.warning = True
            row.message = (
                f"flavor manager: {name} has {found}; 16 GiB are recommended "
                "(8 GiB managers were overloaded)"
            )
        rows.append(row)
    return rows, sizes


def _resource_rows(results: dict[str, Any], values: dict[str, Any]) -> list[CheckRow]:
    rows = []
    for name in dict.fromkeys([values["image"], values["image_node"]]):
        found = results[f"image:{name}"]
        if found is None:
            rows.append(
                CheckRow(
                    f"image {name}",
                    False,
                    needed=name,
                    message=f"image: no active image named {name!r}",
                )
            )
        else:
            note = f"{found['id'][:8]}… ({found['count']} with this name, newest used)"
            rows.append(CheckRow(f"image {name}", True, needed=name, free=note))
    public = results["public"]
    name = values["public"]
    if public is None:
        rows.append(
            CheckRow(
                f"public network {name}",
                False,
                needed=name,
                message=f"public network: {name!r} does not exist",
            )
        )
    elif not public["external"]:
        rows.append(
            CheckRow(
                f"public network {name}",
                False,
                needed=name,
                message=f"public network: {name!r} exists but is not external",
            )
        )
    else:
        rows.append(CheckRow(f"public network {name}", True, needed=name, free="external"))
    for service, variable in ZONE_VARIABLES:
        wanted = values.get(variable)
        if wanted is None:
            continue
        known = results[f"zones:{service}"]
        ok = known is None or wanted in known
        row = CheckRow(
            f"{service} AZ {wanted}",
            ok,
            needed=wanted,
            free=", ".join(sorted(known)) if known else "not listed",
        )
        if not ok:
            row.message = (
                f"{variable}: {service} availability zone {wanted!r} does not exist "
                f"(known: {', '.join(sorted(known or [])) or 'none'}; null sends none)"
            )
        rows.append(row)
    volume_type = values.get("volume_type")
    if volume_type:
        ok = bool(results["volume_type"])
        rows.append(
            CheckRow(
                f"volume type {volume_type}",
                ok,
                needed=volume_type,
                message="" if ok else f"volume_type: {volume_type!r} does not exist",
            )
        )
    if "prefix" in results:
        taken = results["prefix"]
        prefix = values["prefix"]
        row = CheckRow(
            f"prefix {prefix!r} unused",
            not taken,
            needed="0 resources",
            free=f"{len(taken)} in use",
        )
        if taken:
            row.message = (
                f"prefix {prefix!r}: {len(taken)} resource(s) already carry it "
                f"({', '.join(taken[:4])}{', …' if len(taken) > 4 else ''}); another testbed or "
                "leftovers: pick another --name/prefix, or clean up with "
                "`scs-testbed destroy NAME --force-cleanup`"
            )
        rows.append(row)
    return rows
