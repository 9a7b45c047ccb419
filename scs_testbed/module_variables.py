"""The testbed module's variables as Terraform sees them: what `variables.tf` declares (type,
description, default) and Terraform's rules for whether a value fits a type and what it
becomes — the Terraform-side evaluation of an environment, without running Terraform.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from scs_testbed import parse_cache
from scs_testbed.resources import module_dir

_NO_DEFAULT = object()


@dataclass(frozen=True)
class ModuleVariable:
    """One `variable` block of the testbed module."""

    name: str
    type: str
    description: str
    default: Any = _NO_DEFAULT
    line: int = 0

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


def _strip_interpolation(text: str) -> str:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1].strip()
    return text


@cache
def module_variables(directory: Path | None = None) -> dict[str, ModuleVariable]:
    """The variables declared by the testbed module, in file order.

    The result is kept by `parse_cache` (a changed file is parsed anew).
    """
    path = (directory or module_dir()) / "variables.tf"
    text = path.read_text(encoding="utf-8")
    rows = parse_cache.load("module-variables", text)
    try:
        if isinstance(rows, list) and rows:
            return {
                row["name"]: ModuleVariable(
                    name=row["name"],
                    type=row["type"],
                    description=row["description"],
                    default=row.get("default", _NO_DEFAULT),
                    line=row["line"],
                )
                for row in rows
            }
    except (KeyError, TypeError):
        pass  # not what we wrote (a damaged cache): parse
    variables = _parse_variables(text)
    rows = [
        {k: v for k, v in vars(var).items() if v is not _NO_DEFAULT} for var in variables.values()
    ]
    parse_cache.store("module-variables", text, rows)
    return variables


def _parse_variables(text: str) -> dict[str, ModuleVariable]:
    import hcl2
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(strip_string_quotes=True, with_comments=False)
    parsed = hcl2.loads(text, serialization_options=options)
    lines = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r'^variable\s+"([^"]+)"', line)
        if match:
            lines[match.group(1)] = number
    variables: dict[str, ModuleVariable] = {}
    for block in parsed.get("variable", []):
        for name, body in block.items():
            variables[name] = ModuleVariable(
                name=name,
                type=_strip_interpolation(str(body.get("type", "any"))),
                description=str(body.get("description", "")),
                default=body.get("default", _NO_DEFAULT),
                line=lines.get(name, 0),
            )
    return variables


def closest(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def undeclared_message(key: str, declared: Mapping[str, ModuleVariable]) -> str:
    suggestion = closest(key, declared)
    message = f"{key} is not a variable of the testbed module"
    if suggestion:
        message += f"; did you mean {suggestion}?"
    return message


def type_problem(type_expr: str, value: Any) -> str | None:
    """Why `value` cannot convert to the Terraform type, or None (Terraform's conversion rules)."""
    if value is None:
        return None
    kind = type_expr.replace(" ", "")
    if kind == "any":
        return None
    if kind == "string":
        if isinstance(value, str | int | float | bool):
            return None
        return f"a string is required, got {_describe(value)}"
    if kind == "number":
        if isinstance(value, bool):
            return "a number is required, got a bool"
        if isinstance(value, int | float | str):
            try:
                number = float(value)
            except (ValueError, OverflowError):
                return f"a number is required, got {value!r}"
            # float() reads "nan" and "inf", which Terraform and JSON have no number for
            return None if math.isfinite(number) else f"a finite number is required, got {value!r}"
        return f"a number is required, got {_describe(value)}"
    if kind == "bool":
        if isinstance(value, bool) or value in ("true", "false"):
            return None
        return f"a bool (true or false) is required, got {_describe(value)}"
    for prefix in ("list(", "set("):
        if kind.startswith(prefix) and kind.endswith(")"):
            if not isinstance(value, list):
                return f"a list is required ({type_expr}), got {_describe(value)}"
            inner = kind[len(prefix) : -1]
            for index, item in enumerate(value):
                problem = type_problem(inner, item)
                if problem:
                    return f"element {index}: {problem}"
            return None
    if kind.startswith("map(") and kind.endswith(")"):
        if not isinstance(value, dict):
            return f"a map is required ({type_expr}), got {_describe(value)}"
        inner = kind[4:-1]
        for key, item in value.items():
            problem = type_problem(inner, item)
            if problem:
                return f"key {key!r}: {problem}"
        return None
    return None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def convert(type_expr: str, value: Any) -> Any:
    """Convert a value that passed `type_problem` to the Python form of the Terraform type."""
    if value is None:
        return None
    kind = type_expr.replace(" ", "")
    if kind == "number" and isinstance(value, str):
        number = float(value)
        return int(number) if number.is_integer() else number
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "bool" and isinstance(value, str):
        return value == "true"
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    return value
