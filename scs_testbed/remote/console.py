"""Console logs of the testbed's servers through openstacksdk (for when SSH never comes up)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from scs_testbed.errors import RemoteError
from scs_testbed.polling import PAUSES, poll
from scs_testbed.remote.hostkeys import HostKey, parse_console_host_keys


def open_cloud(cloud: str, quiet: bool = False) -> Any:
    """An authenticated connection to the clouds.yaml entry `cloud` (see scs_testbed.cloud)."""
    from scs_testbed.cloud import connect

    return connect(cloud, quiet)


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
    open_cloud: Callable[[], Any],
    servers: Mapping[str, str],
    timeout: float = 900.0,
    pauses: Sequence[float] = PAUSES,
    known: Mapping[str, list[HostKey]] | None = None,
) -> dict[str, list[HostKey]]:
    """Poll the console logs of all `servers` (alias: server id) together until cloud-init
    printed the host keys of each; their keys by alias.

    The logs are read concurrently and only of servers still waited for; the pauses grow from
    half a second, so keys that are there within seconds of the apply are taken then. `known`
    holds keys already read, by server id (`EarlyHostKeys`): those servers are not asked again,
    and `open_cloud` (which connects) is only called when a server is still waited for.
    """
    from scs_testbed.cloud import gather

    found = {alias: list(known[s]) for alias, s in servers.items() if known and s in known}
    if len(found) == len(servers):
        return found
    cloud = open_cloud()

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


LOG = logging.getLogger(__name__)

# A server prints its keys some seconds after its create: neither short pauses nor long ones.
EARLY_PAUSES = (2.0,)


class EarlyHostKeys:
    """Console logs read while the apply still runs, each server's from the moment Terraform
    reports it created (`terraform_event`): the keys a server prints while the rest of the
    apply goes on (volume attachments, floating IPs) need no wait after it.

    Only a head start: a read that fails is tried again at the next pause, and whatever is not
    found by `stop()` (a server replaced on a retry, a cloud that did not answer) the wait after
    the apply reads as before. `found` holds the keys by server id.
    """

    def __init__(self, cloud: str, pauses: Sequence[float] = EARLY_PAUSES) -> None:
        self.found: dict[str, list[HostKey]] = {}
        self._cloud, self._pauses = cloud, pauses
        self._ids: list[str] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def terraform_event(self, event: Mapping[str, Any]) -> None:
        """A server's create complete: its console is read from now on."""
        hook = event.get("hook") or {}
        resource = hook.get("resource") or {}
        server = hook.get("id_value")
        if (
            event.get("type") != "apply_complete"
            or resource.get("resource_type") != "openstack_compute_instance_v2"
            or hook.get("action") != "create"
            or not server
        ):
            return
        with self._lock:
            self._ids.append(str(server))
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._read, daemon=True)
                self._thread.start()

    def stop(self) -> dict[str, list[HostKey]]:
        """End the reading (a read under way is not waited for); the keys found, by server id."""
        self._stopped.set()
        with self._lock:
            return dict(self.found)

    def _read(self) -> None:
        from scs_testbed.cloud import gather

        try:
            cloud = open_cloud(self._cloud, quiet=True)
        except Exception:  # a head start only: the wait after the apply asks again
            LOG.debug("early host keys: cloud %s not opened", self._cloud, exc_info=True)
            return

        def ask() -> None:  # never an answer: read until stop()
            with self._lock:
                waiting = [s for s in self._ids if s not in self.found]
            try:
                logs = gather({s: partial(console_log, cloud, s) for s in waiting})
            except Exception:  # as above: the next pause tries again
                LOG.debug("early host keys: console logs not read", exc_info=True)
                logs = {}
            with self._lock:
                for server, text in logs.items():
                    keys = parse_console_host_keys(text)
                    if keys:
                        self.found[server] = keys

        poll(ask, math.inf, self._pauses, stop=self._stopped)
