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

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from scs_testbed.errors import TerraformError, TestbedError
from scs_testbed.retrying import retried
from scs_testbed.state_dir import DamagedRecord
from scs_testbed.testbed import Reporter
from scs_testbed.transient import transient_exception

if TYPE_CHECKING:
    from scs_testbed.terraform import TerraformRunner

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

    def once(_attempt: int) -> tuple[T | None, TestbedError | None]:
        try:
            return call(), None
        except TestbedError as error:
            return None, error

    value, error = retried(
        once,
        lambda outcome: None if outcome[1] is None else transient_exception(outcome[1]),
        lambda attempt, reason, delay: reporter.retry(attempt, reason, delay),
        delays,
    )
    if error is not None:
        raise error
    return cast(T, value)


def remove_untracked(
    cloud: str,
    prefix: str,
    runner: TerraformRunner,
    reporter: Reporter,
    delays: tuple[float, ...] = (5.0, 10.0),
) -> int:
    """Delete what carries the testbed's names but is not in its state (before a retried apply,
    and before the destroy of a testbed whose apply failed midway).

    Returns how many were removed. A state or a cloud that cannot be read now is noted, not
    fatal: the Terraform run that follows meets the same state, and the testbed's destroy
    removes such resources by name.
    """
    from scs_testbed.cloud import connect
    from scs_testbed.discover import delete_found, untracked_resources

    try:
        tracked = tracked_ids(runner.state_resources())
    except (TerraformError, DamagedRecord) as error:
        reporter.note(f"the state cannot be read now ({error.message}): nothing removed")
        return 0

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
