"""Environments: module defaults ◄ environments/<name>.tfvars ◄ `-o key=value`.

An environment is a Terraform variables file for one cloud. The module's own `variables.tf`
says which keys exist, their types and defaults (`module_variables`); the files are read by
`environment_files`; this module finds them (the catalog) and merges the three sources,
keeping for every merged value where it came from (module default, file:line, or -o).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scs_testbed.environment_files import (
    NotLiteralError,
    display_path,
    parse_tfvars,
    read_environment_file,
    value_of,
)
from scs_testbed.errors import InputError
from scs_testbed.module_variables import (
    ModuleVariable,
    closest,
    convert,
    module_variables,
    type_problem,
    undeclared_message,
)
from scs_testbed.reference_conventions import HANDLED, Reading, read_conventions
from scs_testbed.resources import builtin_env_dir

ENV_DIR_VARIABLE = "SCS_TESTBED_ENV_DIR"
SUFFIX = ".tfvars"


DERIVED = ("reference", "name")  # sources of values the reference's conventions give


@dataclass(frozen=True)
class Source:
    """Where a merged value came from."""

    kind: str  # "default" | "file" | "override" | "reference" | "name" (reference_conventions)
    where: str

    def __str__(self) -> str:
        return self.where


@dataclass
class Environment:
    """A merged environment: every declared variable that has a value, with its source."""

    name: str
    path: Path
    builtin: bool
    values: dict[str, Any]
    sources: dict[str, Source]
    file_values: dict[str, Any] = field(default_factory=dict)
    file_lines: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    reference: Reading = field(default_factory=Reading)  # the reference's conventions

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def location(self) -> str:
        return display_path(self.path)

    def where(self, key: str) -> str:
        """`file:line` of a key set in the environment file, else its source."""
        if key in self.overrides:
            return f"-o {key}"
        if key in self.sources and self.sources[key].kind in DERIVED:
            return str(self.sources[key])
        if key in self.file_lines:
            return f"{self.location}:{self.file_lines[key]}"
        return str(self.sources.get(key, Source("default", "module default")))

    def judge_values(self) -> dict[str, tuple[Any, str]]:
        """Values Terraform must see besides the file's own: derived ones and -o."""
        return {
            key: (self.values[key], self.where(key))
            for key, source in self.sources.items()
            if source.kind in (*DERIVED, "override")
        }

    def header(self) -> list[str]:
        """The comment lines at the top of the file (provider notes)."""
        lines = []
        for line in read_environment_file(self.path).splitlines():
            stripped = line.strip()
            if not stripped.startswith("#"):
                break
            lines.append(stripped.lstrip("#").strip())
        return lines


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Catalog:
    """Where environments are found: the user's directory shadows the built-ins by name."""

    user_dir: Path | None
    builtin_dir: Path

    @classmethod
    def locate(cls, env_dir: Path | None = None) -> Catalog:
        """Use `--env-dir`, else $SCS_TESTBED_ENV_DIR, else ./environments if it exists."""
        builtin = builtin_env_dir()
        if env_dir is None and os.environ.get(ENV_DIR_VARIABLE):
            env_dir = Path(os.environ[ENV_DIR_VARIABLE])
            origin = ENV_DIR_VARIABLE
        else:
            origin = "--env-dir"
        if env_dir is not None:
            env_dir = env_dir.expanduser()
            if not env_dir.is_dir():
                what = "is not a directory" if os.path.lexists(env_dir) else "does not exist"
                raise InputError(
                    f"environment directory {env_dir} ({origin}) {what}",
                    hint="create it, or point --env-dir / SCS_TESTBED_ENV_DIR at the directory "
                    "holding your <name>.tfvars files",
                )
        elif Path("environments").is_dir():
            env_dir = Path("environments")
        if env_dir is not None and env_dir.resolve() == builtin.resolve():
            env_dir = None
        return cls(env_dir, builtin)

    def paths(self) -> dict[str, tuple[Path, bool]]:
        """name -> (file, is_builtin), user files shadowing built-ins."""
        found: dict[str, tuple[Path, bool]] = {}
        for path in sorted(self.builtin_dir.glob(f"*{SUFFIX}")):
            found[path.name[: -len(SUFFIX)]] = (path, True)
        if self.user_dir is not None:
            for path in sorted(self.user_dir.glob(f"*{SUFFIX}")):
                found[path.name[: -len(SUFFIX)]] = (path, False)
        return dict(sorted(found.items()))

    def names(self) -> list[str]:
        return list(self.paths())

    def resolve(self, name: str) -> tuple[Path, bool]:
        """The file of environment `name`; a path to a .tfvars file is accepted too."""
        paths = self.paths()
        if name in paths:
            return paths[name]
        as_path = Path(name).expanduser()
        if name.endswith(SUFFIX) and (as_path.exists() or as_path.is_symlink()):
            return as_path, False  # whatever it is: reading it says precisely what is wrong
        suggestion = closest(name, paths)
        message = f"unknown environment {name!r}"
        if suggestion:
            message += f"; did you mean {suggestion!r}?"
        raise InputError(
            message,
            details=[f"known environments: {', '.join(paths) or '(none)'}"],
            hint="list them with `scs-testbed envs`; add your own as <name>.tfvars in "
            "./environments or --env-dir",
        )


# --------------------------------------------------------------------------- loading


def parse_override(text: str, declared: Mapping[str, ModuleVariable]) -> tuple[str, Any]:
    """`key=value` from the command line, the value read as the variable's type."""
    if "=" not in text:
        raise InputError(f"-o {text}: expected key=value, e.g. -o number_of_nodes=4")
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in declared:
        raise InputError(f"-o {text}: {undeclared_message(key, declared)}")
    variable = declared[key]
    value: Any
    if raw.strip() == "null":
        value = None
    elif variable.type == "string":
        value = raw
    else:
        try:
            value = value_of(raw)
        except NotLiteralError:
            value = raw
    problem = type_problem(variable.type, value)
    if problem:
        raise InputError(f"-o {text}: {key}: {problem}")
    return key, convert(variable.type, value)


def load_environment(
    name: str,
    catalog: Catalog | None = None,
    overrides: Iterable[str] = (),
) -> Environment:
    """Load and merge one environment; structural problems raise InputError with file:line."""
    catalog = catalog or Catalog.locate()
    path, builtin = catalog.resolve(name)
    declared = module_variables()
    file_values, file_lines = parse_tfvars(path)
    where = display_path(path)
    env_name = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
    # The reference's header comments and variables in our terms (reference_conventions.py)
    file_text = read_environment_file(path)
    reading = read_conventions(env_name, where, file_text, file_values, file_lines)
    parsed_overrides = dict(parse_override(text, declared) for text in overrides)
    problems = list(reading.problems)
    for key, value in file_values.items():
        line = file_lines.get(key, "?")
        if key in HANDLED:
            continue
        if key not in declared:
            problems.append(f"{where}:{line}: {undeclared_message(key, declared)}")
            continue
        problem = type_problem(declared[key].type, value)
        if problem:
            problems.append(f"{where}:{line}: {key}: {problem}")
    if problems:
        judge = {
            k: (d.value, d.where)
            for k, d in {**reading.defaults, **reading.settings}.items()
            if k in declared
        }
        judge.update((k, (v, f"-o {k}")) for k, v in parsed_overrides.items())
        raise EnvironmentProblems(
            f"environment {name!r} is not valid ({len(problems)} problem(s))",
            details=sorted(problems, key=_problem_line),
            hint=f"fix {where}; the module's variables are listed by `scs-testbed env show {name}`",
            judge_values=judge,
        )

    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for key, variable in declared.items():
        if not variable.required:
            values[key] = variable.default
            sources[key] = Source("default", "module default")
    for key, derived in reading.defaults.items():  # below the file: what it leaves unset
        values[key], sources[key] = derived.value, Source(derived.kind, derived.where)
    for key, value in file_values.items():
        if key in declared:
            values[key] = convert(declared[key].type, value)
            sources[key] = Source("file", f"{where}:{file_lines.get(key, '?')}")
    for key, derived in reading.settings.items():  # above the file: its header comments
        values[key], sources[key] = derived.value, Source(derived.kind, derived.where)
    for key, value in parsed_overrides.items():
        values[key] = value
        sources[key] = Source("override", f"-o {key}")
    return Environment(
        name=env_name,
        path=path,
        builtin=builtin,
        values=values,
        sources=sources,
        file_values=file_values,
        file_lines=file_lines,
        overrides=parsed_overrides,
        reference=reading,
    )


class EnvironmentProblems(InputError):
    """Problems in an environment file; `judge_values` are the values Terraform needs besides
    the file's own (derived ones and -o, each with where it comes from) to judge the rest."""

    def __init__(
        self,
        message: str,
        *,
        details: list[str],
        hint: str,
        judge_values: dict[str, tuple[Any, str]],
    ):
        super().__init__(message, hint=hint, details=details)
        self.judge_values = judge_values


def _problem_line(problem: str) -> int:
    match = re.match(r"[^:]*:(\d+): ", problem)
    return int(match.group(1)) if match else 0


def missing_required(env: Environment) -> list[str]:
    """Required variables without a value, as messages."""
    return [
        f"{env.location}: {name} is required but not set ({variable.description})"
        for name, variable in module_variables().items()
        if variable.required and env.values.get(name) is None
    ]
