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
    EnvironmentProblems,
    load_environment,
    missing_required,
)
from scs_testbed.environment_files import (
    EnvironmentFileError,
    TfvarsSyntaxError,
    display_path,
    key_lines,
    read_environment_file,
)
from scs_testbed.errors import InputError
from scs_testbed.resources import module_dir
from scs_testbed.terraform import Diagnostic, parse_events

_NOT_SUITABLE = re.compile(
    r"The given value is not suitable for var\.(\w+) declared at [^:]+:\S*: "
)


# A variables-only plan needs no provider: no plugin cache, nothing created in the state dir.
_JUDGE_ENVIRONMENT = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}


@dataclass
class ValidationResult:
    name: str
    location: str
    problems: list[str] = field(default_factory=list)
    judged_by_terraform: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe_diagnostic(
    diag: Diagnostic, path: Path, location: str, extra_file: Path | None, labels: dict[str, str]
) -> str:
    declared = re.match(r'variable "(\w+)"', diag.code or "")
    if diag.filename == "variables.tf" and declared:
        # A validation rule: Terraform points at the declaration; say where the value came from.
        where = labels.get(declared.group(1), location)
    elif diag.filename and extra_file and Path(diag.filename) == extra_file:
        key = (diag.code or "").split("=")[0].strip().strip('"')
        where = labels.get(key, f"-o {key}") if key else "-o"
    elif diag.filename and Path(diag.filename).resolve() == path.resolve():
        where = f"{location}:{diag.line}" if diag.line else location
    else:
        where = location
    detail = diag.detail.split("\n\n")[0].strip()
    detail = _NOT_SUITABLE.sub(lambda m: f"{m.group(1)}: ", detail)
    if diag.summary == "No value for required variable":
        match = re.search(r'"(\w+)"', detail)
        name = match.group(1) if match else "a variable"
        return f"{where}: {name} is required but not set"
    return f"{where}: {detail or diag.summary}"


def _hcl_literal(value: object) -> str:
    """A value as an HCL literal (JSON literals are valid HCL; objects use `=`)."""
    if isinstance(value, dict):
        inner = ", ".join(f"{_hcl_literal(str(k))} = {_hcl_literal(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_literal(v) for v in value) + "]"
    if isinstance(value, str):
        # A JSON string is an HCL template: keep `${` and `%{` literal by escaping them.
        text = json.dumps(value, ensure_ascii=False)
        return text.replace("${", "$${").replace("%{", "%%{")
    return json.dumps(value)


def judge_with_terraform(
    path: Path,
    location: str,
    extra: dict[str, tuple[object, str]],
    terraform: str,
    scratch: Path,
) -> list[str]:
    """Problems Terraform finds in a variables file (types, required values, validation).

    `extra` holds the values Terraform must see besides the file's own, each with where it
    comes from: those the reference's conventions give (they may replace the file's) and -o.
    """
    argv = [terraform, f"-chdir={scratch}", "plan", "-input=false", "-lock=false", "-json"]
    argv.append(f"-var-file={path.resolve()}")
    extra_file = None
    if extra:
        handle, name = tempfile.mkstemp(suffix=".tfvars", dir=scratch)
        extra_file = Path(name)
        with open(handle, "w", encoding="utf-8") as out:
            for key, (value, _) in extra.items():
                out.write(f"{key} = {_hcl_literal(value)}\n")
        argv.append(f"-var-file={extra_file}")
    labels = {key: f"{location}:{line}" for key, line in _file_lines(path).items()}
    labels.update((key, label) for key, (_, label) in extra.items())
    try:
        done = runner.run(argv, env=_JUDGE_ENVIRONMENT, timeout=120)
    finally:
        if extra_file:
            extra_file.unlink(missing_ok=True)
    problems = []
    for event in parse_events(done.stdout):
        if event.get("type") != "diagnostic":
            continue
        diag = Diagnostic.from_event(event)
        if diag.severity == "error":
            problems.append(_describe_diagnostic(diag, path, location, extra_file, labels))
    if done.returncode != 0 and not problems:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        problems.append(f"{location}: Terraform failed: {' '.join(tail)}")
    return problems


def _file_lines(path: Path) -> dict[str, int]:
    try:
        return key_lines(read_environment_file(path))
    except InputError:
        return {}


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
    overrides = list(overrides)
    structural: list[str] = []
    syntax_error = False
    extra: dict[str, tuple[object, str]] = {}
    try:
        env = load_environment(name, catalog, overrides)
        extra = env.judge_values()
        result.warnings = list(env.reference.warnings)
    except EnvironmentFileError as error:
        # Not a text file Terraform could read (a FIFO would even block it): nothing to judge.
        result.problems = [error.message]
        return result
    except TfvarsSyntaxError as error:
        structural, syntax_error = [error.message], True
    except EnvironmentProblems as error:
        # The file's problems; derived values and -o still go to Terraform with the file.
        structural, extra = error.details, error.judge_values
    except InputError as error:
        structural = error.details or [error.message]
    if not (terraform and scratch):
        if not structural:
            structural = missing_required(env)
        result.problems = structural
        return result
    if structural and any(p.startswith("-o ") for p in structural):
        result.problems = structural  # an unusable -o: nothing sensible to hand to Terraform
        return result
    judged = judge_with_terraform(path, result.location, extra, terraform, scratch)
    result.judged_by_terraform = True
    if syntax_error and judged:
        structural = []  # Terraform's own syntax message points at the right line
    judged_at = {p.split(": ", 1)[0] for p in judged}
    problems = judged + [p for p in structural if p.split(": ", 1)[0] not in judged_at]
    result.problems = sorted(problems, key=_line_of)
    return result


def _line_of(problem: str) -> int:
    match = re.match(r"[^:]*:(\d+): ", problem)
    return int(match.group(1)) if match else 0


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


def ensure_valid(env: Environment, terraform: str | None) -> None:
    """Raise InputError (exit 2) when Terraform would reject the merged variables."""
    if terraform is None:
        return
    scratch = _prepare_scratch()
    try:
        problems = judge_with_terraform(
            env.path, env.location, env.judge_values(), terraform, scratch
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if problems:
        raise InputError(
            f"environment {env.name!r} is not valid",
            details=sorted(problems, key=_line_of),
            hint=f"scs-testbed env validate {env.name} shows the same with file:line",
        )
