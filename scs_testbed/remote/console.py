"""Console logs of the testbed's servers through openstacksdk (for when SSH never comes up)."""

from __future__ import annotations

import time
from typing import Any

from scs_testbed.errors import RemoteError
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
    cloud: Any, server_id: str, timeout: float = 900.0, interval: float = 10.0
) -> list[HostKey]:
    """Poll the console log until cloud-init printed the host keys; return them."""
    deadline = time.monotonic() + timeout
    while True:
        keys = parse_console_host_keys(console_log(cloud, server_id))
        if keys:
            return keys
        if time.monotonic() > deadline:
            raise RemoteError(
                f"server {server_id} printed no SSH host keys to its console in {timeout:.0f} s",
                hint="look at the console (scs-testbed console) — the VM may not have booted, or "
                "the image's cloud-init does not print keys (ssh_key_console_blacklist)",
            )
        time.sleep(interval)
