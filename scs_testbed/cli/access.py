"""Access to a deployed testbed: watch the bootstrap, ssh, tunnel (sshuttle), console log."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from scs_testbed import ui
from scs_testbed.remote import progress

NAME_HELP = "Testbed name (default: the only testbed)."


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command()(watch)
    app.command(context_settings={"allow_interspersed_args": False})(ssh)
    app.command()(tunnel)
    app.command()(console)


def watch(
    name: str | None = typer.Argument(None, help=NAME_HELP),
    plain: bool = typer.Option(False, "--plain", help="Plain lines instead of a live view (CI)."),
    timeout: float = typer.Option(4 * 3600, help="Give up after this many seconds."),
    stall_timeout: float = typer.Option(1800, help="Fail if the log is silent this long (s)."),
    connect_timeout: float = typer.Option(600, help="Keep trying to connect this long (s)."),
    progress_path: str = typer.Option(progress.PROGRESS_PATH, hidden=True),
    log_path: str = typer.Option(progress.LOG_PATH, hidden=True),
    cloud_init_result: str = typer.Option("/run/cloud-init/result.json", hidden=True),
) -> None:
    """Follow the bootstrap on the manager until the testbed is up (exit 5 if it fails)."""
    from scs_testbed.remote import testbed
    from scs_testbed.remote.watch import WatchOptions

    workspace = testbed.find_workspace(name)
    options = WatchOptions(
        progress_path, log_path, cloud_init_result or None, timeout, stall_timeout
    )
    result = testbed.watch_testbed(
        workspace, plain=plain, options=options, connect_timeout=connect_timeout
    )
    ui.success(f"testbed {workspace.name} is up ({result.seconds / 60:.1f} min watched)")


def ssh(
    host: str = typer.Argument("manager", help="manager or node-N."),
    command: Annotated[list[str] | None, typer.Argument(help="Command to run (after --).")] = None,
    name: str | None = typer.Option(None, "--name", "-n", help=NAME_HELP),
    pin: bool = typer.Option(False, "--pin", help="Re-pin host keys from the console logs."),
) -> None:
    """Log into the manager or a node (through the manager), or run a command there."""
    from scs_testbed import runner
    from scs_testbed.remote import testbed
    from scs_testbed.remote.ssh import check_host_key

    workspace = testbed.find_workspace(name)
    outputs = workspace.read_outputs()
    if not testbed.HOST_PATTERN.match(host):
        command, host = [host, *(command or [])], "manager"
    testbed.check_host(host, outputs)
    if pin:
        testbed.prepare_access(workspace)
    elif not workspace.ssh_config.is_file():
        testbed.write_ssh_config(workspace, outputs)
    code = runner.interactive(["ssh", "-F", str(workspace.ssh_config), host, *(command or [])])
    if code == 255:  # ssh's own failure: explain a changed host key in our words
        check_host_key(testbed.targets(workspace, outputs)[host])
    raise typer.Exit(code)


def tunnel(
    name: str | None = typer.Argument(None, help=NAME_HELP),
    method: str = typer.Option("auto", help="sshuttle --method (auto, nat, nft, tproxy, ...)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the running tunnel."),
    background: bool = typer.Option(False, "--background", help="Return once it is up."),
    ready_timeout: float = typer.Option(60, help="Seconds to wait for sshuttle's READY."),
) -> None:
    """Route the testbed's networks through the manager (sshuttle) and list web interfaces."""
    from scs_testbed.remote import testbed
    from scs_testbed.remote import tunnel as core

    workspace = testbed.find_workspace(name)
    pid_file, log_file = workspace.path / "tunnel.pid", workspace.log_dir / "tunnel.log"
    if stop:
        pid = core.stop_tunnel(pid_file)
        ui.info(f"tunnel stopped (PID {pid})" if pid else "no tunnel is running")
        return
    outputs = workspace.read_outputs()
    if not workspace.ssh_config.is_file():
        testbed.write_ssh_config(workspace, outputs)
    cidr = testbed.management_cidr(outputs)
    spec = core.TunnelSpec(workspace.ssh_config, "manager", [cidr], method)
    pid = core.start_tunnel(spec, pid_file, log_file, ready_timeout, detach=background)
    mode = str(workspace.read_meta().get("deploy_mode") or "full")
    rows = core.web_interfaces(cidr, mode, testbed.interface_overrides(outputs))
    ui.show(
        ui.table(
            f"Web interfaces ({cidr} via the manager)",
            ("name", "URL", "for"),
            [(w.name, w.url, w.purpose) for w in rows],
        )
    )
    if background:
        ui.success(f"tunnel up (PID {pid}); stop it with: scs-testbed tunnel --stop")
        return
    ui.success(f"tunnel up (PID {pid}); Ctrl-C stops it")
    try:
        while core.running_pid(pid_file):
            time.sleep(0.5)
        ui.warn(f"sshuttle exited; see {log_file}")
    finally:
        core.stop_tunnel(pid_file)


def console(
    name_or_host: str | None = typer.Argument(None, metavar="[NAME]", help=NAME_HELP),
    host: str | None = typer.Argument(None, metavar="[manager|node-N]"),
    lines: int | None = typer.Option(None, "--lines", help="Only the last N lines."),
) -> None:
    """Print a VM's console log (through the OpenStack API, for when SSH does not work)."""
    from scs_testbed.remote import testbed
    from scs_testbed.remote.console import console_log, open_cloud

    name = name_or_host
    if host is None and name_or_host and testbed.HOST_PATTERN.match(name_or_host):
        name, host = None, name_or_host
    workspace = testbed.find_workspace(name)
    outputs = workspace.read_outputs()
    host = testbed.check_host(host or "manager", outputs)
    server = testbed.server_ids(outputs).get(host)
    if not server:
        ui.warn(f"no server ID recorded for {host}")
        raise typer.Exit(5)
    text = console_log(open_cloud(testbed.cloud_name(workspace)), server, lines)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
