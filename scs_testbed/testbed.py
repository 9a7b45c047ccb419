"""The lifecycle of one testbed: plan, deploy, status, destroy (the core; no printing).

plan, deploy and destroy are steps as data (`PLAN`, `DEPLOY`, `DESTROY`) run by the one engine
(`steps.Engine`), as `ci` runs its steps: undo and teardown sit in its `finally`, so Ctrl-C and
crashes clean up too when asked. Progress is reported through a `Reporter` that the CLI
supplies; errors are raised typed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scs_testbed.environment import Environment, missing_required
from scs_testbed.errors import (
    EXIT_INPUT,
    EXIT_PREFLIGHT,
    EXIT_TERRAFORM,
    InputError,
    TerraformError,
)
from scs_testbed.resources import module_dir
from scs_testbed.steps import TEARDOWN, Engine, Step
from scs_testbed.terraform import RunResult, TerraformRunner, find_terraform
from scs_testbed.workspace import (
    DamagedRecord,
    Workspace,
    check_name,
    list_workspaces,
    locked,
    refuse_symlinked,
    write_atomic,
)

if TYPE_CHECKING:
    from scs_testbed.preflight import PreflightReport

PROVIDER = {"source": "terraform-provider-openstack/openstack", "version": "~> 3.0"}
PLAN_FILE = "tfplan"
# Testbed states in which an apply may have left resources Terraform does not track.
UNFINISHED_STATES = ("deploying", "interrupted", "failed", "destroying", "destroy-failed")
RETRY_DELAYS = (10.0, 30.0, 60.0)  # seconds before the 2nd, 3rd and 4th attempt


class Reporter(Protocol):
    """What the lifecycle tells the user about; the CLI renders it."""

    def step(self, message: str) -> None: ...
    def note(self, message: str) -> None: ...
    def preflight(self, report: PreflightReport) -> None: ...
    def terraform_event(self, event: dict[str, Any]) -> None: ...
    def retry(self, attempt: int, reason: str, delay: float) -> None: ...


class SilentReporter:
    """A reporter that tells nobody (tests, library use)."""

    def step(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def preflight(self, report: PreflightReport) -> None:
        pass

    def terraform_event(self, event: dict[str, Any]) -> None:
        pass

    def retry(self, attempt: int, reason: str, delay: float) -> None:
        pass


@dataclass
class Target:
    """A testbed to be: its name, workspace, and the variables Terraform gets."""

    name: str
    workspace: Workspace
    env: Environment
    values: dict[str, Any]

    @property
    def cloud(self) -> str:
        return str(self.values["cloud_provider"])

    @property
    def prefix(self) -> str:
        return str(self.values["prefix"])


def default_name(env: Environment) -> str:
    raw = f"{env.name}-{env.values.get('prefix') or 'testbed'}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:40]


def resolve_target(env: Environment, name: str | None) -> Target:
    """Name the testbed and settle its variables.

    `--name` also becomes the prefix unless the environment or -o set one, so two named
    testbeds of one environment never share resource names.
    """
    problems = missing_required(env)
    if problems:
        raise InputError(f"environment {env.name!r} is incomplete", details=problems)
    values = dict(env.values)
    if name:
        check_name(name)
        if env.sources["prefix"].kind == "default":
            values["prefix"] = name
    else:
        name = default_name(env)
    if not re.match(r"^[a-z][a-z0-9-]{0,23}$", str(values["prefix"])):
        raise InputError(
            f"prefix {values['prefix']!r} is not usable for resource names",
            hint="use a --name of at most 24 characters, or set -o prefix=...",
        )
    target = Target(name, Workspace.named(name), env, values)
    refuse_foreign_testbed(target)
    return target


def load_target(
    env: str,
    name: str | None,
    nodes: int | None = None,
    overrides: Sequence[str] | None = None,
    env_dir: Path | None = None,
    terraform: str | None = None,
    validate: bool = True,
) -> Target:
    """Load the environment (with `--nodes` and `-o`), validate it (Terraform as the judge when
    there is one) and name the testbed."""
    from scs_testbed.environment import Catalog, load_environment
    from scs_testbed.validation import ensure_valid

    given = [o for o in overrides or [] if o.split("=", 1)[0].strip() == "number_of_nodes"]
    if nodes is not None and given:
        raise InputError(
            f"both --nodes {nodes} and -o {given[0]} were given",
            hint="set the number of nodes once: either --nodes N or -o number_of_nodes=N",
        )
    merged = list(overrides or [])
    if nodes is not None:
        merged.append(f"number_of_nodes={nodes}")
    environment = load_environment(env, Catalog.locate(env_dir), merged)
    if validate:
        ensure_valid(environment, find_terraform(terraform, required=False))
    return resolve_target(environment, name)


def refuse_foreign_testbed(target: Target) -> None:
    """Refuse a name that belongs to a testbed of another environment or cloud.

    Its records would be rewritten for the new environment while its state still describes
    resources in the old cloud: plan and deploy would then run one against the other.
    """
    workspace = target.workspace
    if not workspace.exists:
        return
    meta = workspace.read_meta("environment", "cloud")
    recorded = (meta["environment"], meta["cloud"])
    if recorded == (target.env.name, target.cloud):
        return
    raise InputError(
        f"testbed {target.name!r} belongs to environment {recorded[0]!r} "
        f"(cloud {recorded[1]!r}), not to {target.env.name!r} (cloud {target.cloud!r})",
        hint=f"choose another --name, or destroy it first: scs-testbed destroy {target.name}",
    )


def open_runner(workspace: Workspace, terraform: str | None) -> TerraformRunner:
    """A runner for an existing testbed: the given binary, else the one it was deployed with."""
    binary = find_terraform(terraform or workspace.read_meta().get("terraform"))
    assert binary is not None
    return TerraformRunner(binary, workspace.path, workspace.log_dir)


# --------------------------------------------------------------------------- workspace files


def module_outputs() -> list[str]:
    text = (module_dir() / "outputs.tf").read_text(encoding="utf-8")
    return re.findall(r'^output\s+"(\w+)"', text, flags=re.MULTILINE)


def root_module(workdir: Path, variables: list[str]) -> dict[str, Any]:
    """The testbed's root module (JSON syntax): provider + a call of the packaged module.

    The source is a relative path: Terraform uses a local module in place (so the module's
    `../bootstrap` templates are found), while an absolute path would be copied alone.
    """
    source = os.path.relpath(module_dir(), workdir)
    if not source.startswith("../"):
        source = "./" + source
    module: dict[str, Any] = {"source": source}
    module.update({name: f"${{var.{name}}}" for name in variables})
    return {
        "terraform": {
            "required_version": ">= 1.6.0",
            "required_providers": {"openstack": PROVIDER},
        },
        "provider": {"openstack": {"cloud": "${var.cloud_provider}"}},
        "variable": {name: {} for name in variables},
        "module": {"testbed": module},
        "output": {name: {"value": f"${{module.testbed.{name}}}"} for name in module_outputs()},
    }


def ensure_keypair(workspace: Workspace) -> str:
    """The testbed's own SSH key pair (generated locally, private key 0600); the public key."""
    if not workspace.private_key.is_file():
        if workspace.public_key.is_file():  # attached from the shared store without the key
            raise InputError(
                f"testbed {workspace.name!r} has no private key on this machine",
                hint="a new key would replace the VMs' key: bring the key along with "
                f"`scs-testbed attach {workspace.name} --key PATH` (docs/remote-state.md)",
            )
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        workspace.write_private(workspace.private_key, private)
        write_atomic(workspace.public_key, f"{public} scs-testbed-{workspace.name}\n")
    return workspace.public_key.read_text(encoding="utf-8").strip()


def write_workspace(target: Target, terraform: str) -> TerraformRunner:
    """Create/refresh what Terraform reads: the directory, keys, root module, variables.

    The testbed's record (testbed.json) is written by `record_testbed` once a step worked.
    """
    from scs_testbed import remote_state

    workspace = target.workspace
    backend = remote_state.backend_of(workspace)  # before create(): a new testbed has no record
    if backend is not None:
        remote_state.require_credentials(backend)
    workspace.create()
    values = dict(target.values)
    values["public_key"] = ensure_keypair(workspace)
    write_atomic(workspace.tfvars_file, json.dumps(values, indent=2) + "\n")
    module = root_module(workspace.path, list(values))
    if backend is not None:  # the state lives in the shared store (docs/remote-state.md)
        module = remote_state.add_backend(module, backend, target.name, target.env.name)
    write_atomic(workspace.root_module, json.dumps(module, indent=2) + "\n")
    return TerraformRunner(terraform, workspace.path, workspace.log_dir)


def record_testbed(target: Target, terraform: str) -> None:
    """Write testbed.json for the target (name, environment, cloud, prefix, binary)."""
    workspace = target.workspace
    meta = workspace.read_meta()
    meta.update(
        name=target.name,
        environment=target.env.name,
        environment_file=os.fspath(target.env.path),
        cloud=target.cloud,
        prefix=target.prefix,
        terraform=terraform,
    )
    from scs_testbed import remote_state

    backend = remote_state.backend_of(workspace) if "backend" not in meta else None
    if backend is not None:
        meta["backend"] = backend.as_record(target.name)
    meta.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    meta.setdefault("state", "new")
    workspace.write_meta(meta)


def set_state(workspace: Workspace, state: str) -> None:
    """Record the testbed's state; call only once the action it names has really begun."""
    meta = workspace.read_meta()
    meta.update(state=state, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    workspace.write_meta(meta)


@dataclass
class SavedRecords:
    """The testbed's files as they were before a step rewrote them (None: no workspace yet)."""

    workspace: Workspace
    files: dict[Path, bytes | None] | None


def save_records(workspace: Workspace) -> SavedRecords:
    """Keep what a step that rewrites the testbed's files may have to put back."""
    if not workspace.exists:
        return SavedRecords(workspace, None)
    files = (workspace.tfvars_file, workspace.root_module, workspace.meta_file)
    return SavedRecords(workspace, {p: p.read_bytes() if p.is_file() else None for p in files})


def restore_records(saved: SavedRecords) -> None:
    """Put the old files back; a fresh working directory (no record before) is removed."""
    if saved.files is None:
        shutil.rmtree(saved.workspace.path, ignore_errors=True)
        return
    for path, content in saved.files.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, content.decode("utf-8"))


# --------------------------------------------------------------------------- plan / deploy


def preflight(target: Target, reporter: Reporter, check_prefix: bool = True) -> PreflightReport:
    """Connect and run the preflight; raises PreflightError when anything falls short."""
    from scs_testbed.cloud import connect
    from scs_testbed.preflight import run_preflight

    reporter.step(f"preflight against cloud {target.cloud!r}")
    conn = connect(target.cloud)
    report = run_preflight(conn, target.cloud, target.values, check_prefix=check_prefix)
    reporter.preflight(report)
    report.raise_for_failures()
    return report


def check(target: Target, terraform: str | None = None) -> PreflightReport:
    """Validate the variables (Terraform as judge) while the preflight reads the cloud.

    Invalid variables (InputError, exit 2) outrank the preflight's verdict.
    """
    from concurrent.futures import ThreadPoolExecutor

    from scs_testbed.cloud import connect
    from scs_testbed.preflight import run_preflight
    from scs_testbed.validation import ensure_valid

    with ThreadPoolExecutor(max_workers=1) as pool:
        binary = find_terraform(terraform, required=False)
        validation = pool.submit(ensure_valid, target.env, binary)
        report = run_preflight(
            connect(target.cloud),
            target.cloud,
            target.values,
            check_prefix=not target.workspace.exists,
        )
        validation.result()
    return report


@dataclass
class Deployment:
    """What the steps of one plan or deploy share."""

    target: Target
    terraform: str | None  # as given (a destroy after a failure finds the binary again)
    binary: str
    reporter: Reporter
    skip_check: bool = False
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    parallelism: int | None = None
    runner: TerraformRunner | None = None
    saved: SavedRecords | None = None
    applying: bool = False  # the plan worked and apply began: the cloud may have changed
    result: RunResult | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def workspace(self) -> Workspace:
        return self.target.workspace


def _preflight_step(run: Deployment) -> None:
    workspace = run.workspace
    already = workspace.exists and (
        bool(workspace.read_state_resources())
        or (_remote(workspace) and workspace.read_meta().get("state") not in (None, "new"))
    )
    if run.skip_check:
        run.reporter.note("preflight skipped (--skip-check)")
    elif already:
        run.reporter.note(
            "the testbed already has resources: preflight skipped, Terraform converges"
        )
    else:
        preflight(run.target, run.reporter)


def _init_step(run: Deployment) -> None:
    """Write what Terraform reads, then init. Nothing changes in the cloud before apply: a
    failure up to the apply leaves the old records (or, for a new testbed, nothing) behind."""
    run.saved = save_records(run.workspace)
    run.runner = write_workspace(run.target, run.binary)
    run.reporter.step("terraform init")
    run.runner.init()


def _restore_records(run: Deployment, error: BaseException | None) -> None:
    if run.saved is not None and not run.applying:
        restore_records(run.saved)


def _plan_step(run: Deployment) -> None:
    assert run.runner is not None
    run.reporter.step("terraform plan")
    result = run.runner.stream("plan", out=PLAN_FILE, on_event=run.reporter.terraform_event)
    if not result.ok:
        raise terraform_failure(result.command, result)
    record_testbed(run.target, run.binary)
    run.result = result


def _begin_apply(run: Deployment) -> None:
    # The plan just worked (the cloud answered): from here on resources may change, and the
    # records describe what is in the cloud.
    if not run.applying:
        record_testbed(run.target, run.binary)
        set_state(run.workspace, "deploying")
        run.applying = True


def _apply_step(run: Deployment) -> None:
    assert run.runner is not None
    result = _apply_with_retries(
        run.runner,
        run.reporter,
        run.retry_delays,
        run.parallelism,
        before_apply=lambda: _begin_apply(run),
    )
    if not result.ok:
        if run.applying:
            set_state(run.workspace, "failed")
        raise terraform_failure(result.command, result)


def _record_interruption(run: Deployment, error: BaseException | None) -> None:
    if isinstance(error, KeyboardInterrupt) and run.applying:
        set_state(run.workspace, "interrupted")


def _outputs_step(run: Deployment) -> None:
    """An apply that exits 0 is not yet a testbed: its state and outputs must say so."""
    assert run.runner is not None
    try:
        outputs = run.runner.outputs()
        run.runner.verify_applied(outputs)
    except TerraformError:
        set_state(run.workspace, "failed")
        raise
    run.workspace.write_private(run.workspace.outputs_file, json.dumps(outputs, indent=2) + "\n")
    set_state(run.workspace, "deployed")
    run.outputs = outputs


def _destroy_created(run: Deployment) -> None:
    run.reporter.step("deploy failed: destroying what was created (--destroy-on-failure)")
    destroy(run.workspace, run.terraform, run.reporter, force_cleanup=True)


PLAN: tuple[Step[Deployment], ...] = (
    Step("init", _init_step, exit_code=EXIT_TERRAFORM, undo=_restore_records),
    Step("plan", _plan_step, exit_code=EXIT_TERRAFORM),
)
DEPLOY: tuple[Step[Deployment], ...] = (
    Step("preflight", _preflight_step, exit_code=EXIT_PREFLIGHT),
    Step("init", _init_step, exit_code=EXIT_TERRAFORM, undo=_restore_records),
    Step("apply", _apply_step, exit_code=EXIT_TERRAFORM, undo=_record_interruption),
    Step("outputs", _outputs_step, exit_code=EXIT_TERRAFORM),
    Step("destroy", _destroy_created, TEARDOWN, exit_code=EXIT_TERRAFORM, destroys=True),
)


def plan(target: Target, terraform: str | None, reporter: Reporter) -> RunResult:
    """Write the workspace, init and plan (saved as tfplan); holds the testbed's lock."""
    binary = find_terraform(terraform)
    assert binary is not None
    run = Deployment(target, terraform, binary, reporter)
    with locked(target.workspace, "plan"):
        Engine(PLAN, run).run()
    assert run.result is not None
    return run.result


def terraform_failure(command: str, result: RunResult, shown: int = 8) -> TerraformError:
    """One error for a failed Terraform run: each distinct message once, with its resources."""
    grouped: dict[str, list[str]] = {}
    for error in result.errors:
        detail = " ".join(error.detail.split())[:400]
        message = f"{error.summary}{': ' + detail if detail else ''}"
        grouped.setdefault(message, []).append(error.address or "")
    details = []
    for message, addresses in list(grouped.items())[:shown]:
        named = [a.removeprefix("module.testbed.") for a in addresses if a]
        where = ""
        if named:  # an error of the configuration or the connection names no resource
            where = f"{named[0]}{f' (and {len(named) - 1} more)' if len(named) > 1 else ''}: "
        details.append(f"{where}{message}")
    if len(grouped) > shown:
        details.append(f"… and {len(grouped) - shown} more distinct error(s)")
    hint = "the full Terraform log is in the testbed's logs/ directory"
    from scs_testbed.remote_state import lock_hint

    locked = lock_hint(result.errors)
    return TerraformError(
        f"terraform {command} failed ({len(result.errors)} error(s))",
        details=details or [f"exit code {result.returncode}"],
        hint=f"{locked}; {hint}" if locked else hint,
    )


def deploy(
    target: Target,
    terraform: str | None,
    reporter: Reporter,
    *,
    skip_check: bool = False,
    destroy_on_failure: bool = False,
    retry_delays: tuple[float, ...] = RETRY_DELAYS,
    parallelism: int | None = None,
) -> dict[str, Any]:
    """Preflight, then init + apply with retries of transient errors; returns the outputs.

    The testbed's lock is held throughout: a destroy (or another deploy) of it is refused.
    """
    with locked(target.workspace, "deploy"):
        return _deploy(
            target,
            terraform,
            reporter,
            skip_check=skip_check,
            destroy_on_failure=destroy_on_failure,
            retry_delays=retry_delays,
            parallelism=parallelism,
        )


def _deploy(
    target: Target,
    terraform: str | None,
    reporter: Reporter,
    *,
    skip_check: bool,
    destroy_on_failure: bool,
    retry_delays: tuple[float, ...],
    parallelism: int | None,
) -> dict[str, Any]:
    binary = find_terraform(terraform)
    assert binary is not None
    run = Deployment(target, terraform, binary, reporter, skip_check, retry_delays, parallelism)
    policy = "on-failure" if destroy_on_failure else "never"
    Engine(DEPLOY, run, destroy=policy, exists=lambda: run.applying).run()
    return run.outputs


def _with_retries(
    attempt_once: Callable[[int], RunResult],
    reporter: Reporter,
    retry_delays: tuple[float, ...],
) -> RunResult:
    """Run `attempt_once(attempt)` again after a known transient error, a bounded number of times.

    Returns the last result: successful, failed for good, or out of retries.
    """
    attempt = 1
    while True:
        result = attempt_once(attempt)
        reason = result.transient()  # None when it succeeded or the error is not transient
        if reason is None or attempt > len(retry_delays):
            return result
        delay = retry_delays[attempt - 1]
        reporter.retry(attempt, reason, delay)
        time.sleep(delay)
        attempt += 1


def _apply_with_retries(
    runner: TerraformRunner,
    reporter: Reporter,
    retry_delays: tuple[float, ...],
    parallelism: int | None,
    before_apply: Callable[[], None] | None = None,
) -> RunResult:
    def plan_and_apply(attempt: int) -> RunResult:
        reporter.step("terraform plan" + (f" (attempt {attempt})" if attempt > 1 else ""))
        planned = runner.stream(
            "plan", out=PLAN_FILE, parallelism=parallelism, on_event=reporter.terraform_event
        )
        if not planned.ok:
            return planned
        if before_apply is not None:
            before_apply()
        reporter.step("terraform apply")
        return runner.stream(
            "apply", PLAN_FILE, parallelism=parallelism, on_event=reporter.terraform_event
        )

    return _with_retries(plan_and_apply, reporter, retry_delays)


# --------------------------------------------------------------------------- destroy


@dataclass
class DestroyResult:
    leftovers_found: int
    leftovers_removed: int


def destroy(
    workspace: Workspace,
    terraform: str | None,
    reporter: Reporter,
    *,
    force_cleanup: bool = False,
    retry_delays: tuple[float, ...] = RETRY_DELAYS,
) -> DestroyResult:
    """terraform destroy, then make sure nothing with the testbed's names is left.

    The recorded state changes only once destruction has really begun: a cloud that cannot be
    reached (or a damaged record) leaves the testbed exactly as it was. The testbed's lock is
    held throughout, so a recorded "deploying" means no deploy runs any more.
    """
    with locked(workspace, "destroy"):
        return _destroy(
            workspace, terraform, reporter, force_cleanup=force_cleanup, retry_delays=retry_delays
        )


@dataclass
class Destruction:
    """What the steps of one destroy share."""

    workspace: Workspace
    terraform: str | None
    reporter: Reporter
    force_cleanup: bool
    retry_delays: tuple[float, ...]
    prefix: str = ""
    cloud: str = ""
    conn: Any = None
    runner: TerraformRunner | None = None
    leftovers: list[Any] = field(default_factory=list)
    removed: int = 0


def _read_records(run: Destruction) -> None:
    """What the testbed is, what its state holds, and a connection to its cloud."""
    from scs_testbed.cloud import connect

    workspace = run.workspace
    meta = workspace.read_meta("prefix", "cloud")
    run.prefix, run.cloud = str(meta["prefix"]), str(meta["cloud"])
    resources = workspace.read_state_resources()
    if _remote(workspace):  # the state is in the shared store: read it from there
        reader = open_runner(workspace, run.terraform)
        reader.init()
        resources = reader.state_resources()
    run.runner = open_runner(workspace, run.terraform) if resources else None
    if meta.get("state") in UNFINISHED_STATES and not run.force_cleanup:
        # An interrupted or killed apply leaves resources whose create was in flight but never
        # reached the state. They carry this testbed's exact names (the preflight made sure no
        # other testbed uses them), so removing them is part of destroying this testbed.
        run.reporter.note(
            f"the last deploy did not finish ({meta.get('state')}): resources with this "
            "testbed's names that Terraform does not track are removed too"
        )
        run.force_cleanup = True
    run.conn = connect(
        run.cloud
    )  # before anything is recorded: an unreachable cloud changes nothing


def _terraform_destroy(run: Destruction) -> None:
    runner, reporter, workspace = run.runner, run.reporter, run.workspace
    if runner is None:
        reporter.note("the Terraform state holds no resources")
        return
    reporter.step("terraform init")
    runner.init()
    began = False

    def on_event(event: dict[str, Any]) -> None:
        nonlocal began
        if event.get("type") == "apply_start" and not began:
            set_state(workspace, "destroying")
            began = True
        reporter.terraform_event(event)

    def destroy_once(attempt: int) -> RunResult:
        reporter.step("terraform destroy" + (f" (attempt {attempt})" if attempt > 1 else ""))
        return runner.stream("apply", destroy=True, auto_approve=_flag(), on_event=on_event)

    result = _with_retries(destroy_once, reporter, run.retry_delays)
    if not result.ok and not run.force_cleanup:
        if began:
            set_state(workspace, "destroy-failed")
        raise terraform_failure(result.command, result)


def _remove_leftovers(run: Destruction) -> None:
    """Nothing with the testbed's names may be left; --force-cleanup removes what is."""
    from scs_testbed.discover import delete_resources, find_resources

    prefix, reporter = run.prefix, run.reporter
    reporter.step(f"looking for leftovers named {prefix}-* in cloud {run.cloud!r}")
    leftovers = find_resources(run.conn, prefix)
    if leftovers and run.force_cleanup:
        reporter.step(f"removing {len(leftovers)} leftover(s) (--force-cleanup)")
        set_state(run.workspace, "destroying")
        remaining = delete_resources(
            run.conn, prefix, on_delete=lambda f: reporter.note(f"deleted {f.kind} {f.name}")
        )
        run.removed = len(leftovers) - len(remaining)
        leftovers = remaining
    run.leftovers = leftovers
    if leftovers:
        set_state(run.workspace, "leftovers")
        raise TerraformError(
            f"{len(leftovers)} resource(s) named {prefix}-* remain in the project",
            details=[f"{f.kind} {f.name} ({f.id})" for f in leftovers],
            hint=f"remove them with: scs-testbed destroy {run.workspace.name} --force-cleanup",
        )


DESTROY: tuple[Step[Destruction], ...] = (
    Step("records", _read_records, exit_code=EXIT_INPUT),
    Step("terraform destroy", _terraform_destroy, exit_code=EXIT_TERRAFORM),
    Step("leftovers", _remove_leftovers, exit_code=EXIT_TERRAFORM),
    Step("remove", lambda run: remove_workspace(run.workspace), exit_code=EXIT_INPUT),
)


def _destroy(
    workspace: Workspace,
    terraform: str | None,
    reporter: Reporter,
    *,
    force_cleanup: bool,
    retry_delays: tuple[float, ...],
) -> DestroyResult:
    run = Destruction(workspace, terraform, reporter, force_cleanup, retry_delays)
    Engine(DESTROY, run).run()
    return DestroyResult(len(run.leftovers) + run.removed, run.removed)


def remove_workspace(workspace: Workspace) -> None:
    """Remove the destroyed testbed's directory; an error (exit 2) if anything stays."""
    problems: list[str] = []

    def note(_function: Any, path: str, error: Any) -> None:
        problems.append(f"{path}: {getattr(error, 'strerror', None) or error}")

    if workspace.path.is_symlink():  # never follow it: rmtree would refuse, unlink hides it
        problems.append(f"{workspace.path}: is a symbolic link")
    else:
        shutil.rmtree(workspace.path, onerror=note)
    if problems or os.path.lexists(workspace.path):
        raise InputError(
            f"testbed {workspace.name}: its resources are gone from the cloud, but its directory "
            f"{workspace.path} could not be removed",
            details=problems[:5],
            hint="remove it by hand (check its permissions first)",
        )


def _remote(workspace: Workspace) -> bool:
    from scs_testbed.remote_state import is_remote

    return is_remote(workspace.path)


def _flag() -> Any:
    from python_terraform import IsFlagged

    return IsFlagged


# --------------------------------------------------------------------------- status / list


def list_testbeds() -> list[dict[str, Any]]:
    """One row per testbed; a damaged one is listed with `damaged` saying what is wrong."""
    rows: list[dict[str, Any]] = []
    for workspace in list_workspaces():
        path = os.fspath(workspace.path)
        try:
            refuse_symlinked(workspace)
            meta = workspace.read_meta("environment", "cloud", "prefix")
            count = sum(len(r.get("instances", [])) for r in workspace.read_state_resources())
            if os.path.lexists(workspace.outputs_file):
                workspace.read_outputs()
        except DamagedRecord as damage:
            rows.append(
                {
                    "name": workspace.name,
                    "state": "damaged",
                    "damaged": f"{damage.path.name} {damage.problem}",
                    "hint": damage.hint,
                    "path": path,
                }
            )
            continue
        rows.append({**meta, "resources": count, "path": path, "damaged": None})
    return rows


def cloud_status(workspace: Workspace) -> dict[str, Any]:
    """Outputs plus what the cloud says about the testbed's servers, volumes and floating IP.

    The cloud's reads end within the connection's read timeout as a whole, while a line says
    what is waited for.
    """
    from scs_testbed import ui
    from scs_testbed.cloud import Deadline, cloud_calls, connect, gather, request_limit
    from scs_testbed.discover import KIND_SERVICE, find_resources

    meta = workspace.read_meta("cloud", "prefix")
    outputs = workspace.read_outputs() if os.path.lexists(workspace.outputs_file) else {}
    cloud = str(meta["cloud"])
    conn = connect(cloud)
    servers: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    ips: list[dict[str, Any]] = []
    limit = request_limit(conn)
    what = f"cloud {cloud!r}: the servers, volumes and floating IPs of testbed {workspace.name}"
    # a hanging endpoint becomes an error that names it
    with ui.waiting(what, limit=limit), cloud_calls(conn):
        deadline = Deadline.after(limit) if limit is not None else None
        found = find_resources(conn, str(meta["prefix"]), deadline)
        services = tuple(dict.fromkeys(KIND_SERVICE[item.kind] for item in found))
        gather(
            {"describe": lambda: _describe_found(conn, found, servers, volumes, ips)},
            deadline,
            services={"describe": services},
        )
    counts: dict[str, int] = {}
    for item in found:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    from scs_testbed import remote_state

    state = meta.get("state")
    # a shared testbed another machine destroyed: the store's state is empty, ours is stale
    if (
        state == "deployed"
        and remote_state.resources_in_store(meta.get("backend"), workspace.name) == 0
    ):
        state, outputs = "destroyed", {}
    return {
        "name": workspace.name,
        **{k: meta.get(k) for k in ("environment", "cloud", "prefix", "created")},
        "state": state,
        "outputs": outputs,
        "servers": sorted(servers, key=lambda s: s["name"]),
        "volumes": sorted(volumes, key=lambda v: v["name"]),
        "floating_ips": ips,
        "resource_counts": counts,
    }


def _describe_found(
    conn: Any, found: list[Any], servers: list[Any], volumes: list[Any], ips: list[Any]
) -> None:
    """Fill servers, volumes and floating IPs with what the cloud says about each found item."""
    for item in found:
        if item.kind == "server":
            server = conn.compute.get_server(item.id)
            addresses = [a["addr"] for net in (server.addresses or {}).values() for a in net]
            servers.append(
                {
                    "name": server.name,
                    "status": server.status,
                    "flavor": (server.flavor or {}).get("original_name")
                    or (server.flavor or {}).get("name"),
                    "addresses": addresses,
                }
            )
        elif item.kind == "volume":
            volume = conn.block_storage.get_volume(item.id)
            volumes.append({"name": volume.name, "status": volume.status, "size": volume.size})
        elif item.kind == "floating_ip":
            ip = conn.network.get_ip(item.id)
            ips.append(
                {
                    "address": ip.floating_ip_address,
                    "status": ip.status,
                    "fixed_ip": ip.fixed_ip_address,
                }
            )
