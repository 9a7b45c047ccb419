"""Terraform / OpenTofu in a working directory: the runner, the -json event stream it speaks,
a failed run as one error, and which errors are worth another attempt.

Which binary (and whether it is one) is `terraform_binary`'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scs_testbed.transient import TRANSIENT_ERRORS, next_delay, short_reason, transient_reason


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


def cli_environment(plugin_cache: bool = False) -> dict[str, str]:
    """Environment for Terraform runs: no colour prompts, no input, shared plugin cache.

    The cache (in the state dir, 0700) is created only for runs that install providers
    (`plugin_cache`); a variables-only run must leave the state dir as it was.
    """
    env = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    if "TF_PLUGIN_CACHE_DIR" not in os.environ:
        from scs_testbed.state_dir import ensure_private_dir, ensure_state_root, state_root

        cache = state_root() / "plugin-cache"
        if plugin_cache:
            ensure_private_dir(ensure_state_root() / "plugin-cache")
        if cache.is_dir():
            env["TF_PLUGIN_CACHE_DIR"] = os.fspath(cache)
    return env


# --------------------------------------------------------------------------- running Terraform

# The table of transient errors lives in `transient` (the cloud calls use it too).
__all__ = ["TRANSIENT_ERRORS", "transient_reason"]


# What a successful apply of the testbed module must leave: resources in the state (addresses
# inside module.testbed) and outputs with a value; the manager is what everything after uses.
APPLIED_RESOURCES = (
    "openstack_compute_instance_v2.manager",
    "openstack_networking_floatingip_v2.manager",
    "openstack_networking_floatingip_associate_v2.manager",
)
APPLIED_OUTPUTS = ("manager_address",)


@dataclass
class RunResult:
    """The outcome of one streamed Terraform command."""

    returncode: int
    errors: list[Diagnostic]
    summary: dict[str, Any]
    completed: int = 0
    command: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_text(self) -> str:
        return "\n".join(f"{d.summary}: {d.detail}" for d in self.errors)

    def transient(self) -> str | None:
        """The reason when every error is a known transient one, else None."""
        if self.ok or not self.errors:
            return None
        reasons = [transient_reason(f"{d.summary}\n{d.detail}") for d in self.errors]
        return reasons[0] if all(reasons) else None

    def short_reason(self) -> str:
        """`503 from compute`: the first error in a few words (for the retry line)."""
        if not self.errors:
            return f"exit code {self.returncode}"
        first = self.errors[0]
        return short_reason(f"{first.summary}\n{first.detail}", first.address or "")

    def next_delay(self, planned: float) -> float:
        """The planned wait, or the longest Retry-After the errors show."""
        return max(
            (next_delay(planned, f"{d.summary}\n{d.detail}") for d in self.errors), default=planned
        )


def state_resources(workdir: Path) -> list[dict[str, Any]]:
    """Managed resources recorded in a working directory's state (DamagedRecord if garbled)."""
    from scs_testbed.workspace import read_state_resources

    return read_state_resources(workdir / "terraform.tfstate")


class TerraformRunner:
    """Terraform in one testbed's working directory.

    python-terraform builds the argument lists (its option conventions);
    the processes themselves are started by scs_testbed.runner so output can stream line by
    line (python-terraform cannot stream and capture at once) and Ctrl-C is forwarded.
    """

    def __init__(self, binary: str, workdir: Path, log_dir: Path | None = None):
        from python_terraform import Terraform

        self.binary = binary
        self.workdir = workdir
        self.log_dir = log_dir
        self._argv = Terraform(working_dir=str(workdir), terraform_bin_path=binary)

    def argv(self, command: str, *args: str, **options: Any) -> list[str]:
        return list(self._argv.generate_cmd_string(command, *args, **options))

    def environ(self) -> dict[str, str]:
        return cli_environment(plugin_cache=True)

    def init(self) -> None:
        """`terraform init` (quiet; providers from the shared plugin cache)."""
        from python_terraform import IsFlagged

        from scs_testbed import runner
        from scs_testbed.errors import TerraformError

        argv = self.argv("init", input=False, no_color=IsFlagged, upgrade=None)
        done = runner.run(
            argv, cwd=self.workdir, env=self.environ(), timeout=900, umask=runner.PRIVATE_UMASK
        )
        self._log("init", done.stdout + done.stderr)
        if not done.ok:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise TerraformError(
                "terraform init failed",
                details=tail.splitlines(),
                hint="the provider comes from the Terraform/OpenTofu registry (or your "
                "provider_installation in the CLI configuration)",
            )

    def stream(
        self,
        command: str,
        *args: str,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> RunResult:
        """Run plan/apply/destroy with -json and hand every event to `on_event`."""
        import json as jsonlib
        import time

        from python_terraform import IsFlagged

        from scs_testbed import runner

        argv = self.argv(command, *args, json=IsFlagged, input=False, **options)
        errors: list[Diagnostic] = []
        summary: dict[str, Any] = {}
        completed = 0
        log = self._open_log(command)

        def handle(line: str) -> None:
            nonlocal completed
            if log:
                log.write(line + "\n")
                log.flush()
            event: dict[str, Any]
            if not line.startswith("{"):
                event = {"type": "text", "@message": line}
            else:
                try:
                    event = jsonlib.loads(line)
                except ValueError:
                    event = {"type": "text", "@message": line}
            kind = event.get("type")
            if kind == "diagnostic" and event.get("diagnostic", {}).get("severity") == "error":
                errors.append(Diagnostic.from_event(event))
            elif kind == "change_summary":
                summary.update(event.get("changes", {}))
            elif kind == "apply_complete":
                completed += 1
            if on_event:
                on_event(event)

        started = time.monotonic()
        try:
            code = runner.stream(
                argv, handle, cwd=self.workdir, env=self.environ(), umask=runner.PRIVATE_UMASK
            )
        finally:
            if log:
                elapsed = time.monotonic() - started
                log.write(jsonlib.dumps({"type": "scs_elapsed", "seconds": elapsed}) + "\n")
                log.close()
        label = "destroy" if options.get("destroy") else command
        return RunResult(code, errors, summary, completed, label)

    def outputs(self) -> dict[str, Any]:
        """Output values as plain data ({name: value})."""
        import json as jsonlib

        from python_terraform import IsFlagged

        from scs_testbed import runner
        from scs_testbed.errors import TerraformError

        done = runner.run(
            self.argv("output", json=IsFlagged),
            cwd=self.workdir,
            env=self.environ(),
            timeout=120,
            umask=runner.PRIVATE_UMASK,
        )
        if not done.ok:
            raise TerraformError("terraform output failed", details=done.stderr.splitlines()[-5:])
        try:
            raw = jsonlib.loads(done.stdout or "{}")
        except ValueError:
            raw = None
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            first = (done.stdout.strip().splitlines() or ["nothing"])[0][:80]
            raise TerraformError(
                f"`{self.binary} output -json` printed {first!r}, not Terraform's outputs",
                hint="check that the binary is OpenTofu or Terraform",
            )
        return {name: item.get("value") for name, item in raw.items()}

    def verify_applied(
        self,
        outputs: Mapping[str, Any],
        resources: Iterable[str] = APPLIED_RESOURCES,
        required: Iterable[str] = APPLIED_OUTPUTS,
    ) -> None:
        """Raise TerraformError unless an apply left what it claims: state and outputs.

        An apply that exits 0 without writing state (a binary that only pretends, a backend
        that lost the write) must not be taken for a deployed testbed.
        """
        from scs_testbed.errors import TerraformError

        try:
            found = {
                f"{r.get('type')}.{r.get('name')}"
                for r in self.state_resources()
                if isinstance(r, dict) and str(r.get("module", "")).startswith("module.testbed")
            }
        except (OSError, ValueError, TypeError, AttributeError) as error:
            raise TerraformError(
                f"after apply, the Terraform state in {self.workdir} cannot be read: {error}",
                hint="the testbed is not recorded as deployed; `scs-testbed destroy` removes "
                "whatever was created by name",
            ) from error
        absent = [address for address in resources if address not in found]
        missing = [name for name in required if outputs.get(name) in (None, "", [], {})]
        if not absent and not missing:
            return
        problems = []
        if not found:
            problems.append("the state holds none of the testbed's resources")
        elif absent:
            problems.append(f"the state lacks {', '.join(absent)}")
        if missing:
            problems.append(f"outputs without a value: {', '.join(missing)}")
        raise TerraformError(
            f"terraform apply reported success, but {'; '.join(problems)}",
            details=[f"binary: {self.binary}", f"working directory: {self.workdir}"],
            hint="the testbed is not recorded as deployed; check the Terraform log in the "
            "testbed's logs/ directory, then `scs-testbed destroy` (it removes by name what "
            "was created)",
        )

    def state_resources(self) -> list[dict[str, Any]]:
        """Managed resources in the testbed's state: the local file, or the backend's."""
        from scs_testbed.remote_state import is_remote, parse_state

        if not is_remote(self.workdir):
            return state_resources(self.workdir)
        from scs_testbed import runner
        from scs_testbed.errors import TerraformError

        done = runner.run(
            self.argv("state", "pull"),
            cwd=self.workdir,
            env=self.environ(),
            timeout=300,
            umask=runner.PRIVATE_UMASK,
        )
        if not done.ok:
            raise TerraformError(
                "terraform state pull failed (remote state)",
                details=done.stderr.strip().splitlines()[-5:],
                hint="check the store's endpoint and the AWS_* credentials (scs-testbed doctor)",
            )
        return parse_state(done.stdout, f"the store of {self.workdir.name}")

    def _open_log(self, command: str) -> Any:
        if self.log_dir is None:
            return None
        import time

        from scs_testbed.state_dir import ensure_private_dir, private_file_for_append

        ensure_private_dir(self.log_dir)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return private_file_for_append(self.log_dir / f"{stamp}-{command}.jsonl")

    def _log(self, command: str, text: str) -> None:
        handle = self._open_log(command)
        if handle:
            with handle:
                handle.write(text)
