"""Terraform / OpenTofu: which binary, and the -json event stream it speaks."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError

BINARY_VARIABLE = "SCS_TESTBED_TERRAFORM"
CANDIDATES = ("tofu", "terraform")


def find_terraform(explicit: str | None = None, required: bool = True) -> str | None:
    """`--terraform PATH`, else $SCS_TESTBED_TERRAFORM, else `tofu`, else `terraform`."""
    chosen = explicit or os.environ.get(BINARY_VARIABLE)
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            origin = "--terraform" if explicit else BINARY_VARIABLE
            raise InputError(
                f"Terraform binary {chosen!r} ({origin}) not found or not executable",
                hint="pass the path of an OpenTofu (>= 1.6) or Terraform (>= 1.6) binary",
            )
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if required:
        raise InputError(
            "neither `tofu` nor `terraform` is on PATH",
            hint="install OpenTofu (>= 1.6) or Terraform (>= 1.6), or pass --terraform PATH",
        )
    return None


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic of Terraform's -json output."""

    severity: str
    summary: str
    detail: str
    filename: str | None
    line: int | None
    code: str | None
    address: str | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Diagnostic:
        diag = event.get("diagnostic", {})
        rng = diag.get("range") or {}
        snippet = diag.get("snippet") or {}
        return cls(
            severity=diag.get("severity", "error"),
            summary=diag.get("summary", ""),
            detail=diag.get("detail", ""),
            filename=rng.get("filename"),
            line=(rng.get("start") or {}).get("line"),
            code=snippet.get("code"),
            address=diag.get("address"),
        )


def parse_events(lines: str) -> list[dict[str, Any]]:
    """Decode Terraform's -json output (one JSON object a line; other lines are ignored)."""
    events = []
    for line in lines.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def cli_environment(workdir: Path | None = None) -> dict[str, str]:
    """Environment for Terraform runs: no colour prompts, no input, shared plugin cache."""
    env = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    if "TF_PLUGIN_CACHE_DIR" not in os.environ:
        from scs_testbed.workspace import state_root

        cache = state_root() / "plugin-cache"
        cache.mkdir(parents=True, exist_ok=True)
        env["TF_PLUGIN_CACHE_DIR"] = os.fspath(cache)
    return env
