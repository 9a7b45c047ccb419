"""Untracked resources and retried cloud calls: which ids the state holds, which errors are
asked again (and announced), which are not."""

from __future__ import annotations

import pytest

from scs_testbed.errors import InputError
from scs_testbed.leftovers import tracked_ids, with_cloud_retries
from scs_testbed.testbed import SilentReporter
from scs_testbed.transient import transient_exception


def test_tracked_ids_are_every_instance_of_the_state() -> None:
    state = [
        {"type": "openstack_compute_keypair_v2", "instances": [{"attributes": {"id": "tb-key"}}]},
        {"type": "openstack_networking_port_v2", "instances": [
            {"attributes": {"id": "p1"}}, {"attributes": {"id": "p2"}}]},
        {"type": "openstack_networking_network_v2", "instances": []},
    ]  # fmt: skip
    assert tracked_ids(state) == {"tb-key", "p1", "p2"}


class Status(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status_code = status


def failing(*errors: BaseException) -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            try:
                raise errors[len(calls) - 1]
            except Exception as cause:
                raise InputError("cloud 'x': the compute service answered badly") from cause
        return "done"

    return calls, call


def test_a_transient_cloud_error_is_asked_again_and_announced() -> None:
    retries: list[tuple[int, str]] = []

    class Recorder(SilentReporter):
        def retry(self, attempt: int, reason: str, delay: float) -> None:
            retries.append((attempt, reason))

    calls, call = failing(Status(503), ConnectionError("Connection aborted: connection reset"))
    assert with_cloud_retries(call, Recorder(), (0.0, 0.0)) == "done"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert [a for a, _ in retries] == [1, 2]
    assert retries[0][1].startswith("503")


def test_retries_are_bounded_and_a_permanent_error_is_not_retried() -> None:
    calls, call = failing(Status(503), Status(503), Status(503))
    with pytest.raises(InputError):
        with_cloud_retries(call, SilentReporter(), (0.0,))  # type: ignore[arg-type]
    assert len(calls) == 2
    calls, call = failing(Status(404))
    with pytest.raises(InputError):
        with_cloud_retries(call, SilentReporter(), (0.0, 0.0))  # type: ignore[arg-type]
    assert len(calls) == 1
    assert transient_exception(Status(400)) is None


def test_an_unreadable_state_is_noted_and_nothing_is_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before a retried apply (or the destroy of a half-applied testbed) the state is read
    first; when it cannot be, nothing is asked of the cloud and the note says why."""
    from scs_testbed import cloud
    from scs_testbed.errors import TerraformError
    from scs_testbed.leftovers import remove_untracked

    class Unreadable:
        def state_resources(self) -> list[dict[str, object]]:
            raise TerraformError("terraform state pull: the backend did not answer")

    notes: list[str] = []

    class Recorder(SilentReporter):
        def note(self, message: str) -> None:
            notes.append(message)

    def no_cloud(name: str) -> None:
        raise AssertionError(f"the cloud {name!r} was asked although the state was unreadable")

    monkeypatch.setattr(cloud, "connect", no_cloud)
    removed = remove_untracked("c", "tb", Unreadable(), Recorder())  # type: ignore[arg-type]
    assert removed == 0
    assert notes == [
        "the state cannot be read now (terraform state pull: the backend did not answer): "
        "nothing removed"
    ]
