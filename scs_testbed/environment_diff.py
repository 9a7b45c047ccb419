"""`env diff A B`: the merged variables that differ between two environments, with sources."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scs_testbed.environment import Catalog, Environment, load_environment
from scs_testbed.errors import InputError

BUILTIN_PREFIX = "builtin:"  # names the built-in even where a file of the user shadows it

_ABSENT = object()  # a required variable neither file sets has no value at all


@dataclass(frozen=True)
class Difference:
    """One variable whose merged value differs; `where_*` says where each value comes from."""

    key: str
    value_a: Any
    where_a: str
    value_b: Any
    where_b: str

    def as_dict(self, a: str, b: str) -> dict[str, Any]:
        return {
            "variable": self.key,
            a: {"value": self.value_a, "source": self.where_a},
            b: {"value": self.value_b, "source": self.where_b},
        }


def diff_environments(a: Environment, b: Environment) -> list[Difference]:
    """Variables (in the module's order) whose merged values differ between `a` and `b`.

    A variable without a value on one side (a required one the file does not set) counts as
    different, shown as not set.
    """
    keys = list(a.values) + [k for k in b.values if k not in a.values]
    found = []
    for key in keys:
        value_a = a.values.get(key, _ABSENT)
        value_b = b.values.get(key, _ABSENT)
        if value_a == value_b and type(value_a) is type(value_b):
            continue
        found.append(
            Difference(
                key,
                None if value_a is _ABSENT else value_a,
                a.where(key) if value_a is not _ABSENT else "not set",
                None if value_b is _ABSENT else value_b,
                b.where(key) if value_b is not _ABSENT else "not set",
            )
        )
    return found


def load_side(spec: str, catalog: Catalog, overrides: Iterable[str] = ()) -> Environment:
    """One side of a diff: an environment name, a path to a .tfvars file (such as one of the
    reference's files), or `builtin:NAME` for the built-in even when the user's shadows it."""
    if not spec.startswith(BUILTIN_PREFIX):
        return load_environment(spec, catalog, overrides)
    name = spec[len(BUILTIN_PREFIX) :]
    builtins = Catalog(None, catalog.builtin_dir)
    if name not in builtins.names():
        raise InputError(
            f"{spec}: there is no built-in environment {name!r}",
            details=[f"built-in environments: {', '.join(builtins.names())}"],
        )
    return load_environment(name, builtins, overrides)
