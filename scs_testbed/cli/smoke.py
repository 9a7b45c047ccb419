"""`scs-testbed smoke [NAME]`: the smoke suite against a deployed testbed (exit 6 on failure)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scs_testbed import ui
from scs_testbed.cli.options import non_empty_name

if TYPE_CHECKING:
    from scs_testbed.smoke.suite import ApiTarget, SmokeResult


def register(app: typer.Typer) -> None:
    """Add this module's command to the application."""
    app.command()(smoke)


def smoke(
    name: Annotated[
        str | None,
        typer.Argument(help="Testbed name (default: the only testbed).", callback=non_empty_name),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Write the JUnit XML here.", dir_okay=False),
    ] = None,
    keyword: Annotated[
        str | None, typer.Option("-k", metavar="EXPR", help="Only checks matching (pytest -k).")
    ] = None,
    markers: Annotated[
        str | None,
        typer.Option(
            "-m", metavar="MARKERS", help="quick, workload, conformance, hosts, api (pytest -m)."
        ),
    ] = None,
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            envvar="SCS_TESTBED_SMOKE_CLOUD",
            help="clouds.yaml entry of the API to check (default: the testbed's own, read "
            "from the manager; reach it through `scs-testbed tunnel`).",
        ),
    ] = None,
    cacert: Annotated[
        Path | None,
        typer.Option(
            "--cacert",
            envvar="SCS_TESTBED_SMOKE_CACERT",
            help="CA bundle that signs the API's certificate.",
            dir_okay=False,
        ),
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option("--expect", metavar="KEY=VALUE", help="Change one expectation (repeatable)."),
    ] = None,
    print_command: Annotated[
        bool, typer.Option("--print-command", help="Print the pytest command and exit.")
    ] = False,
) -> None:
    """Smoke-test a testbed: hosts (testinfra over ssh) and its OpenStack API (openstacksdk)."""
    from scs_testbed.smoke import suite
    from scs_testbed.workspace import find_workspace

    if markers is not None:
        suite.check_marker_expression(markers)
    if keyword is not None:
        suite.check_keyword_expression(keyword)
    expectations = suite.parse_expectations(expect or [])
    target = _api_target(cloud, cacert)
    workspace = find_workspace(name)
    config = suite.config_for_testbed(workspace, target, expectations)
    smoke_dir = workspace.path / "smoke"
    request = suite.SmokeRequest(
        suite.write_config(config, smoke_dir / "config.json"),
        _junit_path(junit) if junit else smoke_dir / "junit.xml",
        keyword,
        markers,
    )
    if print_command:
        sys.stdout.write(shlex.join(suite.build_pytest_args(request)) + "\n")
        return
    ui.info(f"smoke checks of testbed {workspace.name} (deploy_mode {config.deploy_mode})")
    result = suite.run_suite(request, lambda line: ui.plain(line, err=True))
    show_summary(result)
    suite.verdict(result, request)
    ui.success(f"{result.total()['passed']} smoke checks passed ({result.seconds:.0f} s)")


def _api_target(cloud: str | None, cacert: Path | None) -> ApiTarget:
    """The API the checks use; a named cloud must exist in clouds.yaml (exit 2 if not)."""
    from scs_testbed.errors import InputError
    from scs_testbed.smoke.suite import ApiTarget

    if cacert is not None and not cacert.is_file():
        raise InputError(f"--cacert {cacert}: no such file", hint="give the CA bundle's path")
    if cloud is None:
        return ApiTarget(cacert=str(cacert) if cacert else None)
    from scs_testbed.clouds_yaml import cloud_entry, load_clouds

    clouds = load_clouds()
    cloud_entry(clouds, cloud)
    return ApiTarget(
        cloud,
        str(clouds.path) if clouds.path else None,
        str(cacert.resolve()) if cacert else None,
        str(clouds.secure_path) if clouds.secure_path else None,
    )


def _junit_path(path: Path) -> Path:
    from scs_testbed.errors import InputError

    if path.is_dir():
        raise InputError(f"--junit {path} is a directory", hint="give a file name, e.g. smoke.xml")
    return path.resolve()


def show_summary(result: SmokeResult) -> None:
    """Passed / failed / skipped per group, and the total."""
    rows = [
        (group, counts["passed"], counts["failed"], counts["skipped"])
        for group, counts in result.by_group().items()
    ]
    total = result.total()
    rows.append(("total", total["passed"], total["failed"], total["skipped"]))
    title = f"Smoke checks ({result.seconds:.0f} s, JUnit {result.junit})"
    ui.show(ui.table(title, ("group", "passed", "failed", "skipped"), rows))
