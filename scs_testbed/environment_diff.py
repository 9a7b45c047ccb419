"""`env diff A B`: the merged variables that differ between two environments, with sources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scs_testbed.environment import Environment

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
