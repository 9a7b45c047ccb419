"""A run's summary: every step's result, the verdict and the exit code, as JSON
(`summary.json`, `--json`) and as a JUnit test suite (one test case per step) for CI views.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from scs_testbed.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from scs_testbed.redact import redact
from scs_testbed.steps import StepResult


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


def write_junit(summary: Summary, path: Path) -> None:
    """Write the steps' JUnit XML to `path` (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(summary), encoding="utf-8")
