"""`scs-testbed ci`: the whole lifecycle of one testbed as data, with teardown in `finally`.

    cleanup → check → deploy → watch → smoke │ collect → destroy
    (prepare)  (up ──────────────────────────│ teardown, whatever happened)

Each step is a child `python -m scs_testbed <step> …` in its own session, started through
`runner.spawn`, so that
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from subprocess import TimeoutExpired
from typing import Any, Protocol
from xml.etree import ElementTree as ET

from scs_testbed import runner
from scs_testbed.errors import (
    EXIT_INTERRUPTED,
    EXIT_PREFLIGHT,
    EXIT_REMOTE,
    EXIT_SMOKE,
    EXIT_TERMINATED,
    EXIT_TERRAFORM,
    InputError,
)
from scs_testbed.redact import redact

DESTROY_POLICIES = ("always", "on-failure", "never")
PREPARE, UP, TEARDOWN = "prepare", "up", "teardown"
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


Command = Callable[[Plan], "list[str] | str"]  # argv, or a str: why the step is skipped


@dataclass(frozen=True)
class Step:
    """One lifecycle step: its command, phase, default timeout and exit code on a timeout."""

    name: str
    phase: str
    command: Command
    timeout: float
    failure_code: int  # ci's exit code when the step timed out or died by a signal
    creates: bool = False  # it may create cloud resources: teardown runs once it started
    destroys: bool = False  # it removes the testbed: run as --destroy says


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


STEPS: tuple[Step, ...] = (
    Step("cleanup", PREPARE, _remove_testbed, 1800, EXIT_TERRAFORM),
    Step("check", UP, _check, 600, EXIT_PREFLIGHT),
    Step("deploy", UP, _deploy, 3600, EXIT_TERRAFORM, creates=True),
    Step("watch", UP, _watch, 4 * 3600, EXIT_REMOTE),
    Step("smoke", UP, _smoke, 3600, EXIT_SMOKE),
    Step("collect", TEARDOWN, _collect, 900, EXIT_REMOTE),
    Step("destroy", TEARDOWN, _remove_testbed, 3600, EXIT_TERRAFORM, destroys=True),
)


def step_names(steps: Sequence[Step] | None = None) -> list[str]:
    """The names of the steps, in order."""
    return [s.name for s in (STEPS if steps is None else steps)]


def parse_timeouts(values: Sequence[str], steps: Sequence[Step] | None = None) -> dict[str, float]:
    """`STEP=SECONDS` pairs; an unknown step or a non-positive number is an InputError."""
    import math

    names = step_names(steps)
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


def check_skips(values: Sequence[str], steps: Sequence[Step] | None = None) -> set[str]:
    """The steps named by --skip; an unknown name is an InputError listing the steps."""
    names = step_names(steps)
    unknown = [v for v in values if v not in names]
    if unknown:
        raise InputError(
            f"--skip {unknown[0]!r} is not a step",
            hint=f"steps: {', '.join(names)}",
        )
    return set(values)


# --------------------------------------------------------------------------- results


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
    failure_code: int = 1  # ci's code when the step did not end with its own (timeout, signal)
    tail: list[str] = field(default_factory=list, repr=False)

    @property
    def bad(self) -> bool:
        return self.status in ("failed", "timeout", "interrupted")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("tail")
        return data


@dataclass
class Summary:
    """The run: every step's result, the verdict and ci's exit code."""

    testbed: str
    environment: str
    cloud: str
    destroy: str
    steps: list[StepResult]
    seconds: float
    interrupted_by: str | None = None

    @property
    def first_failure(self) -> StepResult | None:
        return next((r for r in self.steps if r.bad and r.status != "interrupted"), None)

    @property
    def exit_code(self) -> int:
        """Interrupted: 130/143. Else the first failing step's code (its timeout code if it
        did not end by itself). 0 when every step that ran passed."""
        if self.interrupted_by:
            return EXIT_TERMINATED if self.interrupted_by == "SIGTERM" else EXIT_INTERRUPTED
        failed = self.first_failure
        if failed is None:
            return 0
        own = failed.status == "failed" and failed.exit_code is not None and failed.exit_code > 0
        return failed.exit_code if own and failed.exit_code else failed.failure_code

    @property
    def result(self) -> str:
        if self.interrupted_by:
            return "interrupted"
        return "failed" if self.first_failure else "passed"

    def as_dict(self) -> dict[str, Any]:
        failed = self.first_failure
        return {
            "testbed": self.testbed,
            "environment": self.environment,
            "cloud": self.cloud,
            "destroy": self.destroy,
            "result": self.result,
            "exit_code": self.exit_code,
            "first_failure": failed.step if failed else None,
            "interrupted_by": self.interrupted_by,
            "seconds": round(self.seconds, 3),
            "steps": [r.as_dict() for r in self.steps],
        }


def junit_xml(summary: Summary) -> str:
    """The steps as a JUnit test suite (one test case per step) for CI result views."""
    counts = {
        "tests": len(summary.steps),
        "failures": sum(r.status in ("failed", "timeout") for r in summary.steps),
        "errors": sum(r.status == "interrupted" for r in summary.steps),
        "skipped": sum(r.status in ("skipped", "not run") for r in summary.steps),
    }
    attributes = {"name": "scs-testbed ci", "time": f"{summary.seconds:.3f}"}
    suite = ET.Element("testsuite", attributes | {k: str(v) for k, v in counts.items()})
    for result in summary.steps:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"scs-testbed.ci.{summary.environment}",
            name=result.step,
            time=f"{result.seconds:.3f}",
        )
        tail = redact("\n".join(result.tail))
        if result.status == "failed":
            node = ET.SubElement(case, "failure", message=f"exit code {result.exit_code}")
            node.text = tail
        elif result.status == "timeout":
            node = ET.SubElement(case, "failure", message=f"timed out after {result.timeout:.0f} s")
            node.text = tail
        elif result.status == "interrupted":
            node = ET.SubElement(case, "error", message=result.reason or "interrupted")
            node.text = tail
        elif result.status in ("skipped", "not run"):
            ET.SubElement(case, "skipped", message=f"{result.status}: {result.reason}".strip())
        if result.log:
            ET.SubElement(case, "system-out").text = f"log: {result.log}"
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


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
    """The ci process got Ctrl-C/SIGTERM while a step ran; the step is already stopped."""

    def __init__(self, result: StepResult | None = None, *, code: int | None = None, sig: str = ""):
        super().__init__(sig)
        self.result = result
        self.exit_code = code
        self.signal = sig


@dataclass
class Engine:
    """Runs the steps: up until one fails, then the teardown the destroy policy asks for."""

    plan: Plan
    steps: Sequence[Step] = STEPS
    destroy: str = "always"
    timeouts: dict[str, float] = field(default_factory=dict)
    skip: set[str] = field(default_factory=set)
    reporter: CiReporter = field(default_factory=SilentCiReporter)
    grace: float = DEFAULT_GRACE
    signal_name: Callable[[], str] = lambda: "SIGINT"  # which signal the interrupt was
    tail_lines: int = 40
    _teardown_interrupted: str | None = field(default=None, init=False, repr=False)

    def run(self) -> Summary:
        """Run the pipeline; the summary is returned also after Ctrl-C/SIGTERM (teardown ran)."""
        if self.destroy not in DESTROY_POLICIES:
            raise InputError(
                f"--destroy {self.destroy!r} is not one of {', '.join(DESTROY_POLICIES)}"
            )
        started = time.monotonic()
        (self.plan.output_dir / "logs").mkdir(parents=True, exist_ok=True)
        results: list[StepResult] = []
        interrupted: str | None = None
        created = False
        try:
            for step in [s for s in self.steps if s.phase != TEARDOWN]:
                if interrupted or any(r.bad for r in results):
                    results.append(self._not_run(step, "an earlier step did not pass"))
                    continue
                created = created or (step.creates and step.name not in self.skip)
                results.append(self._run(step))
        except _Interrupted as stop:
            assert stop.result is not None
            results.append(stop.result)
            interrupted = self.signal_name()
        except KeyboardInterrupt:  # between two steps
            interrupted = self.signal_name()
        finally:
            # teardown: whatever happened above (a failure, a timeout, Ctrl-C, SIGTERM)
            done = {r.step for r in results}
            for step in [s for s in self.steps if s.phase != TEARDOWN and s.name not in done]:
                results.append(self._not_run(step, f"interrupted ({interrupted})"))
            failed = interrupted is not None or any(r.bad for r in results)
            results += self._teardown(failed, created or self.plan.has_testbed())
            interrupted = interrupted or self._teardown_interrupted
        summary = Summary(
            self.plan.name,
            self.plan.environment,
            self.plan.cloud,
            self.destroy,
            results,
            time.monotonic() - started,
            interrupted,
        )
        self.write(summary)
        return summary

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
            except _Interrupted as stop:  # a second Ctrl-C/SIGTERM: the user insists
                assert stop.result is not None
                results.append(stop.result)
                self._teardown_interrupted = self.signal_name()
            except KeyboardInterrupt:
                self._teardown_interrupted = self.signal_name()
                results.append(self._not_run(step, "interrupted again during teardown"))
        return results

    def _tell(self, what: str, *args: Any) -> None:
        """Report, but never let the reader's end fail a step or the teardown: a CI job's log
        pipe can close before the teardown has run (the job cancelled, the runner gone).
        The steps' output still goes to their log files."""
        try:
            getattr(self.reporter, what)(*args)
        except (Exception, SystemExit):  # EPIPE; Rich turns a broken pipe into SystemExit(1)
            self.reporter = SilentCiReporter()

    def _destroys(self, failed: bool) -> bool:
        return self.destroy == "always" or (self.destroy == "on-failure" and failed)

    def _not_run(self, step: Step, reason: str, status: str = "not run") -> StepResult:
        result = StepResult(step.name, step.phase, status, reason=reason)
        self._tell("step_finished", result)
        return result

    def _run(self, step: Step) -> StepResult:
        if step.name in self.skip:
            return self._not_run(step, "--skip", "skipped")
        command = step.command(self.plan)
        if isinstance(command, str):
            return self._not_run(step, command, "skipped")
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
            failure_code=step.failure_code,
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
            raise _Interrupted(result) from None
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
        self, step: str, argv: list[str], timeout: float, log_path: Path, tail: list[str]
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
                raise _Interrupted(code=code, sig=name) from None
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


def write_junit(summary: Summary, path: Path) -> None:
    """Write the steps' JUnit XML to `path` (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(summary), encoding="utf-8")


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
