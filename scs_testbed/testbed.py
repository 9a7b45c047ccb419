"""One testbed: its name and variables (`Target`), the preflight and check, a Terraform run's
failure as one error and its retries, and what the testbeds are (list, status). The core: no
printing; progress goes to a `Reporter` the CLI supplies, errors are raised typed.

Its life is steps as data run by the one engine (`steps.Engine`), as `ci` runs its steps:
`deployment` (plan, deploy) and `teardown` (destroy); the working directory's files are
`testbed_files`'.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scs_testbed.environment import Environment, missing_required
from scs_testbed.errors import InputError, TerraformError
from scs_testbed.retrying import retried
from scs_testbed.state_dir import DamagedRecord
from scs_testbed.terraform import RunResult, TerraformRunner
from scs_testbed.terraform_binary import find_terraform
from scs_testbed.workspace import Workspace, check_name, list_workspaces, refuse_symlinked

if TYPE_CHECKING:
    from scs_testbed.preflight import PreflightReport

# Seconds before the 2nd, 3rd … attempt of an apply that failed with transient errors only
# (Terraform keeps what it created: each attempt continues where the last one stopped).
RETRY_DELAYS = (5.0, 10.0, 20.0, 30.0, 60.0, 60.0)
# destroy keeps trying longer (about 10 minutes): a half-destroyed testbed keeps costing money.
DESTROY_RETRY_DELAYS = (5.0, 10.0, 20.0, 30.0, 60.0, 60.0, 60.0, 60.0, 120.0, 120.0)


class Reporter(Protocol):
    """What the lifecycle tells the user about; the CLI renders it."""

    def step(self, message: str) -> None: ...
    def note(self, message: str) -> None: ...
    def preflight(self, report: PreflightReport) -> None: ...
    def terraform_event(self, event: dict[str, Any]) -> None: ...
    def retry(self, attempt: int, reason: str, delay: float) -> None: ...


class SilentReporter:
    """A reporter that tells nobody (tests, library use)."""

    def step(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def preflight(self, report: PreflightReport) -> None:
        pass

    def terraform_event(self, event: dict[str, Any]) -> None:
        pass

    def retry(self, attempt: int, reason: str, delay: float) -> None:
        pass


@dataclass
class Target:
    """A testbed to be: its name, workspace, and the variables Terraform gets."""

    name: str
    workspace: Workspace
    env: Environment
    values: dict[str, Any]

    @property
    def cloud(self) -> str:
        return str(self.values["cloud_provider"])

    @property
    def prefix(self) -> str:
        return str(self.values["prefix"])


def default_name(env: Environment) -> str:
    raw = f"{env.name}-{env.values.get('prefix') or 'testbed'}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:40]


def resolve_target(env: Environment, name: str | None) -> Target:
    """Name the testbed and settle its variables.

    `--name` also becomes the prefix unless the environment or -o set one, so two named
    testbeds of one environment never share resource names.
    """
    problems = missing_required(env)
    if problems:
        raise InputError(f"environment {env.name!r} is incomplete", details=problems)
    values = dict(env.values)
    if name:
        check_name(name)
        if env.sources["prefix"].kind == "default":
            values["prefix"] = name
    else:
        name = default_name(env)
    if not re.match(r"^[a-z][a-z0-9-]{0,23}$", str(values["prefix"])):
        raise InputError(
            f"prefix {values['prefix']!r} is not usable for resource names",
            hint="use a --name of at most 24 characters, or set -o prefix=...",
        )
    target = Target(name, Workspace.named(name), env, values)
    refuse_foreign_testbed(target)
    return target


def load_target(
    env: str,
    name: str | None,
    nodes: int | None = None,
    overrides: Sequence[str] | None = None,
    env_dir: Path | None = None,
    terraform: str | None = None,
    validate: bool = True,
) -> Target:
    """Load the environment (with `--nodes` and `-o`), validate it (Terraform as the judge when
    there is one) and name the testbed."""
    from scs_testbed.environment import Catalog, load_environment
    from scs_testbed.validation import ensure_valid

    given = [o for o in overrides or [] if o.split("=", 1)[0].strip() == "number_of_nodes"]
    if nodes is not None and given:
        raise InputError(
            f"both --nodes {nodes} and -o {given[0]} were given",
            hint="set the number of nodes once: either --nodes N or -o number_of_nodes=N",
        )
    merged = list(overrides or [])
    if nodes is not None:
        merged.append(f"number_of_nodes={nodes}")
    environment = load_environment(env, Catalog.locate(env_dir), merged)
    if validate:
        ensure_valid(environment, find_terraform(terraform, required=False))
    return resolve_target(environment, name)


def refuse_foreign_testbed(target: Target) -> None:
    """Refuse a name that belongs to a testbed of another environment or cloud.

    Its records would be rewritten for the new environment while its state still describes
    resources in the old cloud: plan and deploy would then run one against the other.
    """
    workspace = target.workspace
    if not workspace.exists:
        return
    meta = workspace.read_meta("environment", "cloud")
    recorded = (meta["environment"], meta["cloud"])
    if recorded == (target.env.name, target.cloud):
        return
    raise InputError(
        f"testbed {target.name!r} belongs to environment {recorded[0]!r} "
        f"(cloud {recorded[1]!r}), not to {target.env.name!r} (cloud {target.cloud!r})",
        hint=f"choose another --name, or destroy it first: scs-testbed destroy {target.name}",
    )


def open_runner(workspace: Workspace, terraform: str | None) -> TerraformRunner:
    """A runner for an existing testbed: the given binary, else the one it was deployed with."""
    binary = find_terraform(terraform or workspace.read_meta().get("terraform"))
    assert binary is not None
    return TerraformRunner(binary, workspace.path, workspace.log_dir)


# --------------------------------------------------------------------------- check


def preflight(target: Target, reporter: Reporter, check_prefix: bool = True) -> PreflightReport:
    """Connect and run the preflight; raises PreflightError when anything falls short."""
    from scs_testbed.cloud import connect
    from scs_testbed.preflight import run_preflight

    reporter.step(f"preflight against cloud {target.cloud!r}")
    conn = connect(target.cloud)
    report = run_preflight(conn, target.cloud, target.values, check_prefix=check_prefix)
    reporter.preflight(report)
    report.raise_for_failures()
    return report


def check(target: Target, terraform: str | None = None) -> PreflightReport:
    """Validate the variables (Terraform as judge) while the preflight reads the cloud.

    Invalid variables (InputError, exit 2) outrank the preflight's verdict.
    """
    from concurrent.futures import ThreadPoolExecutor

    from scs_testbed.cloud import connect
    from scs_testbed.preflight import run_preflight
    from scs_testbed.validation import ensure_valid

    def validate() -> None:  # finding and asking the binary runs beside the cloud reads too
        ensure_valid(target.env, find_terraform(terraform, required=False))

    with ThreadPoolExecutor(max_workers=1) as pool:
        validation = pool.submit(validate)
        try:
            report = run_preflight(
                connect(target.cloud),
                target.cloud,
                target.values,
                check_prefix=not target.workspace.exists,
            )
        except Exception:
            validation.result()  # a bad binary or invalid variables outrank the cloud's error
            raise
        validation.result()
    return report


def terraform_failure(
    command: str, result: RunResult, shown: int = 8, kept: str | None = None
) -> TerraformError:
    """One error for a failed Terraform run: each distinct message once, with its resources.

    `kept`: the testbed whose state was kept (resources may exist): the hint says how to go on.
    """
    grouped: dict[str, list[str]] = {}
    for error in result.errors:
        detail = " ".join(error.detail.split())[:400]
        message = f"{error.summary}{': ' + detail if detail else ''}"
        grouped.setdefault(message, []).append(error.address or "")
    details = []
    for message, addresses in list(grouped.items())[:shown]:
        named = [a.removeprefix("module.testbed.") for a in addresses if a]
        where = ""
        if named:  # an error of the configuration or the connection names no resource
            where = f"{named[0]}{f' (and {len(named) - 1} more)' if len(named) > 1 else ''}: "
        details.append(f"{where}{message}")
    if len(grouped) > shown:
        details.append(f"… and {len(grouped) - shown} more distinct error(s)")
    hint = "the full Terraform log is in the testbed's logs/ directory"
    if kept:
        hint = (
            f"the state is kept: `scs-testbed deploy` again continues, `scs-testbed destroy "
            f"{kept}` removes what was created; {hint}"
        )
    from scs_testbed.remote_state import lock_hint

    locked = lock_hint(result.errors)
    return TerraformError(
        f"terraform {command} failed ({len(result.errors)} error(s))",
        details=details or [f"exit code {result.returncode}"],
        hint=f"{locked}; {hint}" if locked else hint,
    )


def _with_retries(
    attempt_once: Callable[[int], RunResult],
    reporter: Reporter,
    retry_delays: tuple[float, ...],
    before_retry: Callable[[int], None] | None = None,
) -> RunResult:
    """Run `attempt_once(attempt)` again after known transient errors (`retrying.retried`).

    The wait is the planned backoff, or longer when an error shows the cloud's Retry-After.
    Returns the last result: successful, failed for good, or out of retries.
    """
    return retried(
        attempt_once,
        lambda result: result.short_reason() if result.transient() is not None else None,
        reporter.retry,
        retry_delays,
        wait=lambda result, planned: result.next_delay(planned),
        before_retry=before_retry,
    )


# --------------------------------------------------------------------------- status / list


def list_testbeds() -> list[dict[str, Any]]:
    """One row per testbed; a damaged one is listed with `damaged` saying what is wrong."""
    rows: list[dict[str, Any]] = []
    for workspace in list_workspaces():
        path = os.fspath(workspace.path)
        try:
            refuse_symlinked(workspace)
            meta = workspace.read_meta("environment", "cloud", "prefix")
            count = sum(len(r.get("instances", [])) for r in workspace.read_state_resources())
            if os.path.lexists(workspace.outputs_file):
                workspace.read_outputs()
        except DamagedRecord as damage:
            rows.append(
                {
                    "name": workspace.name,
                    "state": "damaged",
                    "damaged": f"{damage.path.name} {damage.problem}",
                    "hint": damage.hint,
                    "path": path,
                }
            )
            continue
        rows.append({**meta, "resources": count, "path": path, "damaged": None})
    return rows


def cloud_status(workspace: Workspace) -> dict[str, Any]:
    """Outputs plus what the cloud says about the testbed's servers, volumes and floating IP.

    The cloud's reads end within the connection's read timeout as a whole, while a line says
    what is waited for.
    """
    from scs_testbed import ui
    from scs_testbed.cloud import Deadline, cloud_calls, connect, gather, request_limit
    from scs_testbed.discover import KIND_SERVICE, find_resources

    meta = workspace.read_meta("cloud", "prefix")
    outputs = workspace.read_outputs() if os.path.lexists(workspace.outputs_file) else {}
    cloud = str(meta["cloud"])
    conn = connect(cloud)
    servers: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    ips: list[dict[str, Any]] = []
    limit = request_limit(conn)
    what = f"cloud {cloud!r}: the servers, volumes and floating IPs of testbed {workspace.name}"
    # a hanging endpoint becomes an error that names it
    with ui.waiting(what, limit=limit), cloud_calls(conn):
        deadline = Deadline.after(limit) if limit is not None else None
        found = find_resources(conn, str(meta["prefix"]), deadline)
        services = tuple(dict.fromkeys(KIND_SERVICE[item.kind] for item in found))
        gather(
            {"describe": lambda: _describe_found(conn, found, servers, volumes, ips)},
            deadline,
            services={"describe": services},
        )
    counts: dict[str, int] = {}
    for item in found:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    from scs_testbed import remote_state

    state = meta.get("state")
    # a shared testbed another machine destroyed: the store's state is empty, ours is stale
    if (
        state == "deployed"
        and remote_state.resources_in_store(meta.get("backend"), workspace.name) == 0
    ):
        state, outputs = "destroyed", {}
    return {
        "name": workspace.name,
        **{k: meta.get(k) for k in ("environment", "cloud", "prefix", "created")},
        "state": state,
        "outputs": outputs,
        "servers": sorted(servers, key=lambda s: s["name"]),
        "volumes": sorted(volumes, key=lambda v: v["name"]),
        "floating_ips": ips,
        "resource_counts": counts,
    }


def _describe_found(
    conn: Any, found: list[Any], servers: list[Any], volumes: list[Any], ips: list[Any]
) -> None:
    """Fill servers, volumes and floating IPs with what the cloud says about each found item."""
    for item in found:
        if item.kind == "server":
            server = conn.compute.get_server(item.id)
            addresses = [a["addr"] for net in (server.addresses or {}).values() for a in net]
            servers.append(
                {
                    "name": server.name,
                    "status": server.status,
                    "flavor": (server.flavor or {}).get("original_name")
                    or (server.flavor or {}).get("name"),
                    "addresses": addresses,
                }
            )
        elif item.kind == "volume":
            volume = conn.block_storage.get_volume(item.id)
            volumes.append({"name": volume.name, "status": volume.status, "size": volume.size})
        elif item.kind == "floating_ip":
            ip = conn.network.get_ip(item.id)
            ips.append(
                {
                    "address": ip.floating_ip_address,
                    "status": ip.status,
                    "fixed_ip": ip.fixed_ip_address,
                }
            )
