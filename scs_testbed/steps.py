"""The lifecycle as data: steps (name, what each does and undoes, timeout, exit code) and the
one engine that runs them, with the teardown in `finally`.

    prepare → up (until a step does not pass) │ then, whatever happened (a failure, Ctrl-C,
                                              │ SIGTERM): the undo of every started step, last
                                              │ first, if the run failed; the teardown steps

deploy and destroy (`testbed`) run their steps in this process: a step fails by raising, and
the error goes on to the caller once the undos and the teardown ran. `ci` runs every step as a
child process with its timeout (`ci.Engine` performs them) and keeps the results for its
summary; an interrupt ends its run with the teardown done instead of an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

from scs_testbed.errors import EXIT_UNEXPECTED

PREPARE, UP, TEARDOWN = "prepare", "up", "teardown"
DESTROY_POLICIES = ("always", "on-failure", "never")

C = TypeVar("C")  # what the steps work on: a deploy's state, ci's plan


@dataclass(frozen=True)
class Step(Generic[C]):
    """One lifecycle step.

    `do(context)`: in this process, the work itself (it raises to fail); for `ci`, the command
    line of the child that does it, or a str saying why it is skipped. `undo(context, error)`
    runs after the step started when the run fails (`error`: what stopped it, None when a
    child step ended badly); teardown steps run after the others, whatever happened.
    """

    name: str
    do: Callable[[C], Any]
    phase: str = UP  # prepare | up | teardown
    timeout: float | None = None  # seconds; enforced where a step runs as a child (ci)
    exit_code: int = EXIT_UNEXPECTED  # the run's code when the step ends without its own code
    undo: Callable[[C, BaseException | None], None] | None = None
    creates: bool = False  # it may create cloud resources: the teardown runs once it started
    destroys: bool = False  # it removes the testbed: it runs as the destroy policy says


@dataclass
class StepResult:
    """What one step did. status: passed, failed, timeout, interrupted, skipped, not run."""

    step: str
    phase: str
    status: str
    exit_code: int | None = None
    seconds: float = 0.0
    timeout: float | None = None
    reason: str = ""
    log: str | None = None
    command: list[str] | None = None
    failure_code: int = 1  # the run's code when the step did not end with its own (timeout, signal)
    tail: list[str] = field(default_factory=list, repr=False)

    @property
    def bad(self) -> bool:
        return self.status in ("failed", "timeout", "interrupted")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("tail")
        return data


class StepInterrupted(Exception):
    """Ctrl-C or SIGTERM while a step ran (as a child); the step has stopped, `result` says how."""

    def __init__(self, result: StepResult):
        super().__init__(result.reason)
        self.result = result


@dataclass
class Outcome:
    """A run's results, in step order, and the signal that interrupted it (if one did)."""

    results: list[StepResult]
    interrupted: str | None = None


@dataclass
class Engine(Generic[C]):
    """Runs the steps: the prepare and up steps until one does not pass, then in `finally` the
    undos of the started steps (when the run failed) and the teardown steps (as `destroy`
    says, and only when there is something to tear down: a `creates` step started, or
    `exists()`)."""

    steps: Sequence[Step[C]]
    context: C
    perform: Callable[[Step[C]], StepResult] | None = None  # default: `do` it in this process
    destroy: str = "always"  # when `destroys` steps run: always, on-failure, never
    skip: set[str] = field(default_factory=set)
    exists: Callable[[], bool] = lambda: False  # something to tear down though nothing started
    signal_name: Callable[[], str] = lambda: "SIGINT"  # which signal an interrupt was
    tell: Callable[[StepResult], None] = lambda result: None  # results the engine decides itself
    reraise: bool = True  # Ctrl-C/SIGTERM goes on after the teardown (False: it ends the run)
    _teardown_interrupted: str | None = field(default=None, init=False, repr=False)

    def run(self) -> Outcome:
        """Run the steps; the teardown has run when this returns or raises."""
        results: list[StepResult] = []
        started: list[Step[C]] = []
        interrupted: str | None = None
        error: BaseException | None = None
        created = False
        try:
            for step in [s for s in self.steps if s.phase != TEARDOWN]:
                if interrupted or any(r.bad for r in results):
                    results.append(self._not_run(step, "an earlier step did not pass"))
                    continue
                created = created or (step.creates and step.name not in self.skip)
                started.append(step)
                results.append(self._run(step))
        except StepInterrupted as stop:
            results.append(stop.result)
            interrupted = self.signal_name()
        except KeyboardInterrupt as stop:  # between two steps, or in a step run here
            interrupted, error = self.signal_name(), stop
            if self.reraise:
                raise
        except BaseException as failure:  # a step run here failed: it goes on after the teardown
            error = failure
            raise
        finally:
            done = {r.step for r in results}
            for step in [s for s in self.steps if s.phase != TEARDOWN and s.name not in done]:
                results.append(self._not_run(step, f"interrupted ({interrupted})"))
            failed = interrupted is not None or error is not None or any(r.bad for r in results)
            if failed:
                for step in reversed(started):
                    if step.undo is not None:
                        step.undo(self.context, error)
            results += self._teardown(failed, created or self.exists())
            interrupted = interrupted or self._teardown_interrupted
        return Outcome(results, interrupted)

    def _teardown(self, failed: bool, something_there: bool) -> list[StepResult]:
        results: list[StepResult] = []
        for step in [s for s in self.steps if s.phase == TEARDOWN]:
            if self._teardown_interrupted:
                results.append(self._not_run(step, "interrupted again during teardown"))
                continue
            if step.destroys and not self._destroys(failed):
                results.append(self._not_run(step, f"--destroy={self.destroy}", "skipped"))
                continue
            if not something_there:
                results.append(self._not_run(step, "nothing was deployed", "skipped"))
                continue
            try:
                results.append(self._run(step))
            except StepInterrupted as stop:  # a second Ctrl-C/SIGTERM: the user insists
                results.append(stop.result)
                self._teardown_interrupted = self.signal_name()
            except KeyboardInterrupt:
                if self.reraise:
                    raise
                self._teardown_interrupted = self.signal_name()
                results.append(self._not_run(step, "interrupted again during teardown"))
        return results

    def _destroys(self, failed: bool) -> bool:
        return self.destroy == "always" or (self.destroy == "on-failure" and failed)

    def _not_run(self, step: Step[C], reason: str, status: str = "not run") -> StepResult:
        result = StepResult(step.name, step.phase, status, reason=reason)
        self.tell(result)
        return result

    def _run(self, step: Step[C]) -> StepResult:
        if step.name in self.skip:
            return self._not_run(step, "--skip", "skipped")
        if self.perform is not None:
            return self.perform(step)
        started = time.monotonic()
        step.do(self.context)
        seconds = time.monotonic() - started
        return StepResult(step.name, step.phase, "passed", 0, seconds, failure_code=step.exit_code)


def step_names(steps: Sequence[Step[Any]]) -> list[str]:
    """The names of the steps, in order."""
    return [s.name for s in steps]
