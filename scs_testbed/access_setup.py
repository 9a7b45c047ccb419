"""After a deploy: ssh_config for the testbed, host keys pinned, optionally watch the bootstrap.

Clouds whose VMs do not boot (the local cloud's fake hypervisor) print no host keys; this is
detected from the console log and said plainly instead of waiting for keys that never come.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_testbed import ui
from scs_testbed.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scs_testbed.remote.hostkeys import HostKey
    from scs_testbed.remote.watch import WatchOptions

FAKE_CONSOLE_MARKERS = ("FAKE CONSOLE OUTPUT",)


def vms_boot(workspace: Workspace, outputs: dict[str, Any]) -> bool:
    """False when the manager's console log shows a fake hypervisor (nothing boots)."""
    from scs_testbed.cloud import connect

    meta = workspace.read_meta()
    server = (outputs.get("servers") or {}).get("manager")
    if not server:
        return True
    conn = connect(str(meta["cloud"]))
    try:
        text = conn.compute.get_server_console_output(server).get("output", "")
    except Exception:  # console logs are optional in some clouds: assume a real boot
        return True
    return not any(marker in (text or "") for marker in FAKE_CONSOLE_MARKERS)


def after_deploy(
    workspace: Workspace,
    outputs: dict[str, Any],
    watch: bool,
    known: Mapping[str, list[HostKey]] | None = None,
) -> None:
    """Write ssh access files; pin host keys and watch when the VMs really boot.

    `known`: host keys already read during the apply, by server id (`EarlyHostKeys`); the
    manager's among them proves a real boot, so its console is not asked about that again.
    """
    from scs_testbed.remote.testbed import prepare_access, server_ids, write_ssh_config

    write_ssh_config(workspace, outputs)
    booted = server_ids(outputs).get("manager") in (known or {})
    if not booted and not vms_boot(workspace, outputs):
        ui.warn(
            "this cloud's VMs do not boot (fake hypervisor, e.g. the local cloud): "
            "no host keys to pin and no in-VM bootstrap to watch"
        )
        return
    ui.info("waiting for the VMs' host keys in their console logs (pinned in known_hosts)")
    prepare_access(workspace, known=known)
    ui.info(
        f"ssh: scs-testbed ssh --name {workspace.name}   or   ssh -F {workspace.ssh_config} manager"
    )
    if watch:
        watch_bootstrap(workspace)


def watch_bootstrap(
    workspace: Workspace,
    *,
    plain: bool = False,
    options: WatchOptions | None = None,
    connect_timeout: float = 600.0,
) -> None:
    """Follow the bootstrap on the manager until the testbed is up (RemoteError, exit 5, if
    it fails, stalls or times out); `watch` and `deploy --watch`."""
    from scs_testbed.remote.testbed import watch_testbed
    from scs_testbed.remote.watch import WatchOptions

    result = watch_testbed(
        workspace, plain=plain, options=options or WatchOptions(), connect_timeout=connect_timeout
    )
    ui.success(f"testbed {workspace.name} is up ({result.seconds / 60:.1f} min watched)")
