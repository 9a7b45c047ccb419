"""Porting and teams: `doctor`, `env diff`, `remote-state set/show/unset`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from scs_testbed.cli.options import EnvDir, Json, TerraformBinary, environment_completion

remote_app = typer.Typer(
    help="Where new testbeds keep their Terraform state: an S3-compatible store (teams, CI) "
    "or this machine.",
    no_args_is_help=True,
)


def doctor(
    cloud: Annotated[
        str | None,
        typer.Option("--cloud", help="Also log in to this clouds.yaml entry (credentials)."),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            "-e",
            "--env",
            help="Also report the package mirrors this environment's testbed will use.",
            autocompletion=environment_completion,
        ),
    ] = None,
    terraform: TerraformBinary = None,
    as_json: Json = False,
) -> None:
    """Check the local prerequisites: OpenTofu/Terraform, provider, ssh, sshuttle, clouds.yaml,
    credentials, state directory, remote state, and with -e the package mirrors. Exit 2 when
    something must be fixed."""
    from scs_testbed import ui
    from scs_testbed.doctor import OK, WARNING, run_doctor

    started = time.monotonic()
    report = run_doctor(terraform, cloud, environment=environment)
    elapsed = time.monotonic() - started
    if as_json:
        ui.print_json({**report.as_dict(), "seconds": round(elapsed, 2)})
    else:
        marks = {OK: ("✔ ok     ", "green"), WARNING: ("! warning", "yellow")}
        for f in report.findings:
            mark = marks.get(f.status, ("✘ problem", "red"))
            ui.console.print(ui.line(mark, " ", (f.check, "bold"), f": {f.found}"), soft_wrap=True)
            if f.todo and f.status != OK:
                ui.console.print(ui.line("            → ", f.todo), soft_wrap=True)
        problems = sum(f.status == "problem" for f in report.findings)
        summary = f"{problems} problem(s)" if problems else "all prerequisites are met"
        ui.info(f"{summary} ({elapsed:.1f} s)")
    if not report.ok:
        raise typer.Exit(2)


def env_diff(
    a: Annotated[
        str,
        typer.Argument(
            help="First environment: a name, a path to a .tfvars file (e.g. one of the "
            "reference's), or builtin:NAME for the built-in one.",
            autocompletion=environment_completion,
        ),
    ],
    b: Annotated[
        str,
        typer.Argument(
            help="Second environment (as the first).", autocompletion=environment_completion
        ),
    ],
    override_a: Annotated[
        list[str] | None,
        typer.Option("--override-a", metavar="KEY=VALUE", help="Override a variable of A."),
    ] = None,
    override_b: Annotated[
        list[str] | None,
        typer.Option("--override-b", metavar="KEY=VALUE", help="Override a variable of B."),
    ] = None,
    env_dir: EnvDir = None,
    as_json: Json = False,
) -> None:
    """Show the merged variables that differ between two environments, with their sources."""
    from scs_testbed import ui
    from scs_testbed.cli.envs import _hcl
    from scs_testbed.environment import Catalog
    from scs_testbed.environment_diff import diff_environments, load_side

    catalog = Catalog.locate(env_dir)
    env_a = load_side(a, catalog, override_a or [])
    env_b = load_side(b, catalog, override_b or [])
    label_a, label_b = (a, b) if a != b else (f"{a} (A)", f"{b} (B)")
    differences = diff_environments(env_a, env_b)
    if as_json:
        ui.print_json(
            {
                "a": {"name": env_a.name, "path": str(env_a.path)},
                "b": {"name": env_b.name, "path": str(env_b.path)},
                "identical": not differences,
                "differences": [d.as_dict("a", "b") for d in differences],
            }
        )
        return
    if not differences:
        ui.success(f"{label_a} and {label_b} have identical merged variables")
        return
    ui.show(
        ui.table(
            f"{len(differences)} variable(s) differ",
            ["variable", label_a, "from", label_b, "from"],
            [(d.key, _hcl(d.value_a), d.where_a, _hcl(d.value_b), d.where_b) for d in differences],
        )
    )


@remote_app.command("set")
def remote_set(
    endpoint: Annotated[str, typer.Option("--endpoint", help="URL of the S3 API.")],
    bucket: Annotated[str, typer.Option("--bucket", help="Bucket for the states (exists).")],
    region: Annotated[
        str, typer.Option("--region", help="Region name the store expects (any for most).")
    ] = "us-east-1",
    prefix: Annotated[
        str, typer.Option("--prefix", help="Key prefix: <prefix>/<testbed>/terraform.tfstate.")
    ] = "scs-testbed",
    as_json: Json = False,
) -> None:
    """Keep the state of new testbeds in an S3-compatible store (credentials: AWS_* variables)."""
    from scs_testbed import remote_state, ui

    config = remote_state.check_settings(endpoint, bucket, region, prefix)
    path = remote_state.save_config(config)
    if as_json:
        ui.print_json({"path": str(path), **config.as_record("<testbed>")})
        return
    ui.success(f"new testbeds keep their state in {config.describe()} ({path})")
    missing = remote_state.missing_credentials()
    if missing:
        ui.warn(f"export {' and '.join(missing)} before deploying (never written to disk)")


@remote_app.command("show")
def remote_show(as_json: Json = False) -> None:
    """Show where new testbeds keep their state."""
    from scs_testbed import remote_state, ui

    config = remote_state.load_config()
    path = remote_state.config_path()
    if as_json:
        ui.print_json(
            {"path": str(path), "remote": config.as_record("<testbed>") if config else None}
        )
    elif config is None:
        ui.info(f"local state (no {path})")
    else:
        ui.info(f"{config.describe()} (from {path})")


@remote_app.command("unset")
def remote_unset() -> None:
    """New testbeds keep their state on this machine again (existing ones keep theirs)."""
    from scs_testbed import remote_state, ui

    if remote_state.remove_config():
        ui.success("new testbeds keep their state on this machine")
    else:
        ui.info("remote state was not configured")


@remote_app.command("list")
def remote_list(as_json: Json = False) -> None:
    """List the testbeds in the shared store (also those deployed by other machines)."""
    from scs_testbed import remote_state, ui

    rows = remote_state.list_store()
    if as_json:
        ui.print_json(rows)
        return
    if not rows:
        ui.info("no testbeds in the shared store")
        return
    ui.show(
        ui.table(
            "testbeds in the shared store",
            ["name", "environment", "resources", "locked", "state object"],
            [
                (
                    r["name"],
                    r["environment"],
                    r["resources"],
                    "yes" if r["locked"] else "",
                    r["key"],
                )
                for r in rows
            ],
        )
    )


@remote_app.command("attach")
def remote_attach(
    name: Annotated[str, typer.Argument(help="Name of the testbed in the shared store.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The testbed's private key (id_ed25519), for ssh."),
    ] = None,
    terraform: TerraformBinary = None,
) -> None:
    """Use a testbed another machine deployed: status, ssh (with --key) and destroy work here."""
    from scs_testbed import ui
    from scs_testbed.attach import attach

    meta = attach(name, key, terraform)
    ui.success(f"testbed {name} ({meta['environment']}, cloud {meta['cloud']}) attached")
    if meta.get("host_keys"):
        ui.info(f"host keys {meta['host_keys']}")
    if key is None:
        ui.warn("no --key: status and destroy work, ssh does not (docs/remote-state.md)")


def env_new(
    name: Annotated[str, typer.Argument(help="Name of the new environment (<name>.tfvars).")],
    cloud: Annotated[str, typer.Option("--cloud", help="The clouds.yaml entry to read.")],
    public: Annotated[
        str | None, typer.Option("--public", help="External network (when there are several).")
    ] = None,
    flavor_manager: Annotated[str | None, typer.Option("--flavor-manager")] = None,
    flavor_node: Annotated[str | None, typer.Option("--flavor-node")] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="Image of manager and nodes.")
    ] = None,
    availability_zone: Annotated[str | None, typer.Option("--availability-zone")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Never ask: a choice left open is an error.")
    ] = False,
    env_dir: EnvDir = None,
    as_json: Json = False,
) -> None:
    """Read a cloud and write an environment for it, every choice explained in a comment;
    then run the preflight. Nothing is written when the cloud cannot host a testbed."""
    from scs_testbed import ui
    from scs_testbed.environment_files import display_path
    from scs_testbed.errors import EXIT_PREFLIGHT
    from scs_testbed.lifecycle_view import preflight_table
    from scs_testbed.new_environment import new_environment
    from scs_testbed.proposal import Choices

    def ask(external: list[str]) -> str | None:
        if yes or as_json or not sys.stdin.isatty():
            return None
        return str(
            typer.prompt(
                f"external networks: {', '.join(external)}; which one for the router and the "
                "floating IP?"
            )
        ).strip()  # propose() refuses a name that is not among them

    choices = Choices(public, flavor_manager, flavor_node, image, availability_zone)
    new = new_environment(name, cloud, choices, env_dir, force, choose_public=ask)
    path, proposal, report = new.path, new.proposal, new.report
    if as_json:
        ui.print_json(
            {
                "path": str(path),
                "values": proposal.values,
                "why": proposal.why,
                "preflight": report.as_dict(),
            }
        )
    else:
        ui.success(f"wrote {display_path(path)} for cloud {cloud!r}")
        if new.shadows:
            ui.warn(f"it shadows the built-in environment {name!r}")
        ui.show(preflight_table(report))
    if not report.ok:
        raise typer.Exit(EXIT_PREFLIGHT)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    from scs_testbed.cli.envs import env_app

    app.command("doctor")(doctor)
    env_app.command("diff")(env_diff)
    env_app.command("new")(env_new)
    app.add_typer(remote_app, name="remote-state")
