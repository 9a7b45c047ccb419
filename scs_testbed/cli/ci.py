"""CI commands: the whole lifecycle in one command (ci), log collection, the leftover check."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scs_testbed import ui
from scs_testbed.cli import options
from scs_testbed.cli.options import recorded
from scs_testbed.cli.signals import interrupt_name

if TYPE_CHECKING:
    from scs_testbed.steps import StepResult
    from scs_testbed.summary import Summary

MARKS = {
    "passed": ("✔", "green"),
    "failed": ("✘", "red"),
    "timeout": ("⏱", "red"),
    "interrupted": ("■", "yellow"),
    "skipped": ("-", "dim"),
    "not run": ("·", "dim"),
}


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command()(ci)
    app.command()(collect)
    app.command()(leftovers)


def ci(
    env: options.EnvOption,
    name: options.NameOption = None,
    nodes: options.Nodes = None,
    override: options.Overrides = None,
    env_dir: options.EnvDir = None,
    terraform: options.TerraformBinary = None,
    destroy: Annotated[
        str,
        typer.Option("--destroy", help="When to destroy the testbed: always, on-failure or never."),
    ] = "always",
    timeout: Annotated[
        list[str] | None,
        typer.Option(
            "--timeout",
            metavar="STEP=SECONDS",
            help="Stop a step after SECONDS (repeatable). Defaults: cleanup 1800, check 600, "
            "deploy 3600, watch 14400, smoke 3600, collect 900, destroy 3600.",
            show_default=False,
        ),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip", metavar="STEP", help="Leave a step out (repeatable).", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Directory for summary.json, the steps' logs and the log archive "
            "(default: ./ci-NAME).",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", metavar="FILE", help="Write the steps as JUnit XML.", show_default=False
        ),
    ] = None,
    stop_grace: Annotated[
        float,
        typer.Option(
            "--stop-grace",
            help="Seconds a stopped step gets to end cleanly before it is killed.",
            callback=options.positive_seconds,
        ),
    ] = 90.0,
    as_json: options.Json = False,
    record: options.Record = None,
) -> None:
    """The whole lifecycle for CI: cleanup, check, deploy, watch, smoke, then collect and
    destroy whatever happened (failures, timeouts, Ctrl-C, SIGTERM); exit code of the first
    failing step."""
    if record is not None:
        raise recorded(record, name)
    from scs_testbed import ci as core
    from scs_testbed.steps import DESTROY_POLICIES
    from scs_testbed.summary import write_junit
    from scs_testbed.testbed import load_target
    from scs_testbed.workspace import Workspace

    if destroy not in DESTROY_POLICIES:
        from scs_testbed.errors import InputError

        raise InputError(
            f"--destroy {destroy!r} is not a policy",
            hint=f"choose one of: {', '.join(DESTROY_POLICIES)}",
        )
    timeouts = core.parse_timeouts(timeout or [])
    skipped = core.check_skips(skip or [])
    target = load_target(env, name, nodes, override, env_dir, validate=False)
    options = [f"--nodes={nodes}"] if nodes is not None else []
    options += [f"--override={o}" for o in override or []]
    options += [f"--env-dir={env_dir}"] if env_dir is not None else []
    plan = core.Plan(
        environment=env,
        name=target.name,
        cloud=target.cloud,
        prefix=target.prefix,
        output_dir=(output or Path(f"ci-{target.name}")).absolute(),
        options=options,
        terraform=terraform,
        has_testbed=lambda: Workspace.named(target.name).exists,
    )
    engine = core.Engine(
        plan,
        steps=core.STEPS,
        destroy=destroy,
        timeouts=timeouts,
        skip=skipped,
        reporter=_Reporter(),
        grace=stop_grace,
        signal_name=interrupt_name,
    )
    ui.info(
        f"ci of testbed {target.name} (environment {env}, cloud {target.cloud}): {plan.output_dir}"
    )
    summary = engine.run()
    if junit is not None:
        write_junit(summary, junit)
    _show(summary)
    if as_json:
        ui.print_json(summary.as_dict())
    raise typer.Exit(summary.exit_code)


class _Reporter:
    """Step headers and the children's output (prefixed by the step) on stderr."""

    def step_started(self, step: str, argv: list[str]) -> None:
        shown = shlex.join(["scs-testbed", *argv[3:]])  # argv: python -m scs_testbed …
        ui.info(ui.line(("▶ ", "bold"), (step, "bold"), "  ", (shown, "dim")))

    def output(self, step: str, line: str) -> None:
        ui.info(ui.line((f"  {step} │ ", "dim"), line))

    def step_finished(self, result: StepResult) -> None:
        mark, style = MARKS[result.status]
        code = f", exit {result.exit_code}" if result.exit_code is not None else ""
        why = f": {result.reason}" if result.reason else ""
        ui.info(
            ui.line(
                (f"{mark} {result.step}", style),
                f" {result.status} ({result.seconds:.1f} s{code}){why}",
            )
        )


def _show(summary: Summary) -> None:
    rows = [
        (
            ui.line(MARKS[r.status]),
            r.step,
            r.status,
            f"{r.seconds:.1f}",
            "" if r.exit_code is None else str(r.exit_code),
            r.reason,
        )
        for r in summary.steps
    ]
    title = f"ci {summary.testbed}: {summary.result} in {summary.seconds / 60:.1f} min"
    columns = ["", "step", "status", "seconds", "exit", "note"]
    ui.err_console.print(ui.table(title, columns, rows))
    failed = summary.first_failure
    if summary.interrupted_by:
        ui.info(
            f"interrupted ({summary.interrupted_by}): the teardown ran as shown; "
            f"exit {summary.exit_code}",
            "yellow",
        )
    elif failed is not None:
        ui.failure(f"step {failed.step} {failed.status}; its log: {failed.log}")
    else:
        ui.success(f"testbed {summary.testbed}: every step passed")


def collect(
    name: options.NameArgument = None,
    env: options.EnvFilter = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Directory to write the archive to.")
    ] = Path("."),
    as_json: options.Json = False,
) -> None:
    """Collect a testbed's logs into one archive (console logs, cloud-init, bootstrap progress
    and log, Terraform's logs, status), credentials redacted."""
    from scs_testbed.collect import collect as gather
    from scs_testbed.workspace import find_workspace

    workspace = find_workspace(name, env)
    result = gather(workspace, output)
    if as_json:
        ui.print_json(result.as_dict())
    else:
        rows = [(i.path, i.status, i.bytes or "", i.reason) for i in result.items]
        ui.err_console.print(ui.table(None, ["item", "status", "bytes", "note"], rows))
    ui.success(f"{result.gathered} item(s) of testbed {workspace.name} in {result.archive}")


def leftovers(
    env: options.EnvOption,
    name: options.NameOption = None,
    nodes: options.Nodes = None,
    override: options.Overrides = None,
    env_dir: options.EnvDir = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete them (exactly this testbed's names).")
    ] = False,
    as_json: options.Json = False,
) -> None:
    """Resources carrying this testbed's exact names (exit 4 while any remain); --delete
    removes them. Never touches anything else in the project."""
    from scs_testbed.ci import find_leftovers
    from scs_testbed.errors import TerraformError
    from scs_testbed.testbed import load_target

    target = load_target(env, name, nodes, override, env_dir, validate=False)
    remaining, removed = find_leftovers(target.cloud, target.prefix, delete=delete)
    if as_json:
        rows = [{"kind": f.kind, "name": f.name, "id": f.id} for f in remaining]
        ui.print_json(
            {"prefix": target.prefix, "cloud": target.cloud, "removed": removed, "remaining": rows}
        )
    if removed:
        ui.info(f"{removed} resource(s) named {target.prefix}-* removed")
    if remaining:
        error = TerraformError(
            f"{len(remaining)} resource(s) named {target.prefix}-* remain "
            f"in cloud {target.cloud!r}",
            details=[f"{f.kind} {f.name} ({f.id})" for f in remaining],
            hint=f"remove them: scs-testbed leftovers -e {env} --name {target.name} --delete",
        )
        if as_json:  # the listing above is the one JSON document; the error goes to stderr
            ui.show_error(error)
            raise typer.Exit(error.exit_code)
        raise error
    ui.success(f"nothing named {target.prefix}-* in cloud {target.cloud!r}")
