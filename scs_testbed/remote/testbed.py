"""Glue between a testbed's workspace (outputs, key, files) and the remote core.

The lifecycle calls `prepare_access` after a successful apply; the access commands use
`targets` and `watch_options` (the testbed itself: `scs_testbed.workspace.find_workspace`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scs_testbed.errors import InputError
from scs_testbed.remote.hostkeys import (
    HostEntry,
    HostKey,
    known_hosts_name,
    render_ssh_config,
    write_known_hosts,
    write_private,
)
from scs_testbed.remote.ssh import SshTarget
from scs_testbed.workspace import Workspace, locked

if TYPE_CHECKING:
    from scs_testbed.remote.watch import WatchOptions, WatchResult

# ASCII digits only, no leading zeros (node-00 is not node-0); \Z: no trailing newline either
HOST_PATTERN = re.compile(r"^(manager|node-(0|[1-9][0-9]*))\Z", re.ASCII)
# What the user meant as a host, valid or not (node-00, node-٣): checked, never run as a command
HOST_LIKE = re.compile(r"^(manager|node-\d.*)\Z", re.DOTALL)


def host_entries(outputs: Mapping[str, Any]) -> list[HostEntry]:
    """ssh_config hosts: the manager by its floating IP, node-N through the manager."""
    manager = HostEntry("manager", str(outputs["manager_address"]), str(outputs["image_user"]))
    node_user = str(outputs.get("image_node_user") or outputs["image_user"])
    nodes = [
        HostEntry(f"node-{index}", str(address), node_user, jump="manager")
        for index, address in enumerate(outputs.get("node_addresses") or [])
    ]
    return [manager, *nodes]


def write_ssh_config(workspace: Workspace, outputs: Mapping[str, Any] | None = None) -> Path:
    """Write the testbed's ssh_config from its outputs; return its path."""
    entries = host_entries(outputs or workspace.read_outputs())
    text = render_ssh_config(
        entries,
        key_file=workspace.private_key,
        known_hosts=workspace.known_hosts,
        header=f"scs-testbed {workspace.name}: generated, rewritten by every deploy.\n"
        f"Use: ssh -F {workspace.ssh_config} manager",
    )
    with locked(workspace, "ssh setup"):
        write_private(workspace.ssh_config, text)
    return workspace.ssh_config


def pin_host_keys(
    workspace: Workspace,
    keys_by_host: Mapping[str, Sequence[HostKey]],
    outputs: Mapping[str, Any] | None = None,
) -> None:
    """Pin keys given per host alias (manager, node-N) in the testbed's known_hosts."""
    addresses = {e.alias: e.address for e in host_entries(outputs or workspace.read_outputs())}
    unknown = sorted(set(keys_by_host) - set(addresses))
    if unknown:
        raise InputError(f"unknown hosts {', '.join(unknown)}")
    with locked(workspace, "host key pinning"):
        write_known_hosts(
            workspace.known_hosts,
            {known_hosts_name(addresses[alias]): keys for alias, keys in keys_by_host.items()},
        )


def _recorded_variables(workspace: Workspace) -> dict[str, Any]:
    """The testbed's terraform.tfvars.json ({} when absent); damage is an error naming it."""
    from scs_testbed.state_dir import read_json_record

    if not os.path.lexists(workspace.tfvars_file):
        return {}
    return read_json_record(
        workspace.tfvars_file,
        hint="it is rewritten by the next deploy: scs-testbed deploy "
        f"--name {workspace.name} -e ENV",
        types={"cloud_provider": str, "deploy_mode": str},
    )


def cloud_name(workspace: Workspace) -> str:
    """The clouds.yaml entry the testbed was deployed to."""
    tfvars = _recorded_variables(workspace)
    cloud = tfvars.get("cloud_provider") or workspace.read_meta().get("cloud")
    if not cloud:
        raise InputError(
            f"testbed {workspace.name!r} does not record its cloud",
            hint=f"its {workspace.tfvars_file.name} lacks cloud_provider",
        )
    return str(cloud)


def deploy_mode(workspace: Workspace) -> str:
    """The testbed's deploy_mode (what the bootstrap builds); `full` when not recorded."""
    tfvars = _recorded_variables(workspace)
    return str(tfvars.get("deploy_mode") or workspace.read_meta().get("deploy_mode") or "full")


def server_ids(outputs: Mapping[str, Any]) -> dict[str, str]:
    """Server IDs by host alias (manager, node-N)."""
    servers = outputs.get("servers") or {}
    ids = {"manager": str(servers.get("manager"))} if servers.get("manager") else {}
    ids.update({f"node-{i}": str(s) for i, s in enumerate(servers.get("nodes") or [])})
    return ids


def prepare_access(
    workspace: Workspace,
    *,
    timeout: float = 900.0,
    known: Mapping[str, list[HostKey]] | None = None,
) -> None:
    """After apply: write ssh_config and pin every VM's host keys from its console log.

    Waits (up to `timeout` seconds in all) until cloud-init printed the keys of every VM;
    `known`: keys already read (by server id), whose servers are not asked again.
    """
    from scs_testbed.remote.console import open_cloud, wait_for_host_keys

    outputs = workspace.read_outputs()
    write_ssh_config(workspace, outputs)
    opener = partial(open_cloud, cloud_name(workspace))
    keys = wait_for_host_keys(opener, server_ids(outputs), timeout, known=known)
    pin_host_keys(workspace, keys, outputs)


def check_host(name: str, outputs: Mapping[str, Any]) -> str:
    """Validate a host alias (manager or node-N within the testbed)."""
    match = HOST_PATTERN.match(name)
    nodes = len(outputs.get("node_addresses") or [])
    if not match or (match.group(2) is not None and int(match.group(2)) >= nodes):
        valid = ", ".join(["manager", *(f"node-{i}" for i in range(nodes))])
        raise InputError(f"unknown host {name!r}", hint=f"choose one of: {valid}")
    return name


def refuse_ssh_options(ssh_config: Path, host: str, command: Sequence[str]) -> None:
    """Refuse a host or remote command that looks like an ssh option (InputError, exit 2)."""
    if not HOST_PATTERN.match(host):
        raise InputError(f"unknown host {host!r}", hint="choose manager or node-N (N: 0, 1, …)")
    if command and command[0].startswith("-"):
        raise InputError(
            f"{command[0]!r} is not a command: `scs-testbed ssh` passes no options to ssh",
            hint="everything after `--` is the command to run on the host; for other ssh "
            f"options run ssh itself: ssh -F {ssh_config} [options] {host}",
        )


def ssh_argv(ssh_config: Path, host: str, command: Sequence[str] = ()) -> list[str]:
    """The ssh command line for `scs-testbed ssh`: the options are ours, the user's words data.

    `--` ends ssh's options before the destination, so neither the host nor any word of the
    remote command can be read as an ssh option (`-oProxyCommand=…` would run a local
    command, `-oStrictHostKeyChecking=no` would undo the pinned host keys).
    """
    refuse_ssh_options(ssh_config, host, command)
    return ["ssh", "-F", str(ssh_config), "--", host, *command]


def targets(workspace: Workspace, outputs: Mapping[str, Any] | None = None) -> dict[str, SshTarget]:
    """paramiko targets by alias, built from the same data as ssh_config."""
    entries = host_entries(outputs or workspace.read_outputs())
    key, known = workspace.private_key, workspace.known_hosts
    manager = SshTarget(entries[0].address, entries[0].user, key, known, name="manager")
    result = {"manager": manager}
    for entry in entries[1:]:
        result[entry.alias] = SshTarget(
            entry.address, entry.user, key, known, jump=manager, name=entry.alias
        )
    return result


def interface_overrides(outputs: Mapping[str, Any]) -> dict[str, str]:
    """Addresses for the web interface table taken from the outputs where they exist."""
    overrides: dict[str, str] = {}
    if outputs.get("manager_internal_address"):
        overrides["manager"] = str(outputs["manager_internal_address"])
    vips = outputs.get("vip_addresses") or []
    if len(vips) >= 3:
        overrides["api_int"], overrides["api"] = str(vips[1]), str(vips[2])
    nodes = outputs.get("node_addresses") or []
    if nodes:
        overrides["node0"] = str(nodes[0])
    return overrides


def management_cidr(outputs: Mapping[str, Any]) -> str:
    """The CIDR to tunnel (the management network)."""
    networks = outputs.get("networks") or {}
    return str((networks.get("management") or {}).get("cidr") or "192.168.16.0/20")


def watch_testbed(
    workspace: Workspace,
    *,
    plain: bool = False,
    options: WatchOptions | None = None,
    connect_timeout: float = 600.0,
) -> WatchResult:
    """Follow the manager's bootstrap with a live view (or plain lines) until it is done.

    Raises RemoteError (exit 5) on a failed step, cloud-init errors, a stall or the timeout.
    `deploy --watch` calls this after `prepare_access`.
    """
    from scs_testbed import ui
    from scs_testbed.remote.ssh import connect
    from scs_testbed.remote.view import LiveView, PlainView
    from scs_testbed.remote.watch import follow

    target = targets(workspace)["manager"]
    live = not plain and ui.console.is_terminal
    view = LiveView(workspace.name) if live else PlainView(workspace.name)
    with view:
        return follow(lambda: connect(target, retry_for=connect_timeout), view, options)
