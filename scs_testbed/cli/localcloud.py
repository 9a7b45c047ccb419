"""`scs-testbed localcloud up|down|status|env|logs`: a real OpenStack on this machine."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from scs_testbed.cli.options import at_least_one

localcloud_app = typer.Typer(
    help="A local OpenStack (servers boot as containers, fake storage) to try the tool "
    "without an account.",
    no_args_is_help=True,
)


@localcloud_app.command("up")
def up_command(
    quota: Annotated[
        list[str] | None,
        typer.Option("--quota", "-q", help="Set a testbed project quota, e.g. ram=16384,cores=8."),
    ] = None,
    driver: Annotated[
        str | None,
        typer.Option(
            "--driver",
            help="nova's compute driver: nspawn (servers boot as containers) or fake (rows in "
            "the database only). Default: the one the cloud runs with, else nspawn.",
        ),
    ] = None,
    rebuild_image: Annotated[
        bool, typer.Option("--rebuild-image", help="Build the server image again (nspawn).")
    ] = False,
) -> None:
    """Install what is missing and start the local cloud (root; idempotent)."""
    from scs_testbed import localcloud, ui

    quotas = localcloud.parse_quotas(quota or [])
    result = localcloud.up(quotas, driver=driver, rebuild_image=rebuild_image)
    started = ", ".join(result.started) if result.started else "nothing (already running)"
    ui.success(f"local cloud ready in {result.seconds:.0f} s; started: {started}")
    ui.info(
        f"clouds.yaml: {result.clouds_file} (entries {localcloud.CLOUD_NAME!r} and "
        f"{localcloud.ADMIN_CLOUD_NAME!r})"
    )
    ui.info(
        "quotas of project 'testbed': "
        + " ".join(f"{k}={v}" for k, v in sorted(result.quotas.items()))
    )
    ui.info('use it:  eval "$(scs-testbed localcloud env)"   (or -e local for a testbed)')
    if result.image is not None:
        ui.info(f"compute driver nspawn: servers boot as containers from {result.image.rootfs}")
    else:
        ui.info("compute driver fake: servers reach ACTIVE but never boot")


@localcloud_app.command("down")
def down_command(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete data, configs and logs.")
    ] = False,
) -> None:
    """Stop every process of the local cloud (by PID)."""
    from scs_testbed import localcloud, ui

    result = localcloud.down(purge)
    what = ", ".join(result.stopped) if result.stopped else "nothing was running"
    ui.success(f"stopped in {result.seconds:.0f} s: {what}")
    if result.servers:
        ui.info(f"{result.servers} server(s) powered off; their disks stay until deleted")
    if result.killed:
        ui.warn(f"had to SIGKILL pids {', '.join(map(str, result.killed))}")
    if result.purged:
        ui.info("data, configs and logs removed (the installed venv is kept)")


@localcloud_app.command("status")
def status_command() -> None:
    """Each service: up/down, port, PID, memory."""
    from scs_testbed import localcloud, ui

    rows = localcloud.status()
    ui.show(
        ui.table(
            None,
            ("service", "state", "port", "pid", "rss MiB"),
            (
                (
                    r.name,
                    "up" if r.running else "down",
                    r.port or "",
                    r.pid or "",
                    f"{r.rss_bytes / 2**20:.0f}" if r.running else "",
                )
                for r in rows
            ),
        )
    )
    total = sum(r.rss_bytes for r in rows)
    running = sum(r.running for r in rows)
    ui.info(f"{running}/{len(rows)} running, {total / 2**30:.2f} GiB resident")
    if 0 < running < len(rows):
        ui.warn("the local cloud is only partly running: `scs-testbed localcloud up` repairs it")
    elif running:
        driver = localcloud.running_driver()
        boots = "servers boot as containers" if driver == "nspawn" else "servers never boot"
        ui.info(f"compute driver (as nova reports it): {driver or 'no hypervisor up'}; {boots}")


@localcloud_app.command("env")
def env_command() -> None:
    """Print shell exports that point openstacksdk and Terraform at the local cloud."""
    from scs_testbed import localcloud, ui

    for key, value in localcloud.env_exports().items():
        ui.console.print(f"export {key}={shlex.quote(value)}", markup=False, highlight=False)


@localcloud_app.command("logs")
def logs_command(
    service: Annotated[str, typer.Argument(help="Service name as shown by `localcloud status`.")],
    lines: Annotated[
        int,
        typer.Option("--lines", "-n", help="How many lines from the end.", callback=at_least_one),
    ] = 50,
) -> None:
    """Show the end of a service's log."""
    from scs_testbed import localcloud, ui

    path, text = localcloud.log_tail(service, lines)
    ui.info(f"==> {path} <==")
    for line in text:
        ui.plain(line)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.add_typer(localcloud_app, name="localcloud")
