"""`scs-testbed ci`: the whole lifecycle of one testbed as data, with teardown in `finally`.

    cleanup → check → deploy → watch → smoke │ collect → destroy
    (prepare)  (up ──────────────────────────│ teardown, whatever happened)

The steps are `steps.Step`s run by the one engine (`steps.Engine`); here each step is a child
`python -m scs_testbed <step> …` in its own session, started through `runner.spawn`, so that
  - a step's exit code is the step's own (the command's documented codes);
  - a step that overruns its timeout is stopped (SIGTERM: the child handles it as Ctrl-C, so
    Terraform stops cleanly and keeps its state), killed after a grace period;
  - Ctrl-C or SIGTERM to the ci process (a cancelled CI job) is forwarded to the running child
    once, and the teardown still runs.
The core prints nothing: it reports to a `CiReporter`; `cli/ci.py` renders.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import TimeoutExpired
from typing import Any, Protocol

from scs_testbed import runner
from scs_testbed.errors import (
    EXIT_PREFLIGHT,
    EXIT_REMOTE,
    EXIT_SMOKE,
    EXIT_TERRAFORM,
    InputError,
)
from scs_testbed.redact import redact
from scs_testbed.steps import (
    DESTROY_POLICIES,
    PREPARE,
    TEARDOWN,
    UP,
    Step,
    StepInterrupted,
    StepResult,
)
from scs_testbed.steps import Engine as StepEngine
from scs_testbed.summary import Summary

DEFAULT_GRACE = 90.0  # seconds a stopped step gets to end cleanly (Terraform saving its state)


@dataclass
class Plan:
    """What the steps' command lines are built from (one testbed, one run)."""

    environment: str
    name: str
    cloud: str
    prefix: str
    output_dir: Path
    options: list[str] = field(default_factory=list)  # -o, --nodes, --env-dir for check/deploy
    terraform: str | None = None
    has_testbed: Callable[[], bool] = lambda: False  # the testbed's workspace exists
    passed: set[str] = field(default_factory=set)  # steps that passed so far

    def cli(self, *args: str) -> list[str]:
        """A child of this very program (the same interpreter and package)."""
        return [sys.executable, "-m", "scs_testbed", *args]

    @property
    def junit_smoke(self) -> Path:
        return self.output_dir / "smoke-junit.xml"


# ci's steps are `Step[Plan]`s whose `do(plan)` is the child's command line (argv), or a str:
# why the step is skipped. `Engine` below runs them as children.


# --------------------------------------------------------------------------- the steps


def _terraform(plan: Plan) -> list[str]:
    return ["--terraform", plan.terraform] if plan.terraform else []


def _remove_testbed(plan: Plan) -> list[str]:
    """cleanup and destroy: the testbed's own destroy when it has a record (its state knows what
    it made), else the removal of whatever carries its exact names (an earlier runner died, or
    a deploy stopped before its first apply). Never anything else in the project."""
    if plan.has_testbed():
        return plan.cli("destroy", plan.name, "--yes", "--force-cleanup", *_terraform(plan))
    leftovers = ("leftovers", "-e", plan.environment, "--name", plan.name, "--delete")
    return plan.cli(*leftovers, *plan.options)


def _check(plan: Plan) -> list[str]:
    return plan.cli("check", "-e", plan.environment, "--name", plan.name, *plan.options)


def _deploy(plan: Plan) -> list[str]:
    skip = ["--skip-check"] if "check" in plan.passed else []  # the check step just ran it
    return plan.cli(
        "deploy", "-e", plan.environment, "--name", plan.name, *plan.options, *skip,
        *_terraform(plan),
    )  # fmt: skip


def _watch(plan: Plan) -> list[str]:
    return plan.cli("watch", plan.name, "--plain")


def _smoke(plan: Plan) -> list[str]:
    return plan.cli("smoke", plan.name, "--junit", str(plan.junit_smoke))


def _collect(plan: Plan) -> list[str] | str:
    if not plan.has_testbed():
        return "no testbed to collect from"
    return plan.cli("collect", plan.name, "-o", str(plan.output_dir))


STEPS: tuple[Step[Plan], ...] = (
    Step("cleanup", _remove_testbed, PREPARE, 1800, EXIT_TERRAFORM),
    Step("check", _check, UP, 600, EXIT_PREFLIGHT),
    Step("deploy", _deploy, UP, 3600, EXIT_TERRAFORM, creates=True),
    Step("watch", _watch, UP, 4 * 3600, EXIT_REMOTE),
    Step("smoke", _smoke, UP, 3600, EXIT_SMOKE),
    Step("collect", _collect, TEARDOWN, 900, EXIT_REMOTE),
    Step("destroy", _remove_testbed, TEARDOWN, 3600, EXIT_TERRAFORM, destroys=True),
)


def step_names(table: Sequence[Step[Plan]] | None = None) -> list[str]:
    """The names of the steps, in order."""
    return [s.name for s in (STEPS if table is None else table)]


def parse_timeouts(
    values: Sequence[str], table: Sequence[Step[Plan]] | None = None
) -> dict[str, float]:
    """`STEP=SECONDS` pairs; an unknown step or a non-positive number is an InputError."""
    import math

    names = step_names(table)
    timeouts: dict[str, float] = {}
    for text in values:
        step, sep, seconds = text.partition("=")
        step = step.strip()
        if not sep or step not in names:
            raise InputError(
                f"--timeout {text!r}: expected STEP=SECONDS with STEP one of {', '.join(names)}",
                hint="e.g. --timeout deploy=3600 --timeout watch=600",
            )
        try:
            value = float(seconds)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise InputError(
                f"--timeout {text!r}: {seconds!r} is not a positive number of seconds",
                hint=f"e.g. --timeout {step}=600",
            )
        timeouts[step] = value
    return timeouts


def check_skips(values: Sequence[str], table: Sequence[Step[Plan]] | None = None) -> set[str]:
    """The steps named by --skip; an unknown name is an InputError listing the steps."""
    names = step_names(table)
    unknown = [v for v in values if v not in names]
    if unknown:
        raise InputError(
            f"--skip {unknown[0]!r} is not a step",
            hint=f"steps: {', '.join(names)}",
        )
    return set(values)


# --------------------------------------------------------------------------- the engine


class CiReporter(Protocol):
    """What the engine tells about; the CLI renders it."""

    def step_started(self, step: str, argv: list[str]) -> None: ...
    def output(self, step: str, line: str) -> None: ...
    def step_finished(self, result: StepResult) -> None: ...


class SilentCiReporter:
    """Tells nobody (tests, library use)."""

    def step_started(self, step: str, argv: list[str]) -> None:
        pass

    def output(self, step: str, line: str) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass


class _Interrupted(Exception):
    """The ci process got Ctrl-C/SIGTERM while a child ran; the child is already stopped."""

    def __init__(self, code: int | None, sig: str):
        super().__init__(sig)
        self.exit_code = code
        self.signal = sig


@dataclass
class Engine:
    """Runs ci's steps with the one engine (`steps.Engine`), each step as a child process:
    up until one fails, then the teardown the destroy policy asks for."""

    plan: Plan
    steps: Sequence[Step[Plan]] = STEPS
    destroy: str = "always"
    timeouts: dict[str, float] = field(default_factory=dict)
    skip: set[str] = field(default_factory=set)
    reporter: CiReporter = field(default_factory=SilentCiReporter)
    grace: float = DEFAULT_GRACE
    signal_name: Callable[[], str] = lambda: "SIGINT"  # which signal the interrupt was
    tail_lines: int = 40

    def run(self) -> Summary:
        """Run the pipeline; the summary is returned also after Ctrl-C/SIGTERM (teardown ran)."""
        if self.destroy not in DESTROY_POLICIES:
            raise InputError(
                f"--destroy {self.destroy!r} is not one of {', '.join(DESTROY_POLICIES)}"
            )
        started = time.monotonic()
        (self.plan.output_dir / "logs").mkdir(parents=True, exist_ok=True)
        outcome = StepEngine(
            self.steps,
            self.plan,
            perform=self._run,
            destroy=self.destroy,
            skip=self.skip,
            exists=self.plan.has_testbed,
            signal_name=self.signal_name,
            tell=lambda result: self._tell("step_finished", result),
            reraise=False,
        ).run()
        summary = Summary(
            self.plan.name,
            self.plan.environment,
            self.plan.cloud,
            self.destroy,
            outcome.results,
            time.monotonic() - started,
            outcome.interrupted,
        )
        self.write(summary)
        return summary

    def _tell(self, what: str, *args: Any) -> None:
        """Report, but never let the reader's end fail a step or the teardown: a CI job's log
        pipe can close before the teardown has run (the job cancelled, the runner gone).
        The steps' output still goes to their log files."""
        try:
            getattr(self.reporter, what)(*args)
        except (Exception, SystemExit):  # EPIPE; Rich turns a broken pipe into SystemExit(1)
            self.reporter = SilentCiReporter()

    def _run(self, step: Step[Plan]) -> StepResult:
        """Perform one step as a child. Raises StepInterrupted on Ctrl-C/SIGTERM."""
        command = step.do(self.plan)
        if isinstance(command, str):
            result = StepResult(step.name, step.phase, "skipped", reason=command)
            self._tell("step_finished", result)
            return result
        index = step_names(self.steps).index(step.name) + 1
        log_path = self.plan.output_dir / "logs" / f"{index:02d}-{step.name}.log"
        timeout = self.timeouts.get(step.name, step.timeout)
        result = StepResult(
            step.name,
            step.phase,
            "failed",
            timeout=timeout,
            log=str(log_path),
            command=command,
            failure_code=step.exit_code,
        )
        self._tell("step_started", step.name, command)
        started = time.monotonic()
        try:
            code, why = self._child(step.name, command, timeout, log_path, result.tail)
        except _Interrupted as stop:
            result.seconds = time.monotonic() - started
            result.status, result.exit_code = "interrupted", stop.exit_code
            result.reason = f"interrupted ({stop.signal})"
            self._tell("step_finished", result)
            raise StepInterrupted(result) from None
        result.seconds = time.monotonic() - started
        result.exit_code = code
        if why == "timeout":
            result.status, result.reason = "timeout", f"stopped after {timeout:.0f} s"
        elif code == 0:
            result.status = "passed"
            self.plan.passed.add(step.name)
        elif code is not None and code < 0:
            result.reason = f"killed by signal {-code}"
        self._tell("step_finished", result)
        return result

    def _child(
        self, step: str, argv: list[str], timeout: float | None, log_path: Path, tail: list[str]
    ) -> tuple[int | None, str]:
        """Run one child; returns (exit code, "" | "timeout"). Raises _Interrupted."""
        with (
            open(log_path, "w", encoding="utf-8") as log,
            runner.spawn(argv, new_session=True, env={"SCS_TESTBED_CI_STEP": step}) as proc,
        ):
            os.chmod(log_path, 0o600)
            reader = threading.Thread(target=self._pump, args=(step, proc, log, tail), daemon=True)
            reader.start()
            try:
                try:
                    code: int | None = proc.wait(timeout=timeout)
                    why = ""
                except TimeoutExpired:
                    why = "timeout"
                    code = self._stop(proc, signal.SIGTERM)
            except KeyboardInterrupt:
                name = self.signal_name()
                code = self._stop(proc, signal.SIGTERM if name == "SIGTERM" else signal.SIGINT)
                reader.join(timeout=5)
                raise _Interrupted(code, name) from None
            reader.join(timeout=5)  # a grandchild that keeps the pipe open must not hang us
            return code, why

    def _stop(self, proc: Any, sig: int) -> int | None:
        """Signal the child once, give it `grace` seconds, then kill what is left of it."""
        try:
            if proc.poll() is None:
                proc.send_signal(sig)
            deadline = time.monotonic() + self.grace
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        except KeyboardInterrupt:
            pass  # interrupted again while it ends: kill it now
        if proc.poll() is None:
            # its descendants first (they outlive it), then the child itself: proc.wait() must
            # reap it, or its exit status is lost
            left = runner.descendants(proc.pid)
            proc.kill()
            for pid in left:
                runner.stop_tree(pid, timeout=2)
        return proc.wait()

    def _pump(self, step: str, proc: Any, log: Any, tail: list[str]) -> None:
        for raw in proc.stdout:
            line = redact(raw.rstrip("\n"))
            log.write(line + "\n")
            log.flush()
            tail.append(line)
            del tail[: -self.tail_lines]
            self._tell("output", step, line)

    def write(self, summary: Summary) -> None:
        """summary.json in the output directory (and JUnit where asked: see write_junit)."""
        path = self.plan.output_dir / "summary.json"
        path.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- leftovers


def find_leftovers(cloud: str, prefix: str, delete: bool = False) -> tuple[list[Any], int]:
    """Resources of the project carrying this testbed's exact names (discover's patterns);
    with `delete`, remove them first. Returns (what remains, how many were removed)."""
    from scs_testbed.cloud import connect
    from scs_testbed.discover import delete_resources, find_resources

    conn = connect(cloud)
    found = find_resources(conn, prefix)
    if not delete or not found:
        return found, 0
    remaining = delete_resources(conn, prefix)
    return remaining, len(found) - len(remaining)
