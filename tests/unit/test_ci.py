"""The ci step engine with stand-in steps that are real child processes: failures, timeouts,
destroy policies, the JSON summary and JUnit, and SIGTERM / Ctrl-C to the real CLI.

Every wait polls for an event the test can observe (a marker file), never a fixed time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from scs_testbed import ci
from scs_testbed.errors import EXIT_REMOTE, EXIT_SMOKE, InputError
from scs_testbed.summary import Summary, junit_xml
from tests.unit.test_interrupts import cli_env

REPO = Path(__file__).resolve().parents[2]


def script(marks: Path, name: str, body: str = "", code: int = 0) -> str:
    """A stand-in step: leaves `<name>-ran` in `marks`, prints, runs `body`, exits `code`."""
    return (
        textwrap.dedent(
            f"""\
        import os, pathlib, signal, sys, time
        marks = pathlib.Path({str(marks)!r})
        (marks / "{name}-ran").write_text(str(os.getpid()))
        print("{name} says hello", flush=True)
        """
        )
        + textwrap.dedent(body)
        + f"\nsys.exit({code})\n"
    )


HANG = """
(marks / "{name}-started").write_text("")
time.sleep(600)
"""
TRAP = """
def stop(sig, frame):
    (marks / f"{name}-got-{{signal.Signals(sig).name}}").write_text("")
    sys.exit(128 + sig)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
(marks / "{name}-started").write_text("")
time.sleep(600)
"""
IGNORE_TERM = """
signal.signal(signal.SIGTERM, signal.SIG_IGN)
(marks / "{name}-started").write_text("")
time.sleep(600)
"""


def standins(marks: Path, behaviour: dict[str, tuple[str, int]] | None = None) -> list[ci.Step]:
    """The real step table's names, phases and flags; each command a stand-in script."""
    behaviour = behaviour or {}
    steps = []
    for real in ci.STEPS:
        body, code = behaviour.get(real.name, ("", 0))
        text = script(marks, real.name, body.format(name=real.name), code)
        steps.append(replace(real, do=lambda plan, text=text: [sys.executable, "-c", text]))
    return steps


def engine(tmp_path: Path, steps: list[ci.Step], **kwargs: object) -> ci.Engine:
    plan = ci.Plan("local", "cil-unit", "localcloud", "cil-unit", tmp_path / "out")
    return ci.Engine(plan, steps=steps, grace=2.0, **kwargs)  # type: ignore[arg-type]


def statuses(summary: Summary) -> dict[str, str]:
    return {r.step: r.status for r in summary.steps}


def test_all_steps_pass_summary_junit_and_logs(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    summary = engine(tmp_path, standins(marks)).run()
    assert summary.exit_code == 0 and summary.result == "passed"
    assert list(statuses(summary).values()) == ["passed"] * 7
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["result"] == "passed" and written["exit_code"] == 0
    assert [s["step"] for s in written["steps"]] == ci.step_names()
    for step in written["steps"]:
        assert step["exit_code"] == 0 and step["seconds"] > 0
        assert f"{step['step']} says hello" in Path(step["log"]).read_text()
    suite = ET.fromstring(junit_xml(summary))
    assert suite.get("tests") == "7" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ci.step_names()


def test_a_failing_step_stops_the_rest_teardown_runs_exit_code_is_the_steps(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    summary = engine(tmp_path, standins(marks, {"deploy": ("", 4)})).run()
    assert statuses(summary) == {
        "cleanup": "passed",
        "check": "passed",
        "deploy": "failed",
        "watch": "not run",
        "smoke": "not run",
        "collect": "passed",
        "destroy": "passed",
    }
    assert summary.exit_code == 4
    assert summary.as_dict()["first_failure"] == "deploy"
    assert not (marks / "watch-ran").exists() and (marks / "destroy-ran").exists()
    suite = ET.fromstring(junit_xml(summary))
    deploy = next(c for c in suite.iter("testcase") if c.get("name") == "deploy")
    failure = deploy.find("failure")
    assert failure is not None and failure.get("message") == "exit code 4"
    assert "deploy says hello" in (failure.text or "")
    assert suite.get("failures") == "1" and suite.get("skipped") == "2"


def test_a_step_past_its_timeout_is_stopped_and_counts_as_its_failure_code(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    steps = standins(marks, {"watch": (HANG, 0)})
    started = time.monotonic()
    summary = engine(tmp_path, steps, timeouts={"watch": 1.0}).run()
    assert time.monotonic() - started < 60
    watch = next(r for r in summary.steps if r.step == "watch")
    assert watch.status == "timeout" and watch.exit_code == -signal.SIGTERM
    assert summary.exit_code == EXIT_REMOTE  # watch's code: the child said nothing itself
    pid = int((marks / "watch-ran").read_text())
    assert not Path(f"/proc/{pid}").exists()
    assert statuses(summary)["destroy"] == "passed"
    suite = ET.fromstring(junit_xml(summary))
    case = next(c for c in suite.iter("testcase") if c.get("name") == "watch")
    assert case.find("failure").get("message") == "timed out after 1 s"  # type: ignore[union-attr]


def test_a_step_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    summary = engine(
        tmp_path, standins(marks, {"smoke": (IGNORE_TERM, 0)}), timeouts={"smoke": 1}
    ).run()
    smoke = next(r for r in summary.steps if r.step == "smoke")
    assert smoke.status == "timeout" and smoke.exit_code == -signal.SIGKILL
    assert summary.exit_code == EXIT_SMOKE
    assert not Path(f"/proc/{int((marks / 'smoke-ran').read_text())}").exists()


@pytest.mark.parametrize(
    ("policy", "deploy_code", "destroyed"),
    [
        ("always", 0, True),
        ("always", 4, True),
        ("on-failure", 0, False),
        ("on-failure", 4, True),
        ("never", 4, False),
    ],
)
def test_destroy_policies(tmp_path: Path, policy: str, deploy_code: int, destroyed: bool) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    summary = engine(tmp_path, standins(marks, {"deploy": ("", deploy_code)}), destroy=policy).run()
    assert (marks / "destroy-ran").exists() is destroyed
    assert statuses(summary)["destroy"] == ("passed" if destroyed else "skipped")
    assert statuses(summary)["collect"] == "passed"  # logs are collected whatever the policy
    assert summary.exit_code == deploy_code


def test_nothing_deployed_nothing_to_tear_down(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    summary = engine(tmp_path, standins(marks, {"check": ("", 3)})).run()
    assert summary.exit_code == 3
    assert statuses(summary)["collect"] == statuses(summary)["destroy"] == "skipped"
    assert next(r for r in summary.steps if r.step == "destroy").reason == "nothing was deployed"


def test_skipped_steps(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    summary = engine(tmp_path, standins(marks), skip={"smoke", "watch"}).run()
    assert statuses(summary)["smoke"] == statuses(summary)["watch"] == "skipped"
    assert summary.exit_code == 0 and not (marks / "smoke-ran").exists()


def test_timeouts_and_skips_are_checked() -> None:
    assert ci.parse_timeouts(["deploy=60", "watch=1.5"]) == {"deploy": 60.0, "watch": 1.5}
    for bad in ("deploy", "deplo=5", "deploy=0", "deploy=-3", "deploy=nan", "deploy=x"):
        with pytest.raises(InputError, match="--timeout"):
            ci.parse_timeouts([bad])
    with pytest.raises(InputError, match="not a step") as raised:
        ci.check_skips(["smok"])
    assert "smoke" in (raised.value.hint or "")


def test_real_step_commands(tmp_path: Path) -> None:
    exists = {"value": False}
    plan = ci.Plan(
        "local", "cil-x", "localcloud", "cil-x", tmp_path, options=["--nodes=3"],
        has_testbed=lambda: exists["value"],
    )  # fmt: skip
    steps = {s.name: s for s in ci.STEPS}
    tail = lambda step: step.do(plan)[3:]  # noqa: E731 - after `python -m scs_testbed`
    assert tail(steps["cleanup"]) == [
        "leftovers", "-e", "local", "--name", "cil-x", "--delete", "--nodes=3",
    ]  # fmt: skip
    assert steps["collect"].do(plan) == "no testbed to collect from"
    assert "--skip-check" not in tail(steps["deploy"])
    plan.passed.add("check")
    assert tail(steps["deploy"])[-1] == "--skip-check"
    exists["value"] = True
    assert tail(steps["destroy"]) == ["destroy", "cil-x", "--yes", "--force-cleanup"]
    assert tail(steps["smoke"]) == ["smoke", "cil-x", "--junit", str(tmp_path / "smoke-junit.xml")]
    assert tail(steps["collect"]) == ["collect", "cil-x", "-o", str(tmp_path)]


# --------------------------------------------------------------------------- the real CLI

DRIVER = """
import json, sys
import scs_testbed.ci as ci
spec = json.loads(sys.argv.pop(1))
def command(text):
    return lambda plan: [sys.executable, "-c", text]
ci.STEPS = tuple(
    ci.Step(s["name"], command(s["text"]), s["phase"], 600, s["code"],
            creates=s["creates"], destroys=s["destroys"])
    for s in spec
)
sys.argv[0] = "scs-testbed"
from scs_testbed.cli import main
main()
"""


def start_ci(
    tmp_path: Path, marks: Path, behaviour: dict[str, tuple[str, int]], *args: str
) -> subprocess.Popen[str]:
    spec = [
        {
            "name": s.name,
            "phase": s.phase,
            "text": script(
                marks,
                s.name,
                behaviour.get(s.name, ("", 0))[0].format(name=s.name),
                behaviour.get(s.name, ("", 0))[1],
            ),
            "code": s.exit_code,
            "creates": s.creates,
            "destroys": s.destroys,
        }
        for s in ci.STEPS
    ]
    argv = [
        sys.executable,
        "-c",
        DRIVER,
        json.dumps(spec),
        "ci",
        "-e",
        "local",
        "--name",
        "cil-unit",
    ]
    argv += ["--output", str(tmp_path / "out"), "--stop-grace", "10", *args]
    return subprocess.Popen(
        argv,
        env=cli_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_step_stops_the_step_runs_the_teardown(
    tmp_path: Path, sig: int, code: int
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    process = start_ci(
        tmp_path, marks, {"deploy": (TRAP, 0)}, "--json", "--junit", str(tmp_path / "steps.xml")
    )
    try:
        wait_for(marks / "deploy-started", process)
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, err
    name = signal.Signals(sig).name
    assert (marks / f"deploy-got-{name}").exists()  # forwarded once, as that signal
    assert (marks / "collect-ran").exists() and (marks / "destroy-ran").exists()
    assert not (marks / "watch-ran").exists()
    summary = json.loads(out)  # --json: the summary alone on stdout
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["result"] == "interrupted" and summary["interrupted_by"] == name
    assert summary["exit_code"] == code
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["deploy"]["status"] == "interrupted" and steps["deploy"]["exit_code"] == 128 + sig
    assert [steps[s]["status"] for s in ("watch", "smoke")] == ["not run", "not run"]
    assert [steps[s]["status"] for s in ("collect", "destroy")] == ["passed", "passed"]
    suite = ET.parse(tmp_path / "steps.xml").getroot()
    assert suite.get("errors") == "1"
    assert "the teardown ran" in err


def test_teardown_runs_when_the_reader_of_its_output_is_gone(tmp_path: Path) -> None:
    """A cancelled CI job: the log pipe closes, then SIGTERM. Writing to the closed pipe must
    not cut the teardown short (it did: the testbed stayed)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    body = TRAP.replace('(marks / "{name}-started").write_text("")', "")
    body = 'for _ in range(50): print("{name} is busy", flush=True)\n' + body
    process = start_ci(tmp_path, marks, {"deploy": (body, 0)})
    try:
        wait_for(marks / "deploy-ran", process)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader goes away
        process.stderr.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    seen = sorted(p.name for p in marks.iterdir())
    assert (marks / "deploy-got-SIGTERM").exists(), seen
    assert (marks / "collect-ran").exists() and (marks / "destroy-ran").exists(), seen
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    steps = {s["step"]: s["status"] for s in summary["steps"]}
    assert (steps["collect"], steps["destroy"]) == ("passed", "passed"), steps


def test_cli_failure_exit_code_and_bad_input(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    process = start_ci(tmp_path, marks, {"smoke": ("", 6)}, "--json")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 6, err
    assert json.loads(out)["first_failure"] == "smoke"
    assert "step smoke failed" in err

    env = cli_env(tmp_path)
    for args, message in (
        (["--destroy", "sometimes"], "--destroy 'sometimes' is not a policy"),
        (["--timeout", "deploy"], "expected STEP=SECONDS"),
        (["--skip", "nothing"], "'nothing' is not a step"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "scs_testbed", "ci", "-e", "local", "--name", "cil-bad", *args],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert not (tmp_path / "ci-cil-bad").exists()
