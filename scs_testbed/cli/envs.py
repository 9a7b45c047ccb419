"""Environment commands: `envs`, `env show`, `env validate`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from scs_testbed.cli.options import (
    EnvDir,
    Json,
    Overrides,
    TerraformBinary,
    environment_completion,
)
from scs_testbed.errors import InputError

if TYPE_CHECKING:
    from scs_testbed.environment import Environment

env_app = typer.Typer(help="Show and validate environments.", no_args_is_help=True)
EnvName = Annotated[
    str,
    typer.Argument(
        help="Environment name (see `scs-testbed envs`).", autocompletion=environment_completion
    ),
]


def envs(env_dir: EnvDir = None, as_json: Json = False) -> None:
    """List the environments: built-in ones and your own (which shadow them by name)."""
    from rich.markup import escape

    from scs_testbed import ui
    from scs_testbed.environment import Catalog, load_environment
    from scs_testbed.environment_files import display_path

    catalog = Catalog.locate(env_dir)
    rows = []
    for name, (path, builtin) in catalog.paths().items():
        row: dict[str, object] = {
            "name": name,
            **dict.fromkeys(_LISTED),
            "source": f"built-in: {path.name}" if builtin else display_path(path),
            "path": str(path),
            "error": None,
        }
        try:  # one unreadable file must not hide the others: list it, marked
            env = load_environment(name, catalog)
        except InputError as error:
            row["error"] = error.message
        else:
            row.update({key: env.get(variable) for key, variable in _LISTED.items()})
        rows.append(row)
    if as_json:
        ui.print_json(rows)
        return
    ui.show(
        ui.table(
            None,
            ["name", "cloud", "flavors (manager / node)", "image", "public network", "source"],
            [
                (r["name"], "✘ broken (see below)", "", "", "", r["source"])
                if r["error"]
                else (
                    r["name"],
                    r["cloud"],
                    f"{r['flavor_manager']} / {r['flavor_node']}",
                    r["image"],
                    r["public"],
                    r["source"],
                )
                for r in rows
            ],
        )
    )
    for row in rows:
        if row["error"]:
            ui.warn(f"environment {escape(str(row['name']))}: {escape(str(row['error']))}")


# Columns of `envs` (as in --json) and the variables they show.
_LISTED = {
    "cloud": "cloud_provider",
    "flavor_manager": "flavor_manager",
    "flavor_node": "flavor_node",
    "image": "image",
    "public": "public",
}


@env_app.command("show")
def show(
    name: EnvName,
    override: Overrides = None,
    env_dir: EnvDir = None,
    as_json: Json = False,
) -> None:
    """Show the merged variables of an environment and where each value comes from."""
    from scs_testbed import ui
    from scs_testbed.environment import Catalog, load_environment

    env = load_environment(name, Catalog.locate(env_dir), override or [])
    if as_json:
        ui.print_json(
            {
                "name": env.name,
                "path": str(env.path),
                "builtin": env.builtin,
                "variables": {
                    key: {"value": value, "source": env.sources[key].kind, "where": env.where(key)}
                    for key, value in env.values.items()
                },
                "reference": env.reference.as_dict(),
            }
        )
        return
    for line in env.header():
        if not line.startswith(("override:", "customisation:")):  # those: in the table below
            ui.info(f"# {line}", style="dim")
    _show_reference(env)
    ui.show(
        ui.table(
            f"environment {env.name} ({env.location})",
            ["variable", "value", "from"],
            [(k, _hcl(v), env.where(k)) for k, v in env.values.items()],
        )
    )


@env_app.command("validate")
def validate(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Environments to validate.", autocompletion=environment_completion),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Validate every known environment.")] = False,
    override: Overrides = None,
    env_dir: EnvDir = None,
    terraform: TerraformBinary = None,
    as_json: Json = False,
) -> None:
    """Validate environments: declared keys, types, required values, the module's rules."""
    from scs_testbed import ui
    from scs_testbed.environment import Catalog
    from scs_testbed.terraform_binary import find_terraform
    from scs_testbed.validation import validate_environments

    catalog = Catalog.locate(env_dir)
    if names and all_:
        raise InputError(
            f"both environment names ({', '.join(names)}) and --all given",
            hint="name the environments to validate, or pass --all for every one, not both",
        )
    if not names and not all_:
        raise InputError(
            "name the environments to validate, or pass --all",
            details=[f"known environments: {', '.join(catalog.names())}"],
        )
    binary = find_terraform(terraform, required=False)
    if binary is None:
        ui.warn("no tofu/terraform found: only structural checks (types, keys, required values)")
    started = time.monotonic()
    results = validate_environments(names or catalog.names(), catalog, override or [], binary)
    elapsed = time.monotonic() - started
    if as_json:
        ui.print_json([r.__dict__ for r in results])
    else:
        for result in results:
            if result.ok:
                ui.success(f"{result.name} ({result.location})")
                for warning in result.warnings:
                    ui.warn(warning)
            else:
                ui.failure(f"{result.name} ({result.location})")
                for problem in result.problems:
                    ui.plain(f"    {problem}", err=True)
        bad = sum(not r.ok for r in results)
        ui.info(f"{len(results) - bad} valid, {bad} invalid in {elapsed:.2f} s")
    if any(not r.ok for r in results):
        raise typer.Exit(2)


def _show_reference(env: Environment) -> None:
    """What the reference's conventions of the file mean here (reference_conventions.py)."""
    from scs_testbed import ui

    reading = env.reference
    at = env.location
    rows = [
        (f"{at}:{d.line}", str(d), d.variant.meaning if d.variant else "?")
        for d in reading.directives
    ]
    rows += [
        (f"{at}:{t.line}", f"{key} = {_hcl(t.value)}", t.meaning)
        for key, t in reading.translated.items()
    ]
    if rows:
        ui.show(ui.table("reference conventions (osism/testbed)", ["line", "says", "here"], rows))
    for warning in reading.warnings:
        ui.warn(warning)


def _hcl(value: object) -> str:
    import json

    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command("envs")(envs)
    app.add_typer(env_app, name="env")
