"""plan and deploy as steps (`PLAN`, `DEPLOY`) run by the one engine (`steps.Engine`).

deploy: preflight → init (undo: the old records back) → apply with retries of transient errors
(undo: recorded "interrupted" on Ctrl-C) → outputs; its teardown destroys what was created when
asked (`--destroy-on-failure`). The testbed's lock is held throughout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scs_testbed.errors import EXIT_PREFLIGHT, EXIT_TERRAFORM, TerraformError
from scs_testbed.remote_state import is_remote
from scs_testbed.steps import TEARDOWN, Engine, Step
from scs_testbed.teardown import destroy
from scs_testbed.terraform import RunResult, TerraformRunner
from scs_testbed.terraform_binary import find_terraform
from scs_testbed.testbed import (
    RETRY_DELAYS,
    Reporter,
    Target,
    _with_retries,
    preflight,
    terraform_failure,
)
from scs_testbed.testbed_files import (
    SavedRecords,
    mark_untracked,
    record_testbed,
    restore_records,
    save_records,
    set_state,
    write_workspace,
)
from scs_testbed.workspace import Workspace, locked

PLAN_FILE = "tfplan"


@dataclass
class Deployment:
    """What the steps of one plan or deploy share."""

    target: Target
    terraform: str | None  # as given (a destroy after a failure finds the binary again)
    binary: str
    reporter: Reporter
    skip_check: bool = False
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    parallelism: int | None = None
    # also told of every event of the apply (e.g. EarlyHostKeys, to read consoles early)
    on_event: Callable[[dict[str, Any]], None] | None = None
    runner: TerraformRunner | None = None
    saved: SavedRecords | None = None
    applying: bool = False  # the plan worked and apply began: the cloud may have changed
    result: RunResult | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def workspace(self) -> Workspace:
        return self.target.workspace


def _preflight_step(run: Deployment) -> None:
    workspace = run.workspace
    already = workspace.exists and (
        bool(workspace.read_state_resources())
        or (is_remote(workspace.path) and workspace.read_meta().get("state") not in (None, "new"))
    )
    if run.skip_check:
        run.reporter.note("preflight skipped (--skip-check)")
    elif already:
        run.reporter.note(
            "the testbed already has resources: preflight skipped, Terraform converges"
        )
    else:
        preflight(run.target, run.reporter)


def _init_step(run: Deployment) -> None:
    """Write what Terraform reads, then init. Nothing changes in the cloud before apply: a
    failure up to the apply leaves the old records (or, for a new testbed, nothing) behind."""
    run.saved = save_records(run.workspace)
    run.runner = write_workspace(run.target, run.binary)
    run.reporter.step("terraform init")
    run.runner.init()


def _restore_records(run: Deployment, error: BaseException | None) -> None:
    if run.saved is not None and not run.applying:
        restore_records(run.saved)


def _plan_step(run: Deployment) -> None:
    assert run.runner is not None
    run.reporter.step("terraform plan")
    result = run.runner.stream("plan", out=PLAN_FILE, on_event=run.reporter.terraform_event)
    if not result.ok:
        raise terraform_failure(result.command, result)
    record_testbed(run.target, run.binary)
    run.result = result


def _begin_apply(run: Deployment) -> None:
    # The plan just worked (the cloud answered): from here on resources may change, and the
    # records describe what is in the cloud.
    if not run.applying:
        record_testbed(run.target, run.binary)
        set_state(run.workspace, "deploying")
        run.applying = True


def _before_retry(run: Deployment) -> None:
    """A failed apply may have created what it never heard of: remove it before the next one."""
    from scs_testbed.leftovers import remove_untracked

    if not run.applying:
        return  # the plan failed: nothing was created
    assert run.runner is not None
    mark_untracked(run.workspace)
    remove_untracked(run.target.cloud, run.target.prefix, run.runner, run.reporter)


def _apply_step(run: Deployment) -> None:
    assert run.runner is not None
    result = _apply_with_retries(
        run.runner,
        run.reporter,
        run.retry_delays,
        run.parallelism,
        before_apply=lambda: _begin_apply(run),
        before_retry=lambda _attempt: _before_retry(run),
        on_event=run.on_event,
    )
    if not result.ok:
        if run.applying:
            set_state(run.workspace, "failed")
        raise terraform_failure(
            result.command, result, kept=run.target.name if run.applying else None
        )


def _record_interruption(run: Deployment, error: BaseException | None) -> None:
    if isinstance(error, KeyboardInterrupt) and run.applying:
        set_state(run.workspace, "interrupted")


def _outputs_step(run: Deployment) -> None:
    """An apply that exits 0 is not yet a testbed: its state and outputs must say so."""
    assert run.runner is not None
    try:
        outputs = run.runner.outputs()
        run.runner.verify_applied(outputs)
    except TerraformError:
        set_state(run.workspace, "failed")
        raise
    run.workspace.write_private(run.workspace.outputs_file, json.dumps(outputs, indent=2) + "\n")
    set_state(run.workspace, "deployed")
    run.outputs = outputs


def _destroy_created(run: Deployment) -> None:
    run.reporter.step("deploy failed: destroying what was created (--destroy-on-failure)")
    destroy(run.workspace, run.terraform, run.reporter, force_cleanup=True)


PLAN: tuple[Step[Deployment], ...] = (
    Step("init", _init_step, exit_code=EXIT_TERRAFORM, undo=_restore_records),
    Step("plan", _plan_step, exit_code=EXIT_TERRAFORM),
)


DEPLOY: tuple[Step[Deployment], ...] = (
    Step("preflight", _preflight_step, exit_code=EXIT_PREFLIGHT),
    Step("init", _init_step, exit_code=EXIT_TERRAFORM, undo=_restore_records),
    Step("apply", _apply_step, exit_code=EXIT_TERRAFORM, undo=_record_interruption),
    Step("outputs", _outputs_step, exit_code=EXIT_TERRAFORM),
    Step("destroy", _destroy_created, TEARDOWN, exit_code=EXIT_TERRAFORM, destroys=True),
)


def plan(target: Target, terraform: str | None, reporter: Reporter) -> RunResult:
    """Write the workspace, init and plan (saved as tfplan); holds the testbed's lock."""
    binary = find_terraform(terraform)
    assert binary is not None
    run = Deployment(target, terraform, binary, reporter)
    with locked(target.workspace, "plan"):
        Engine(PLAN, run).run()
    assert run.result is not None
    return run.result


def deploy_testbed(
    env: str,
    name: str | None,
    nodes: int | None,
    overrides: list[str] | None,
    env_dir: Path | None,
    terraform: str | None,
    reporter: Reporter,
    *,
    on_deployed: Callable[[str, dict[str, Any]], None],
    watch: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """`scs-testbed deploy`: the testbed named and checked (`load_target`), its deploy (options:
    those of `deploy`), `on_deployed(name, outputs)` told, then its access written (ssh files,
    host keys pinned) and, with `watch`, the bootstrap followed. Returns the outputs.

    The servers' consoles are read for their host keys from the moment each is created, while
    the apply goes on (`EarlyHostKeys`): the wait for the keys after it is mostly gone."""
    from scs_testbed.access_setup import after_deploy
    from scs_testbed.remote.console import EarlyHostKeys
    from scs_testbed.testbed import load_target

    target = load_target(env, name, nodes, overrides, env_dir, terraform)
    early = EarlyHostKeys(target.cloud)
    try:
        outputs = deploy(target, terraform, reporter, on_event=early.terraform_event, **options)
    finally:
        known = early.stop()
    on_deployed(target.name, outputs)
    after_deploy(target.workspace, outputs, watch, known)
    return outputs


def deploy(
    target: Target,
    terraform: str | None,
    reporter: Reporter,
    *,
    skip_check: bool = False,
    destroy_on_failure: bool = False,
    retry_delays: tuple[float, ...] = RETRY_DELAYS,
    parallelism: int | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Preflight, then init + apply with retries of transient errors; returns the outputs.

    `on_event` is told of every event of the apply too. The testbed's lock is held
    throughout: a destroy (or another deploy) of it is refused.
    """
    with locked(target.workspace, "deploy"):
        return _deploy(
            target,
            terraform,
            reporter,
            skip_check=skip_check,
            destroy_on_failure=destroy_on_failure,
            retry_delays=retry_delays,
            parallelism=parallelism,
            on_event=on_event,
        )


def _deploy(
    target: Target,
    terraform: str | None,
    reporter: Reporter,
    *,
    skip_check: bool,
    destroy_on_failure: bool,
    retry_delays: tuple[float, ...],
    parallelism: int | None,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    binary = find_terraform(terraform)
    assert binary is not None
    run = Deployment(
        target,
        terraform,
        binary,
        reporter,
        skip_check,
        retry_delays,
        parallelism,
        on_event,
    )
    policy = "on-failure" if destroy_on_failure else "never"
    Engine(DEPLOY, run, destroy=policy, exists=lambda: run.applying).run()
    return run.outputs


def _apply_with_retries(
    runner: TerraformRunner,
    reporter: Reporter,
    retry_delays: tuple[float, ...],
    parallelism: int | None,
    before_apply: Callable[[], None] | None = None,
    before_retry: Callable[[int], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    def applied(event: dict[str, Any]) -> None:
        reporter.terraform_event(event)
        if on_event is not None:
            on_event(event)

    def plan_and_apply(attempt: int) -> RunResult:
        reporter.step("terraform plan" + (f" (attempt {attempt})" if attempt > 1 else ""))
        # A retry plans from the state the failed attempt just wrote: refreshing every resource
        # again (one read each, none retried by the provider) would meet the same flaky API
        # on every attempt; tainted resources are replaced all the same.
        refresh = {"refresh": False} if attempt > 1 else {}
        planned = runner.stream(
            "plan",
            out=PLAN_FILE,
            parallelism=parallelism,
            on_event=reporter.terraform_event,
            **refresh,
        )
        if not planned.ok:
            return planned
        if before_apply is not None:
            before_apply()
        reporter.step("terraform apply")
        return runner.stream("apply", PLAN_FILE, parallelism=parallelism, on_event=applied)

    return _with_retries(plan_and_apply, reporter, retry_delays, before_retry)
