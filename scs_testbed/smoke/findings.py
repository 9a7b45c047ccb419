"""The judgements of the smoke checks, as pure functions: data in, a list of problems out.

Each problem says what was found and what was expected; an empty list is a pass. The checks
in `checks/` gather the data (testinfra, openstacksdk) and assert that the list is empty, so
every rule here is tested with plain data and no testbed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# ------------------------------------------------------------------ bootstrap and hosts


# cloud-init's result: this boot's (a link in /run), else the last one it wrote, which stays
# after a reboot when cloud-init no longer runs — the reference's part-0 removes
# python3-requests, and with it the cloud-init package, on the manager.
CLOUD_INIT_RESULTS = ("/run/cloud-init/result.json", "/var/lib/cloud/data/result.json")


def cloud_init_problems(
    host: str, result_json: str | None, path: str = CLOUD_INIT_RESULTS[0]
) -> list[str]:
    """cloud-init's result.json (read from `path`): present and without errors."""
    if result_json is None:
        return [
            f"{host}: {' and '.join(CLOUD_INIT_RESULTS)} are missing: cloud-init has not "
            "finished (expected it finished without errors)"
        ]
    try:
        errors = json.loads(result_json)["v1"]["errors"]
    except (ValueError, KeyError, TypeError):
        return [f"{host}: {path} is not cloud-init's result: {result_json!r}"]
    return [f"{host}: cloud-init reported errors {errors} (expected none)"] if errors else []


def progress_problems(host: str, progress_text: str | None) -> list[str]:
    """The bootstrap's last run (progress.jsonl, folded as `watch` folds it: a run started
    again after a failure counts, not the old failure) ended with `testbed done`."""
    from scs_testbed.remote.progress import ProgressBoard, ProtocolError, parse_event

    if progress_text is None:
        return [
            f"{host}: /var/log/scs-testbed/progress.jsonl is missing: the bootstrap never "
            "started (expected it to end with step testbed done)"
        ]
    board = ProgressBoard()
    last: dict[str, str] = {}
    for line in progress_text.splitlines():
        try:
            event = parse_event(line)
        except ProtocolError:
            continue
        board.apply(event)
        last = {"step": event.step, "state": event.state}
    if board.failed_step is not None:
        status = board.steps.get(board.failed_step)
        detail = status.detail if status and status.detail else ""
        return [
            f"{host}: bootstrap step {board.failed_step} failed ({detail}) "
            "(expected every step done)"
        ]
    if board.outcome != "done":
        return [
            f"{host}: the bootstrap has not finished: last event "
            f"{last.get('step', 'none')} {last.get('state', '')} "
            "(expected step testbed done)"
        ]
    return []


def time_sync_problems(host: str, timedatectl: str) -> list[str]:
    """`timedatectl show` says NTPSynchronized=yes."""
    values = dict(line.split("=", 1) for line in timedatectl.splitlines() if "=" in line)
    synced = values.get("NTPSynchronized")
    if synced != "yes":
        return [f"{host}: clock not synchronised (NTPSynchronized={synced}, expected yes)"]
    return []


def disk_problems(host: str, free_bytes: int, min_free_gb: int) -> list[str]:
    """At least `min_free_gb` GB free on /."""
    free_gb = free_bytes / 1e9
    if free_gb < min_free_gb:
        return [f"{host}: {free_gb:.1f} GB free on / (expected at least {min_free_gb} GB)"]
    return []


# ------------------------------------------------------------------------- containers


def parse_docker_ps(text: str) -> list[dict[str, str]]:
    """`docker ps -a --format '{{json .}}'`: one JSON object per line."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


_EXITED = re.compile(r"Exited \((\d+)\)")


def container_problems(host: str, rows: Sequence[Mapping[str, str]]) -> list[str]:
    """No container unhealthy, restarting or exited with a non-zero code."""
    problems = []
    for row in rows:
        name, status = row.get("Names", "?"), row.get("Status", "")
        exited = _EXITED.search(status)
        if "(unhealthy)" in status:
            problems.append(f"{host}: container {name} is unhealthy ({status})")
        elif status.startswith("Restarting"):
            problems.append(f"{host}: container {name} is restarting ({status})")
        elif exited and exited.group(1) != "0":
            problems.append(f"{host}: container {name} exited non-zero ({status})")
    if problems:
        problems.append("expected every container running (healthy where it has a check)")
    return problems


def missing_containers(
    host: str, rows: Sequence[Mapping[str, str]], required: Iterable[str]
) -> list[str]:
    """Each required name (a substring) belongs to a running container."""
    running = [r.get("Names", "") for r in rows if r.get("State", "") == "running"]
    missing = [name for name in required if not any(name in r for r in running)]
    if missing:
        return [
            f"{host}: no running container for {', '.join(missing)} "
            f"(running: {', '.join(running) or 'none'}; expected all of {', '.join(required)})"
        ]
    return []


# ------------------------------------------------------------------------------- ceph


def ceph_problems(status: Mapping[str, Any], mons: int, min_osds: int) -> list[str]:
    """`ceph status --format json`: health OK/WARN, monitors in quorum, a mgr, OSDs up = in."""
    problems = []
    health = (status.get("health") or {}).get("status", "unknown")
    if health not in ("HEALTH_OK", "HEALTH_WARN"):
        problems.append(f"ceph health is {health} (expected HEALTH_OK or HEALTH_WARN)")
    quorum = status.get("quorum_names") or []
    if len(quorum) < mons:
        problems.append(f"{len(quorum)} monitors in quorum {quorum} (expected {mons})")
    mgr = status.get("mgrmap") or {}
    if not mgr.get("available"):
        problems.append("no active ceph mgr (expected one available)")
    osd = status.get("osdmap") or {}
    osd = osd.get("osdmap", osd)  # older releases nest it once more
    total, up, in_ = (int(osd.get(k) or 0) for k in ("num_osds", "num_up_osds", "num_in_osds"))
    if not (total == up == in_) or total < min_osds:
        problems.append(
            f"OSDs: {total} total, {up} up, {in_} in "
            f"(expected up = in = total, at least {min_osds})"
        )
    return problems


# ------------------------------------------------------------------- infrastructure


def rabbitmq_problems(cluster_status: Mapping[str, Any], nodes: int) -> list[str]:
    """`rabbitmqctl cluster_status --formatter json`: all nodes running, no partitions."""
    problems = []
    running = cluster_status.get("running_nodes") or []
    if len(running) < nodes:
        problems.append(f"RabbitMQ runs on {len(running)} nodes {running} (expected {nodes})")
    partitions = cluster_status.get("partitions") or {}
    if partitions:
        problems.append(f"RabbitMQ partitions {partitions} (expected none)")
    return problems


def opensearch_problems(health: Mapping[str, Any]) -> list[str]:
    """`_cluster/health`: green or yellow."""
    status = health.get("status")
    if status not in ("green", "yellow"):
        return [f"OpenSearch cluster health is {status} (expected green or yellow)"]
    return []


def alert_problems(alerts: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    """Prometheus `/api/v1/alerts`: nothing firing outside the allow-list."""
    allowed = set(allowed)
    firing = sorted(
        {
            (a.get("labels") or {}).get("alertname", "?")
            for a in (alerts.get("data") or {}).get("alerts") or []
            if a.get("state") == "firing"
        }
        - allowed
    )
    if firing:
        return [f"alerts firing: {', '.join(firing)} (expected only {', '.join(sorted(allowed))})"]
    return []


# ----------------------------------------------------------------------- OpenStack API


def catalog_problems(service_types: Iterable[str], expected: Iterable[str]) -> list[str]:
    """Every expected type (`a|b`: either) is in the catalog."""
    present = set(service_types)
    missing = [want for want in expected if not set(want.split("|")) & present]
    if missing:
        return [
            f"catalog lacks {', '.join(missing)} (found: {', '.join(sorted(present))}; "
            "expected scs-0123's services)"
        ]
    return []


def service_problems(kind: str, services: Iterable[Mapping[str, Any]]) -> list[str]:
    """Compute or volume services: each enabled and up; at least one."""
    listed = list(services)
    if not listed:
        return [f"no {kind} services listed (expected each service enabled and up)"]
    bad = [
        f"{s.get('binary')}@{s.get('host')} {s.get('status')}/{s.get('state')}"
        for s in listed
        if s.get("status") != "enabled" or s.get("state") != "up"
    ]
    if bad:
        return [f"{kind} services not enabled and up: {', '.join(bad)} (expected enabled/up)"]
    return []


def hypervisor_problems(hypervisors: Iterable[Mapping[str, Any]], expected: int) -> list[str]:
    """At least `expected` hypervisors, each enabled and up."""
    listed = list(hypervisors)
    usable = [h for h in listed if h.get("state") == "up" and h.get("status") == "enabled"]
    if len(usable) < expected:
        found = ", ".join(f"{h.get('name')} {h.get('status')}/{h.get('state')}" for h in listed)
        return [
            f"{len(usable)} hypervisors enabled and up ({found or 'none listed'}; "
            f"expected at least {expected})"
        ]
    return []


def agent_problems(agents: Iterable[Mapping[str, Any]], minimum: int) -> list[str]:
    """Network agents: every one alive and up; at least `minimum`."""
    listed = list(agents)
    problems = [
        f"network agent {a.get('binary')}@{a.get('host')} is "
        f"{'alive' if a.get('alive') else 'dead'}/{'up' if a.get('admin_up') else 'down'} "
        "(expected alive and up)"
        for a in listed
        if not a.get("alive") or not a.get("admin_up")
    ]
    if len(listed) < minimum:
        problems.append(f"{len(listed)} network agents listed (expected at least {minimum})")
    return problems


_SCS_FLAVOR = re.compile(r"^SCS-(\d+)([VTCL])(?:i)?-(\d+(?:\.\d+)?)(?:u?o?)?(?:-(\d+)[ns]?)?")


def flavor_name_problems(flavors: Iterable[Mapping[str, Any]]) -> list[str]:
    """scs-0100: an SCS-nV-RAM[-DISK] name matches the flavor's vCPUs, RAM (GiB) and disk."""
    problems = []
    for flavor in flavors:
        name = str(flavor.get("name", ""))
        match = _SCS_FLAVOR.match(name)
        if not name.startswith("SCS-"):
            continue
        if not match:
            problems.append(f"flavor {name}: not an SCS name (expected SCS-nV-RAM[-DISK])")
            continue
        vcpus, ram_gib, disk = int(match.group(1)), float(match.group(3)), match.group(4)
        found = (flavor.get("vcpus"), flavor.get("ram"), flavor.get("disk"))
        wanted = (vcpus, int(ram_gib * 1024), int(disk) if disk else 0)
        if found[0] != wanted[0] or found[1] != wanted[1] or (disk and found[2] != wanted[2]):
            problems.append(
                f"flavor {name}: vcpus/ram MiB/disk GB {found} (expected {wanted} by its name)"
            )
    return problems


# scs-0102: properties every public image must carry
IMAGE_PROPERTIES = (
    "architecture",
    "min_disk",
    "min_ram",
    "os_distro",
    "os_version",
    "hw_disk_bus",
    "image_build_date",
    "image_original_user",
    "image_source",
    "image_description",
    "replace_frequency",
    "provided_until",
    "uuid_validity",
)


def image_metadata_problems(images: Iterable[Mapping[str, Any]]) -> list[str]:
    """scs-0102: public images carry the mandatory metadata."""
    problems = []
    for image in images:
        if image.get("visibility") != "public":
            continue
        missing = [p for p in IMAGE_PROPERTIES if image.get(p) in (None, "")]
        if missing:
            problems.append(
                f"image {image.get('name')}: lacks {', '.join(missing)} "
                "(expected scs-0102's mandatory properties)"
            )
    return problems
