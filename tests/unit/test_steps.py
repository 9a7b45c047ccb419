"""The one engine of the lifecycle: steps in order, undo and teardown in `finally`."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.errors import TerraformError
from scs_testbed.steps import PREPARE, TEARDOWN, Engine, Step, StepResult, step_names


class Log(list[str]):
    """What the steps did, in order (the context the steps share)."""


def act(name: str, fails: BaseException | None = None) -> Any:
    def do(log: Log) -> None:
        log.append(name)
        if fails is not None:
            raise fails

    return do


def undo(name: str) -> Any:
    def do(log: Log, error: BaseException | None) -> None:
        log.append(f"undo {name} ({type(error).__name__})")

    return do


def table(fail_at: str = "", error: BaseException | None = None) -> list[Step[Log]]:
    def step(name: str, **kw: Any) -> Step[Log]:
        return Step(name, act(name, error if name == fail_at else None), **kw)

    return [
        step("prepare", phase=PREPARE),
        step("first", undo=undo("first")),
        step("second", undo=undo("second"), creates=True),
        step("third"),
        step("collect", phase=TEARDOWN),
        step("destroy", phase=TEARDOWN, destroys=True),
    ]


def test_every_step_in_order_and_the_teardown_after_them() -> None:
    log = Log()
    outcome = Engine(table(), log).run()
    assert log == ["prepare", "first", "second", "third", "collect", "destroy"]
    assert [r.status for r in outcome.results] == ["passed"] * 6
    assert [r.step for r in outcome.results] == step_names(table())
    assert outcome.interrupted is None


def test_a_failure_undoes_the_started_steps_last_first_then_tears_down_and_goes_on() -> None:
    log = Log()
    with pytest.raises(TerraformError, match="apply failed"):
        Engine(table("third", TerraformError("apply failed")), log).run()
    assert log == [
        "prepare", "first", "second", "third",
        "undo second (TerraformError)", "undo first (TerraformError)",
        "collect", "destroy",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "fail_at", "destroyed"),
    [
        ("always", "", True),
        ("on-failure", "", False),
        ("on-failure", "third", True),
        ("never", "third", False),
    ],
)
def test_the_destroy_policy(policy: str, fail_at: str, destroyed: bool) -> None:
    log = Log()
    engine = Engine(table(fail_at, TerraformError("x")), log, destroy=policy)
    try:
        outcome = engine.run()
    except TerraformError:
        assert fail_at
    else:
        assert {r.step: r.status for r in outcome.results}["destroy"] == (
            "passed" if destroyed else "skipped"
        )
    assert ("destroy" in log) is destroyed
    assert "collect" in log  # the rest of the teardown runs whatever the policy


def test_nothing_created_nothing_to_tear_down_unless_something_exists() -> None:
    for exists, torn_down in ((False, False), (True, True)):
        log = Log()
        with pytest.raises(TerraformError):
            Engine(table("first", TerraformError("x")), log, exists=lambda e=exists: e).run()
        assert ("collect" in log) is torn_down


def test_an_interrupt_ends_the_run_with_its_teardown_or_goes_on_after_it() -> None:
    told: list[StepResult] = []
    log = Log()
    outcome = Engine(
        table("second", KeyboardInterrupt()),
        log,
        reraise=False,
        signal_name=lambda: "SIGTERM",
        tell=told.append,
    ).run()
    assert outcome.interrupted == "SIGTERM"
    assert log[-4:] == ["undo second (KeyboardInterrupt)", "undo first (KeyboardInterrupt)",
                        "collect", "destroy"]  # fmt: skip
    statuses = {r.step: (r.status, r.reason) for r in outcome.results}
    assert statuses["third"] == ("not run", "interrupted (SIGTERM)")
    assert [r.step for r in told] == ["second", "third"]  # the results the engine decided

    log = Log()
    with pytest.raises(KeyboardInterrupt):
        Engine(table("second", KeyboardInterrupt()), log).run()
    assert log[-2:] == ["collect", "destroy"]


def test_a_second_interrupt_in_the_teardown() -> None:
    steps = table("collect", KeyboardInterrupt())
    log = Log()
    with pytest.raises(KeyboardInterrupt):  # in this process: it goes on at once
        Engine(steps, log).run()
    assert log[-1] == "collect"
    log = Log()
    outcome = Engine(steps, log, reraise=False).run()  # as ci: the rest of the teardown is left
    statuses = {r.step: (r.status, r.reason) for r in outcome.results}
    assert (
        statuses["collect"]
        == statuses["destroy"]
        == (
            "not run",
            "interrupted again during teardown",
        )
    )
    assert outcome.interrupted == "SIGINT"


def test_skipped_steps_do_not_run() -> None:
    log = Log()
    outcome = Engine(table(), log, skip={"third", "destroy"}).run()
    assert log == ["prepare", "first", "second", "collect"]
    assert {r.step: r.status for r in outcome.results}["third"] == "skipped"
    log = Log()  # a skipped `creates` step created nothing: nothing to tear down
    outcome = Engine(table(), log, skip={"second"}).run()
    assert log == ["prepare", "first", "third"]
    assert outcome.results[-1].reason == "nothing was deployed"
