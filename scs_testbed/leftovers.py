"""Resources with a testbed's exact names that Terraform does not track, and cloud calls that
outlast a flaky API.

A create the cloud carried out while the client lost the answer (a reset connection, a
timeout) leaves a resource Terraform does not know: the next apply would create a second one,
and a destroy would leave the first. So before a retried apply, resources carrying the testbed's
exact names (never a bare prefix) whose id is not in the state are removed; after a destroy the
leftover step removes the same way whatever is still there. The cloud calls of both are retried
while the cloud answers with transient errors (`transient`), each wait announced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from scs_testbed.errors import TestbedError
from scs_testbed.testbed import Reporter
from scs_testbed.transient import transient_exception

T = TypeVar("T")


def tracked_ids(resources: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of every resource instance in a Terraform state (a keypair's id is its name)."""
    ids: set[str] = set()
    for resource in resources:
        for instance in resource.get("instances") or []:
            ident = (instance.get("attributes") or {}).get("id")
            if ident:
                ids.add(str(ident))
    return ids


def with_cloud_retries(call: Callable[[], T], reporter: Reporter, delays: tuple[float, ...]) -> T:
    """`call()`, again after each transient cloud error (one announced wait per entry of
    `delays`); the last error is raised when they run out or an error is not transient."""
    attempt = 1
    while True:
        try:
            return call()
        except TestbedError as error:
            reason = transient_exception(error)
            if reason is None or attempt > len(delays):
                raise
            delay = delays[attempt - 1]
            reporter.retry(attempt, reason, delay)
            time.sleep(delay)
            attempt += 1


def remove_untracked(
    cloud: str,
    prefix: str,
    resources: list[dict[str, Any]],
    reporter: Reporter,
    delays: tuple[float, ...] = (5.0, 10.0),
) -> int:
    """Before a retried apply: delete what carries the testbed's names but is not in its state.

    Returns how many were removed. A cloud that cannot be asked now is noted, not fatal: the
    retried apply goes on, and the testbed's destroy removes such resources by name.
    """
    from scs_testbed.cloud import connect
    from scs_testbed.discover import delete_found, untracked_resources

    tracked = tracked_ids(resources)

    def remove() -> int:
        conn = connect(cloud)
        found = untracked_resources(conn, prefix, tracked)
        if found:
            reporter.step(
                f"removing {len(found)} resource(s) named {prefix}-* that Terraform does not "
                "track (created although the answer was lost)"
            )
            delete_found(
                conn, found, on_delete=lambda f: reporter.note(f"deleted {f.kind} {f.name}")
            )
        return len(found)

    try:
        return with_cloud_retries(remove, reporter, delays)
    except TestbedError as error:
        reporter.note(
            f"untracked resources not checked now ({error.message}); destroy removes them by name"
        )
        return 0
