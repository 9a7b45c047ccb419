"""Validate environments for real: python-hcl2 for structure, Terraform itself as the judge.

Terraform judges with a variables-only plan: a scratch directory holding just the module's
`variables.tf` is planned with the environment file as `-var-file`. No provider and no cloud
are needed (~0.3 s), and every type rule and `validation` block of the module is applied with
Terraform's own semantics; its diagnostics carry the file and line of the offending value.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scs_testbed import runner
from scs_testbed.environment import (
    Catalog,
    Environment,
    display_path,
    load_environment,
    missing_required,
)
from scs_testbed.errors import InputError
from scs_testbed.resources import module_dir
from scs_testbed.terraform import Diagnostic, cli_environment, parse_events

_NOT_SUITABLE = re.compile(
    r"The given value is not suitable for var\.(\w+) declared at [^:]+:\S*: "
)


@dataclass
class ValidationResult:
    name: str
    location: str
    problems: list[str] = field(default_factory=list)
    judged_by_terraform: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe_diagnostic(diag: Diagnostic, env: Environment, overrides_file: Path | None) -> str:
    if diag.filename and overrides_file and Path(diag.filename) == overrides_file:
        key = (diag.code or "").split("=")[0].strip().strip('"')
        where = f"-o {key}" if key else "-o"
    elif diag.filename and Path(diag.filename).resolve() == env.path.resolve():
        where = f"{env.location}:{diag.line}" if diag.line else env.location
    else:
        where = env.location
    detail = diag.detail.split("\n\n")[0].strip()
    detail = _NOT_SUITABLE.sub(lambda m: f"{m.group(1)}: ", detail)
    if diag.summary == "No value for required variable":
        match = re.search(r'"(\w+)"', detail)
        name = match.group(1) if match else "a variable"
        return f"{where}: {name} is required but not set"
    return f"{where}: {detail or diag.summary}"


def judge_with_terraform(env: Environment, terraform: str, scratch: Path) -> list[str]:
    """Problems Terraform finds in the environment (type, required, validation blocks)."""
    argv = [terraform, f"-chdir={scratch}", "plan", "-input=false", "-lock=false", "-json"]
    argv.append(f"-var-file={env.path.resolve()}")
    overrides_file = None
    if env.overrides:
        handle, name = tempfile.mkstemp(suffix=".tfvars.json", dir=scratch)
        overrides_file = Path(name)
        with open(handle, "w", encoding="utf-8") as out:
            json.dump(env.overrides, out)
        argv.append(f"-var-file={overrides_file}")
    try:
        done = runner.run(argv, env=cli_environment(), timeout=120)
    finally:
        if overrides_file:
            overrides_file.unlink(missing_ok=True)
    problems = []
    for event in parse_events(done.stdout):
        if event.get("type") != "diagnostic":
            continue
        diag = Diagnostic.from_event(event)
        if diag.severity == "error":
            problems.append(_describe_diagnostic(diag, env, overrides_file))
    if done.returncode != 0 and not problems:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        problems.append(f"{env.location}: Terraform failed: {' '.join(tail)}")
    return problems


def _prepare_scratch() -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="scs-testbed-validate-"))
    shutil.copy(module_dir() / "variables.tf", scratch / "variables.tf")
    return scratch


def validate_one(
    name: str,
    catalog: Catalog,
    overrides: Iterable[str],
    terraform: str | None,
    scratch: Path | None,
) -> ValidationResult:
    try:
        path, _ = catalog.resolve(name)
    except InputError as error:
        return ValidationResult(name, name, [error.message])
    result = ValidationResult(name, display_path(path))
    try:
        env = load_environment(name, catalog, overrides)
    except InputError as error:
        result.problems = error.details or [error.message]
        return result
    if terraform and scratch:
        result.problems = judge_with_terraform(env, terraform, scratch)
        result.judged_by_terraform = True
    else:
        result.problems = missing_required(env)
    return result


def validate_environments(
    names: list[str],
    catalog: Catalog,
    overrides: Iterable[str] = (),
    terraform: str | None = None,
    workers: int = 4,
) -> list[ValidationResult]:
    """Validate several environments concurrently (Terraform runs are independent)."""
    overrides = list(overrides)
    scratch = _prepare_scratch() if terraform else None
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return list(
                pool.map(lambda n: validate_one(n, catalog, overrides, terraform, scratch), names)
            )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
