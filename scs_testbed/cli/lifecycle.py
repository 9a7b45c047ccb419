"""Lifecycle commands: check, plan, deploy, status, list, destroy."""

from __future__ import annotations

from typing import Annotated

import typer

from scs_testbed.cli.options import (
    EnvDir,
    EnvFilter,
    EnvOption,
    Json,
    NameArgument,
    NameOption,
    Nodes,
    Overrides,
    Record,
    TerraformBinary,
    at_least_one,
    recorded,
)


def check(
    env: EnvOption,
    name: NameOption = None,
    nodes: Nodes = None,
    override: Overrides = None,
    env_dir: EnvDir = None,
    as_json: Json = False,
) -> None:
    """Preflight: quotas, flavors, image, public network, AZs and volume type of the cloud."""
    from scs_testbed import testbed, ui
    from scs_testbed.errors import EXIT_PREFLIGHT
    from scs_testbed.lifecycle_view import preflight_table

    target = testbed.load_target(env, name, nodes, override, env_dir, validate=False)
    report = testbed.check(target)
    if as_json:
        ui.print_json(report.as_dict())
    else:
        ui.show(preflight_table(report))
        for row in report.rows:
            if row.message and (row.warning or not row.ok):
                (ui.warn if row.ok else ui.failure)(row.message)
    if not report.ok:
        raise typer.Exit(EXIT_PREFLIGHT)


def plan(
    env: EnvOption,
    name: NameOption = None,
    nodes: Nodes = None,
    override: Overrides = None,
    env_dir: EnvDir = None,
    terraform: TerraformBinary = None,
) -> None:
    """Plan the testbed (Terraform plan in the testbed's working directory)."""
    from scs_testbed import deployment, testbed
    from scs_testbed.lifecycle_view import ConsoleReporter

    reporter = ConsoleReporter()
    try:
        target = testbed.load_target(env, name, nodes, override, env_dir, terraform)
        deployment.plan(target, terraform, reporter)
    finally:
        reporter.finish()


def deploy(
    env: EnvOption,
    name: NameOption = None,
    nodes: Nodes = None,
    override: Overrides = None,
    env_dir: EnvDir = None,
    terraform: TerraformBinary = None,
    skip_check: Annotated[bool, typer.Option("--skip-check", help="Skip the preflight.")] = False,
    destroy_on_failure: Annotated[
        bool,
        typer.Option(
            "--destroy-on-failure",
            help="Destroy what was created if the deploy fails or is interrupted.",
        ),
    ] = False,
    parallelism: Annotated[
        int | None,
        typer.Option(
            help="Terraform parallelism, >= 1 (lower it for clouds with API rate limits).",
            callback=at_least_one,
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Follow the in-VM bootstrap afterwards (scs-testbed watch)."),
    ] = False,
    record: Record = None,
) -> None:
    """Deploy a testbed: preflight, then Terraform apply with live progress."""
    if record is not None:
        raise recorded(record, name)
    from scs_testbed import deployment, ui
    from scs_testbed.lifecycle_view import ConsoleReporter

    reporter = ConsoleReporter()

    def show(name: str, outputs: dict[str, object]) -> None:
        reporter.finish()
        rows = [(k, _plain(v)) for k, v in outputs.items()]
        ui.show(ui.table("outputs", ["output", "value"], rows))
        ui.success(f"testbed {name} deployed: manager at {outputs.get('manager_address')}")

    try:
        deployment.deploy_testbed(
            env, name, nodes, override, env_dir, terraform, reporter,
            on_deployed=show, watch=watch, skip_check=skip_check,
            destroy_on_failure=destroy_on_failure, parallelism=parallelism,
        )  # fmt: skip
    finally:
        reporter.finish()


def _plain(value: object) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def status(name: NameArgument = None, env: EnvFilter = None, as_json: Json = False) -> None:
    """Show a testbed: outputs, and its servers, volumes and floating IP as the cloud sees them."""
    from scs_testbed import testbed, ui
    from scs_testbed.workspace import find_workspace

    info = testbed.cloud_status(find_workspace(name, env))
    if as_json:
        ui.print_json(info)
        return
    ui.show(
        ui.table(
            f"testbed {info['name']} ({info['environment']}, cloud {info['cloud']}, "
            f"state {info['state']})",
            ["output", "value"],
            [(k, _plain(v)) for k, v in info["outputs"].items()],
        )
    )
    ui.show(
        ui.table(
            "servers",
            ["name", "status", "flavor", "addresses"],
            [
                (s["name"], s["status"], s["flavor"], ", ".join(s["addresses"]))
                for s in info["servers"]
            ],
        )
    )
    ui.show(
        ui.table(
            "volumes",
            ["name", "status", "size (GB)"],
            [(v["name"], v["status"], v["size"]) for v in info["volumes"]],
        )
    )
    ui.show(
        ui.table(
            "floating IPs",
            ["address", "status", "fixed IP"],
            [(i["address"], i["status"], i["fixed_ip"]) for i in info["floating_ips"]],
        )
    )


def list_(
    as_json: Json = False,
    remote: Annotated[
        bool, typer.Option("--remote", help="List the testbeds of the shared state store.")
    ] = False,
) -> None:
    """List known testbeds: environment, cloud, created, state, resources in the state."""
    from scs_testbed import testbed, ui
    from scs_testbed.lifecycle_view import show_testbeds

    if remote:  # every machine's testbeds (docs/remote-state.md)
        from scs_testbed.cli.porting import remote_list

        remote_list(as_json)
        return
    rows = testbed.list_testbeds()
    if as_json:
        ui.print_json(rows)
        return
    show_testbeds(rows)


def destroy(
    name: NameArgument = None,
    env: EnvFilter = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force_cleanup: Annotated[
        bool,
        typer.Option(
            "--force-cleanup",
            help="Also delete leftovers carrying this testbed's names "
            "(never anything else in the project).",
        ),
    ] = False,
    terraform: TerraformBinary = None,
) -> None:
    """Destroy a testbed and check that nothing carrying its names remains."""
    from scs_testbed import teardown, ui
    from scs_testbed.errors import InputError
    from scs_testbed.lifecycle_view import ConsoleReporter
    from scs_testbed.workspace import find_workspace

    workspace = find_workspace(name, env)
    meta = workspace.read_meta("prefix", "cloud")
    if not yes:
        if not ui.can_ask():
            raise InputError(
                f"nothing destroyed: destroying testbed {workspace.name} needs confirmation "
                "and there is no terminal to ask",
                hint=f"pass --yes to destroy it without asking: scs-testbed destroy "
                f"{workspace.name} --yes",
            )
        question = (
            f"Destroy testbed {workspace.name} (prefix {meta.get('prefix')}, cloud "
            f"{meta.get('cloud')})?"
        )
        if not ui.confirm(question):
            ui.info(f"nothing destroyed: not confirmed (testbed {workspace.name} is unchanged)")
            return
    reporter = ConsoleReporter()
    try:
        result = teardown.destroy(workspace, terraform, reporter, force_cleanup=force_cleanup)
    finally:
        reporter.finish()
    extra = f", {result.leftovers_removed} leftover(s) removed" if result.leftovers_removed else ""
    ui.success(
        f"testbed {workspace.name} destroyed: nothing named {meta.get('prefix')}-* remains{extra}"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command()(check)
    app.command()(plan)
    app.command()(deploy)
    app.command()(status)
    app.command("list")(list_)
    app.command()(destroy)
