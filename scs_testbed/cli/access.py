"""Access to a deployed testbed: watch the bootstrap, ssh, tunnel (sshuttle), console log.

Parameters use Annotated defaults so that a command function can be called directly (the
netns tests call `watch(name, plain=True, ...)`).
"""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from scs_testbed import ui
from scs_testbed.cli.options import (
    Record,
    at_least_one,
    non_empty_name,
    positive_seconds,
    recorded,
)
from scs_testbed.remote import progress

Name = Annotated[
    str | None,
    typer.Argument(help="Testbed name (default: the only testbed).", callback=non_empty_name),
]
NameOption = Annotated[
    str | None,
    typer.Option(
        "--name", "-n", help="Testbed name (default: the only testbed).", callback=non_empty_name
    ),
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command()(watch)
    app.command(context_settings={"allow_interspersed_args": False})(ssh)
    app.command()(tunnel)
    app.command()(console)


def watch(
    name: Name = None,
    plain: Annotated[bool, typer.Option("--plain", help="Plain lines, no live view (CI).")] = False,
    timeout: Annotated[
        float,
        typer.Option(help="Give up after this many seconds.", callback=positive_seconds),
    ] = 4 * 3600,
    stall_timeout: Annotated[
        float,
        typer.Option(
            help="Fail when the log is silent this many seconds.", callback=positive_seconds
        ),
    ] = 1800,
    connect_timeout: Annotated[
        float,
        typer.Option(
            help="Keep trying to connect this many seconds (VM booting).",
            callback=positive_seconds,
        ),
    ] = 600,
    progress_path: Annotated[str, typer.Option(hidden=True)] = progress.PROGRESS_PATH,
    log_path: Annotated[str, typer.Option(hidden=True)] = progress.LOG_PATH,
    cloud_init_result: Annotated[str, typer.Option(hidden=True)] = "/run/cloud-init/result.json",
    record: Record = None,
) -> None:
    """Follow the bootstrap on the manager until the testbed is up (exit 5 if it fails)."""
    if record is not None:
        raise recorded(record, name)
    from scs_testbed.access_setup import watch_bootstrap
    from scs_testbed.remote.watch import WatchOptions
    from scs_testbed.workspace import find_workspace

    options = WatchOptions(
        progress_path, log_path, cloud_init_result or None, timeout, stall_timeout
    )
    watch_bootstrap(
        find_workspace(name), plain=plain, options=options, connect_timeout=connect_timeout
    )


def ssh(
    host: Annotated[str, typer.Argument(help="manager or node-N.")] = "manager",
    command: Annotated[list[str] | None, typer.Argument(help="Command to run (after --).")] = None,
    name: NameOption = None,
    pin: Annotated[bool, typer.Option("--pin", help="Re-pin host keys from the consoles.")] = False,
) -> None:
    """Log into the manager or a node (through the manager), or run a command there."""
    from scs_testbed import runner
    from scs_testbed.remote import testbed
    from scs_testbed.remote.ssh import check_host_key
    from scs_testbed.workspace import find_workspace

    command = list(command or [])
    if command[:1] == ["--"]:  # `ssh HOST -- CMD`: click keeps this `--`, ssh must not see it
        command = command[1:]
    if not testbed.HOST_LIKE.match(host):  # `ssh uptime`: a command for the manager
        command, host = [host, *command], "manager"
    workspace = find_workspace(name)
    outputs = workspace.read_outputs()
    testbed.check_host(host, outputs)  # before ssh runs: unknown hosts list the valid ones
    testbed.refuse_ssh_options(workspace.ssh_config, host, command)
    if pin:
        testbed.prepare_access(workspace)
    elif not workspace.ssh_config.is_file():
        testbed.write_ssh_config(workspace, outputs)
    argv = testbed.ssh_argv(workspace.ssh_config, host, command)
    code = runner.interactive(argv)
    if code == 255:  # ssh's own failure: explain a changed or missing host key in our words
        check_host_key(testbed.targets(workspace, outputs)[host])
    raise typer.Exit(code)


def tunnel(
    name: Name = None,
    method: Annotated[
        str, typer.Option(help="sshuttle --method: auto, nat, nft, tproxy…")
    ] = "auto",
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running tunnel.")] = False,
    background: Annotated[bool, typer.Option("--background", help="Return once up.")] = False,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for READY.", callback=positive_seconds)
    ] = 60,
) -> None:
    """Route the testbed's networks through the manager (sshuttle) and list web interfaces."""
    from scs_testbed.remote import testbed
    from scs_testbed.remote import tunnel as core
    from scs_testbed.workspace import find_workspace, locked

    workspace = find_workspace(name)
    pid_file, log_file = workspace.path / "tunnel.pid", workspace.log_dir / "tunnel.log"
    if stop:
        with locked(workspace, "tunnel --stop"):
            pid = core.stop_tunnel(pid_file)
        ui.info(f"tunnel stopped (PID {pid})" if pid else "no tunnel is running")
        return
    outputs = workspace.read_outputs()
    if not workspace.ssh_config.is_file():
        testbed.write_ssh_config(workspace, outputs)
    cidr = testbed.management_cidr(outputs)
    spec = core.TunnelSpec(workspace.ssh_config, "manager", [cidr], method)
    with locked(workspace, "tunnel"):  # only while it writes tunnel.pid
        pid = core.start_tunnel(spec, pid_file, log_file, ready_timeout, detach=background)
    rows = core.web_interfaces(
        cidr, testbed.deploy_mode(workspace), testbed.interface_overrides(outputs)
    )
    columns = ("name", "URL", "for")
    title = f"Web interfaces ({cidr} through the manager)"
    ui.show(ui.table(title, columns, [(w.name, w.url, w.purpose) for w in rows]))
    hosts = core.hosts_entries(
        cidr, testbed.deploy_mode(workspace), testbed.interface_overrides(outputs)
    )
    if hosts:
        ui.info(
            "The testbed.osism.xyz names resolve publicly to these private addresses; "
            "resolvers with DNS rebind protection drop them. Add to /etc/hosts:\n  "
            + "\n  ".join(hosts)
        )
    ui.info(core.CA_NOTE)
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
    name_or_host: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="Testbed name (default: the only one).")
    ] = None,
    host: Annotated[str | None, typer.Argument(metavar="[manager|node-N]")] = None,
    lines: Annotated[
        int | None,
        typer.Option("--lines", help="Only the last N lines (N >= 1).", callback=at_least_one),
    ] = None,
) -> None:
    """Print a VM's console log (through the OpenStack API, for when SSH does not work)."""
    from scs_testbed.remote import testbed
    from scs_testbed.remote.console import console_log, open_cloud
    from scs_testbed.workspace import find_workspace

    name = name_or_host
    if host is None and name_or_host and testbed.HOST_LIKE.match(name_or_host):
        from scs_testbed.workspace import NAME_PATTERN, Workspace

        named = NAME_PATTERN.match(name_or_host) and Workspace.named(name_or_host).exists
        if not named:  # a testbed called like a host wins; else it is the host
            name, host = None, name_or_host
    workspace = find_workspace(name)
    outputs = workspace.read_outputs()
    host = testbed.check_host(host or "manager", outputs)
    server = testbed.server_ids(outputs).get(host)
    if not server:
        ui.warn(f"no server ID recorded for {host}")
        raise typer.Exit(5)
    text = console_log(open_cloud(testbed.cloud_name(workspace)), server, lines)
    from scs_testbed.redact import redact

    sys.stdout.write(redact(text if text.endswith("\n") or not text else text + "\n"))
