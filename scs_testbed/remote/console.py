"""Console logs of the testbed's servers through openstacksdk (for when SSH never comes up)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from scs_testbed.errors import RemoteError
from scs_testbed.polling import PAUSES, poll
from scs_testbed.remote.hostkeys import HostKey, parse_console_host_keys


def open_cloud(cloud: str) -> Any:
    """An authenticated connection to the clouds.yaml entry `cloud` (see scs_testbed.cloud)."""
    from scs_testbed.cloud import connect

    return connect(cloud)


def console_log(cloud: Any, server_id: str, length: int | None = None) -> str:
    """The server's console output (the last `length` lines, or all)."""
    import openstack.exceptions

    from scs_testbed.cloud import UnexpectedAnswer, cloud_calls

    # other errors of the compute service (HTTP 500, garbage) become one line in cloud_calls
    with cloud_calls(cloud):
        try:
            server = cloud.compute.get_server(server_id)
            output = cloud.compute.get_server_console_output(server, length=length)
        except openstack.exceptions.ResourceNotFound as error:
            raise RemoteError(
                f"server {server_id} does not exist (any more)",
                hint="the testbed may have been destroyed; see scs-testbed status",
            ) from error
        if isinstance(output, dict):
            output = output.get("output")
        if not isinstance(output, str | None):
            raise UnexpectedAnswer(f"the console output is a {type(output).__name__}, not text")
    return output or ""


def wait_for_host_keys(
    cloud: Any, servers: Mapping[str, str], timeout: float = 900.0, pauses: Sequence[float] = PAUSES
) -> dict[str, list[HostKey]]:
    """Poll the console logs of all `servers` (alias: server id) together until cloud-init
    printed the host keys of each; their keys by alias.

    The logs are read concurrently and only of servers still waited for; the pauses grow from
    half a second, so keys that are there within seconds of the apply are taken then.
    """
    from scs_testbed.cloud import gather

    found: dict[str, list[HostKey]] = {}

    def ask() -> dict[str, list[HostKey]] | None:
        waiting = {alias: server for alias, server in servers.items() if alias not in found}
        logs = gather({alias: partial(console_log, cloud, s) for alias, s in waiting.items()})
        for alias, text in logs.items():
            keys = parse_console_host_keys(text)
            if keys:
                found[alias] = keys
        return found if len(found) == len(servers) else None

    if poll(ask, timeout, pauses) is None:
        missing = ", ".join(
            f"{alias} ({servers[alias]})" for alias in servers if alias not in found
        )
        raise RemoteError(
            f"{missing}: no SSH host keys printed to the console in {timeout:.0f} s",
            hint="look at the console (scs-testbed console) — the VM may not have booted, or "
            "the image's cloud-init does not print keys (ssh_key_console_blacklist)",
        )
    return found
