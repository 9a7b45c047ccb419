"""Options shared by several command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
