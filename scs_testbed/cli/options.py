"""Options shared by several command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _distinct_overrides(values: list[str] | None) -> list[str] | None:
    """Refuse one key given twice with different values: which one wins would be a guess."""
    seen: dict[str, str] = {}
    for text in values or []:
        if "=" not in text:
            continue  # the environment's parser explains the key=value form
        key, value = (part.strip() for part in text.split("=", 1))
        if key in seen and seen[key] != value:
            raise typer.BadParameter(
                f"{key} is given twice with different values ({seen[key]!r} and {value!r}); "
                "give it once"
            )
        seen[key] = value
    return values


def non_empty_name(value: str | None) -> str | None:
    """Refuse an empty testbed name instead of silently taking the default one."""
    if value is not None and not value.strip():
        raise typer.BadParameter(
            "the testbed name is empty; give a name, or leave the option out for the default"
        )
    return value


def positive_seconds(value: float | None) -> float | None:
    """A timeout option: a finite number of seconds > 0 (nan, inf, 0 and negatives refused)."""
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a positive number of seconds; give e.g. 60")
    return value


def at_least_one(value: int | None) -> int | None:
    """A count option (--lines, --parallelism): an integer >= 1."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"{value} is less than 1; give a whole number of at least 1")
    return value


EnvDir = Annotated[
    Path | None,
    typer.Option(
        "--env-dir",
        help="Directory of your own <name>.tfvars environments (shadow built-ins by name). "
        "Default: $SCS_TESTBED_ENV_DIR, else ./environments.",
        show_default=False,
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "-o",
        "--override",
        metavar="KEY=VALUE",
        help="Override one variable of the environment (repeatable).",
        show_default=False,
        callback=_distinct_overrides,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TerraformBinary = Annotated[
    str | None,
    typer.Option(
        "--terraform",
        metavar="PATH",
        help="OpenTofu/Terraform binary (default: $SCS_TESTBED_TERRAFORM, tofu, terraform).",
        show_default=False,
    ),
]


def environment_completion(incomplete: str) -> list[str]:
    """Shell completion of environment names."""
    from scs_testbed.environment import Catalog

    try:
        return [n for n in Catalog.locate().names() if n.startswith(incomplete)]
    except Exception:  # completion must never crash the shell
        return []


EnvOption = Annotated[
    str,
    typer.Option(
        "-e",
        "--env",
        help="Environment name (see `scs-testbed envs`).",
        autocompletion=environment_completion,
    ),
]
EnvFilter = Annotated[
    str | None,
    typer.Option(
        "-e",
        "--env",
        help="Pick the testbed of this environment.",
        autocompletion=environment_completion,
    ),
]
NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Testbed name (default: <environment>-<prefix>); "
        "also the resource prefix unless the environment sets one.",
        callback=non_empty_name,
    ),
]
NameArgument = Annotated[
    str | None,
    typer.Argument(
        help="Testbed name (default: the only one).", show_default=False, callback=non_empty_name
    ),
]
Nodes = Annotated[int | None, typer.Option("--nodes", help="Number of nodes (number_of_nodes).")]
Record = Annotated[
    Path | None,
    typer.Option(
        "--record",
        metavar="FILE.cast",
        help="Record what the terminal shows into an asciicast v2 file (play it with "
        "scs-testbed replay); refused with --json or without a terminal.",
        show_default=False,
    ),
]


def recorded(path: Path, testbed: str | None) -> typer.Exit:
    """Run this very command line again, recorded into `path`; the exit to raise with the
    recorded command's code."""
    import sys

    from scs_testbed.recorder import record_command

    return typer.Exit(record_command(path, sys.argv[1:], testbed))
