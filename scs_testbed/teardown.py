"""destroy as steps (`DESTROY`) run by the one engine (`steps.Engine`): what the records and the
state hold → terraform destroy (with retries) → nothing with the testbed's names left (removed
with --force-cleanup, or when an apply of the testbed failed midway) → the working directory
removed.

The recorded state changes only once destruction has really begun: a cloud that cannot be
reached (or a damaged record) leaves the testbed exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scs_testbed.errors import EXIT_INPUT, EXIT_TERRAFORM, TerraformError
from scs_testbed.leftovers import with_cloud_retries
from scs_testbed.remote_state import is_remote
from scs_testbed.steps import Engine, Step
from scs_testbed.terraform import RunResult, TerraformRunner
from scs_testbed.testbed import (
    DESTROY_RETRY_DELAYS,
    Reporter,
    _with_retries,
    open_runner,
    terraform_failure,
)
from scs_testbed.testbed_files import remove_workspace, set_state
from scs_testbed.workspace import Workspace, locked

# Testbed states in which an apply may have left resources Terraform does not track.
UNFINISHED_STATES = ("deploying", "interrupted", "failed", "destroying", "destroy-failed")


@dataclass
class DestroyResult:
    leftovers_found: int
    leftovers_removed: int


def destroy(
    workspace: Workspace,
    terraform: str | None,
    reporter: Reporter,
    *,
    force_cleanup: bool = False,
    retry_delays: tuple[float, ...] = DESTROY_RETRY_DELAYS,
) -> DestroyResult:
    """terraform destroy, then make sure nothing with the testbed's names is left.

    The recorded state changes only once destruction has really begun: a cloud that cannot be
    reached (or a damaged record) leaves the testbed exactly as it was. The testbed's lock is
    held throughout, so a recorded "deploying" means no deploy runs any more.
    """
    with locked(workspace, "destroy"):
        return _destroy(
            workspace, terraform, reporter, force_cleanup=force_cleanup, retry_delays=retry_delays
        )


@dataclass
class Destruction:
    """What the steps of one destroy share."""

    workspace: Workspace
    terraform: str | None
    reporter: Reporter
    force_cleanup: bool
    retry_delays: tuple[float, ...]
    prefix: str = ""
    cloud: str = ""
    conn: Any = None
    runner: TerraformRunner | None = None
    leftovers: list[Any] = field(default_factory=list)
    removed: int = 0
    untracked: bool = False  # an apply failed midway: the cloud may hold what no state holds


def _read_records(run: Destruction) -> None:
    """What the testbed is, what its state holds, and a connection to its cloud."""
    from scs_testbed.cloud import connect

    workspace = run.workspace
    meta = workspace.read_meta("prefix", "cloud")
    run.prefix, run.cloud = str(meta["prefix"]), str(meta["cloud"])
    resources = workspace.read_state_resources()
    if is_remote(workspace.path):  # the state is in the shared store: read it from there
        reader = open_runner(workspace, run.terraform)
        reader.init()
        resources = reader.state_resources()
    run.runner = open_runner(workspace, run.terraform) if resources else None
    run.untracked = bool(meta.get("untracked"))
    # An apply that failed midway (and was retried), or one interrupted or killed, may have left
    # resources whose create was in flight but never reached the state. They carry this
    # testbed's exact names (the preflight made sure no other testbed uses them), so removing
    # them is part of destroying this testbed.
    if run.untracked:
        unfinished = "an apply of this testbed failed midway"
    elif meta.get("state") in UNFINISHED_STATES:
        unfinished = f"the last deploy did not finish ({meta.get('state')})"
    else:
        unfinished = ""
    if unfinished and not run.force_cleanup:
        run.reporter.note(
            f"{unfinished}: resources with this testbed's names that Terraform does not track "
            "are removed too"
        )
        run.force_cleanup = True
    # before anything is recorded: an unreachable cloud changes nothing (a few retries first)
    run.conn = with_cloud_retries(lambda: connect(run.cloud), run.reporter, run.retry_delays[:3])


def _terraform_destroy(run: Destruction) -> None:
    runner, reporter, workspace = run.runner, run.reporter, run.workspace
    if runner is None:
        reporter.note("the Terraform state holds no resources")
        return
    reporter.step("terraform init")
    runner.init()
    if run.untracked:
        # what a lost answer created (a second interface on the router, a duplicate server)
        # would hold up the deletes Terraform waits for: it goes first
        from scs_testbed.leftovers import remove_untracked

        remove_untracked(run.cloud, run.prefix, runner, reporter)
    began = False

    def on_event(event: dict[str, Any]) -> None:
        nonlocal began
        if event.get("type") == "apply_start" and not began:
            set_state(workspace, "destroying")
            began = True
        reporter.terraform_event(event)

    def destroy_once(attempt: int) -> RunResult:
        reporter.step("terraform destroy" + (f" (attempt {attempt})" if attempt > 1 else ""))
        # No refresh: reading every resource (and data source) back first took about a
        # quarter of a destroy and meets a flaky API once more on every attempt. A delete of
        # what is already gone (deleted by hand, or by an attempt whose answer was lost) is a
        # 404, which the provider takes as done; the leftover check afterwards asks the cloud.
        return runner.stream(
            "apply",
            destroy=True,
            auto_approve=_flag(),
            on_event=on_event,
            refresh=False,
        )

    result = _with_retries(destroy_once, reporter, run.retry_delays)
    if not result.ok and not run.force_cleanup:
        if began:
            set_state(workspace, "destroy-failed")
        raise terraform_failure(result.command, result)


def _remove_leftovers(run: Destruction) -> None:
    """Nothing with the testbed's names may be left; --force-cleanup removes what is."""
    from scs_testbed.discover import delete_resources, find_resources

    prefix, reporter = run.prefix, run.reporter
    reporter.step(f"looking for leftovers named {prefix}-* in cloud {run.cloud!r}")
    # the cloud's transient errors (a 503, a reset) do not end the check: it is asked again
    retried = run.retry_delays
    leftovers = with_cloud_retries(lambda: find_resources(run.conn, prefix), reporter, retried)
    if leftovers and run.force_cleanup:
        reporter.step(f"removing {len(leftovers)} leftover(s) (--force-cleanup)")
        set_state(run.workspace, "destroying")
        remaining = with_cloud_retries(
            lambda: delete_resources(
                run.conn, prefix, on_delete=lambda f: reporter.note(f"deleted {f.kind} {f.name}")
            ),
            reporter,
            retried,
        )
        run.removed = len(leftovers) - len(remaining)
        leftovers = remaining
    run.leftovers = leftovers
    if leftovers:
        set_state(run.workspace, "leftovers")
        raise TerraformError(
            f"{len(leftovers)} resource(s) named {prefix}-* remain in the project",
            details=[f"{f.kind} {f.name} ({f.id})" for f in leftovers],
            hint=f"remove them with: scs-testbed destroy {run.workspace.name} --force-cleanup",
        )


DESTROY: tuple[Step[Destruction], ...] = (
    Step("records", _read_records, exit_code=EXIT_INPUT),
    Step("terraform destroy", _terraform_destroy, exit_code=EXIT_TERRAFORM),
    Step("leftovers", _remove_leftovers, exit_code=EXIT_TERRAFORM),
    Step("remove", lambda run: remove_workspace(run.workspace), exit_code=EXIT_INPUT),
)


def _destroy(
    workspace: Workspace,
    terraform: str | None,
    reporter: Reporter,
    *,
    force_cleanup: bool,
    retry_delays: tuple[float, ...],
) -> DestroyResult:
    run = Destruction(workspace, terraform, reporter, force_cleanup, retry_delays)
    Engine(DESTROY, run).run()
    return DestroyResult(len(run.leftovers) + run.removed, run.removed)


def _flag() -> Any:
    from python_terraform import IsFlagged

    return IsFlagged
