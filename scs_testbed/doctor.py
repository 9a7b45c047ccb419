"""`doctor`: the local prerequisites, each with what was found and what to do (no printing).

Every check returns one `Finding` (ok / warning / problem); a check never raises for what it
examines, so one broken tool cannot hide the state of the others.

Why just over 400 lines: nine independent checks of 10 to 55 lines each behind one
report; split by theme they would share the report's types and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scs_testbed.errors import TestbedError

OK, WARNING, PROBLEM = "ok", "warning", "problem"
PROVIDER = "terraform-provider-openstack/openstack"
# The registry host each CLI asks for the provider (its default when the source has no host).
REGISTRY_HOSTS = {"OpenTofu": "registry.opentofu.org", "Terraform": "registry.terraform.io"}
CONNECT_TIMEOUT = 3.0  # seconds for a reachability probe (registry, S3 endpoint)


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report."""

    check: str
    status: str  # ok | warning | problem
    found: str
    todo: str = ""


@dataclass(frozen=True)
class Report:
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return all(f.status != PROBLEM for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(f) for f in self.findings]}


def run_doctor(
    terraform: str | None = None,
    cloud: str | None = None,
    reachable: Callable[[str, int], bool] | None = None,
    environment: str | None = None,
) -> Report:
    """Check everything scs-testbed needs on this machine; `cloud`: also log in to it;
    `environment`: also report the package mirrors its testbed will use."""
    probe = reachable or can_connect
    findings: list[Finding] = []
    tool, finding = check_terraform_cli(terraform)
    findings.append(finding)
    findings.append(check_provider(tool, probe))
    findings.append(check_ssh())
    findings.append(check_sshuttle())
    findings.append(check_clouds_yaml(cloud))
    if cloud:
        findings.append(check_credentials(cloud))
    findings.append(check_state_dir())
    findings.append(check_remote_state(tool, probe))
    if environment:
        findings.append(check_mirrors(environment, probe))
    return Report(findings)


# --------------------------------------------------------------------------- Terraform


def check_terraform_cli(explicit: str | None) -> tuple[Any, Finding]:
    """The CLI scs-testbed would use (same search and check as every command)."""
    from scs_testbed.terraform_binary import find_terraform_tool

    name = "OpenTofu/Terraform"
    try:
        tool = find_terraform_tool(explicit, required=True)
    except TestbedError as error:
        details = f" ({'; '.join(error.details)})" if error.details else ""
        return None, Finding(name, PROBLEM, error.message + details, error.hint or "")
    assert tool is not None
    return tool, Finding(name, OK, f"{tool.product} {tool.version} ({tool.path})")


def cli_config_files(product: str) -> list[Path]:
    """The CLI configuration file the product reads (TF_CLI_CONFIG_FILE, else its rc file)."""
    explicit = os.environ.get("TF_CLI_CONFIG_FILE") or os.environ.get("TERRAFORM_CONFIG")
    if explicit:
        return [Path(explicit).expanduser()]
    home = Path.home()
    if product == "OpenTofu":  # OpenTofu reads ~/.tofurc, and ~/.terraformrc when that is absent
        return [home / ".tofurc", home / ".terraformrc"]
    return [home / ".terraformrc"]


def read_cli_config(product: str) -> tuple[Path | None, dict[str, Any], str | None]:
    """(file, parsed content, problem) of the CLI configuration in effect."""
    import hcl2

    for path in cli_config_files(product):
        if not path.is_file():
            if os.environ.get("TF_CLI_CONFIG_FILE"):
                return path, {}, f"TF_CLI_CONFIG_FILE names {path}, which is not a file"
            continue
        try:
            return path, hcl2.loads(path.read_text(encoding="utf-8")), None
        except Exception as error:  # python-hcl2 raises lark errors of many kinds
            first = str(error).strip().splitlines()[:1]
            return path, {}, f"{path} does not parse: {first[0] if first else error}"
    return None, {}, None


def _blocks(data: Any, name: str) -> list[dict[str, Any]]:
    found = data.get(name, []) if isinstance(data, dict) else []
    return [b for b in (found if isinstance(found, list) else [found]) if isinstance(b, dict)]


def _text(value: Any) -> str:
    return str(value).strip().strip('"')


def _has_provider(root: Path, host: str) -> bool:
    base = root / host / PROVIDER
    return base.is_dir() and any(base.iterdir())


def check_provider(tool: Any, probe: Callable[[str, int], bool]) -> Finding:
    """terraform-provider-openstack: in a filesystem mirror, in a plugin cache, or reachable."""
    from scs_testbed.state_dir import state_root

    name = "OpenStack provider"
    if tool is None:
        return Finding(name, WARNING, "not checked: no OpenTofu/Terraform", "fix that first")
    host = REGISTRY_HOSTS.get(tool.product, "registry.terraform.io")
    path, config, problem = read_cli_config(tool.product)
    if problem and config == {} and "not a file" in problem:
        # the CLI only warns about a missing configuration file and installs directly
        path, warning = None, problem
    elif problem:
        return Finding(name, PROBLEM, problem, "fix the CLI configuration file")
    else:
        warning = ""
    where = f" ({path})" if path else ""
    for installation in _blocks(config, "provider_installation"):
        for mirror in _blocks(installation, "filesystem_mirror"):
            mirror_path = Path(_text(mirror.get("path", ""))).expanduser()
            if _has_provider(mirror_path, host):
                return Finding(name, OK, f"mirrored for {host} in {mirror_path}{where}")
        if _blocks(installation, "network_mirror"):
            return Finding(name, OK, f"network mirror configured{where}")
    caches = [os.environ.get("TF_PLUGIN_CACHE_DIR", ""), _text(config.get("plugin_cache_dir", ""))]
    caches.append(os.fspath(state_root() / "plugin-cache"))
    for cache in filter(None, caches):
        if _has_provider(Path(cache).expanduser(), host):
            return Finding(name, OK, f"in the plugin cache {cache} ({host})")
    mirrors = [
        _text(m.get("path", ""))
        for i in _blocks(config, "provider_installation")
        for m in _blocks(i, "filesystem_mirror")
    ]
    if mirrors:
        detail = f"the filesystem mirror {', '.join(mirrors)}{where} has no {host}/{PROVIDER}"
        if tool.product == "OpenTofu" and any(
            _has_provider(Path(m).expanduser(), REGISTRY_HOSTS["Terraform"]) for m in mirrors
        ):
            detail += " (it has Terraform's registry.terraform.io tree: OpenTofu asks for its own)"
        return Finding(name, PROBLEM, detail, f"put the provider under <mirror>/{host}/{PROVIDER}/")
    if probe(host, 443):
        found = f"downloaded from {host} at the first init (reachable)"
        if warning:
            return Finding(name, WARNING, f"{found}; {warning}", "create it or unset the variable")
        return Finding(name, OK, found)
    return Finding(
        name,
        PROBLEM,
        f"not mirrored, not cached, and {host} is not reachable"
        + (f" ({warning})" if warning else ""),
        "give the CLI a provider_installation filesystem_mirror (TF_CLI_CONFIG_FILE) holding "
        f"{host}/{PROVIDER}, or allow access to {host}",
    )


def can_connect(host: str, port: int) -> bool:
    """True when a TCP connection to host:port opens within CONNECT_TIMEOUT."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- package mirrors

# The variables that point the in-VM bootstrap at its external sources (terraform/variables.tf)
MIRROR_VARIABLES = (
    "apt_proxy",
    "apt_mirror",
    "pypi_index_url",
    "ansible_galaxy_server",
    "container_registry_mirror",
)


def mirror_endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) a mirror URL names; None when it names none (an empty value)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_mirrors(name: str, probe: Callable[[str, int], bool]) -> Finding:
    """The package mirrors the environment's testbed will use, each with whether it answers
    from here (a mirror inside the cloud may answer only to its servers: a warning, no more)."""
    from scs_testbed.environment import load_environment

    check = f"package mirrors of {name}"
    try:
        env = load_environment(name)
    except TestbedError as error:
        return Finding(check, PROBLEM, error.message, error.hint or "")
    used, silent = [], []
    for key in MIRROR_VARIABLES:
        value = str(env.get(key) or "")
        endpoint = mirror_endpoint(value) if value else None
        if endpoint is None:
            continue
        answers = probe(*endpoint)
        seen = "reachable from here" if answers else "not reachable from here"
        used.append(f"{key}={value} ({env.where(key)}; {seen})")
        if not answers:
            silent.append(f"{endpoint[0]}:{endpoint[1]}")
    if not used:
        return Finding(
            check,
            OK,
            "none: the servers fetch from each tool's public default (they need the internet)",
            "behind a proxy or without egress set apt_proxy, pypi_index_url … in the environment",
        )
    found = "; ".join(used)
    if silent:
        return Finding(
            check,
            WARNING,
            found,
            f"no answer from {', '.join(silent)} on this machine: fine if only the cloud's "
            "servers reach it, otherwise start the mirror or fix its address",
        )
    return Finding(check, OK, found)


# --------------------------------------------------------------------------- ssh, sshuttle


def _tool_version(path: str, args: list[str]) -> str:
    from scs_testbed import runner

    try:
        done = runner.run([path, *args], timeout=20)
    except Exception:  # a tool that cannot even print its version is reported by the caller
        return ""
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip()[:80] if lines else ""


def check_ssh() -> Finding:
    path = shutil.which("ssh")
    if path is None:
        return Finding(
            "ssh client",
            PROBLEM,
            "`ssh` is not on PATH",
            "install the OpenSSH client (Debian/Ubuntu: apt install openssh-client)",
        )
    version = _tool_version(path, ["-V"]) or "version unknown"
    return Finding("ssh client", OK, f"{version} ({path})")


def check_sshuttle() -> Finding:
    path = shutil.which("sshuttle")
    if path is None:
        return Finding(
            "sshuttle",
            WARNING,
            "`sshuttle` is not on PATH (only `scs-testbed tunnel` needs it)",
            "pip install 'scs-testbed[tunnel]', or apt install sshuttle",
        )
    version = _tool_version(path, ["--version"]) or "version unknown"
    return Finding("sshuttle", OK, f"{version} ({path})")


# --------------------------------------------------------------------------- clouds


def check_clouds_yaml(cloud: str | None) -> Finding:
    from scs_testbed.clouds_yaml import SEARCHED, cloud_entry, load_clouds

    name = "clouds.yaml"
    try:
        clouds = load_clouds()
        if cloud:
            cloud_entry(clouds, cloud)
    except TestbedError as error:
        return Finding(name, PROBLEM, error.message, error.hint or "")
    if clouds.path is None:
        return Finding(
            name,
            PROBLEM,
            f"no clouds.yaml found (searched: {SEARCHED})",
            "put your cloud's clouds.yaml in ~/.config/openstack/ or point "
            "OS_CLIENT_CONFIG_FILE at it",
        )
    entries = sorted(map(str, clouds.clouds))
    found = f"{clouds.path}: {len(entries)} cloud(s): {', '.join(entries) or 'none'}"
    if clouds.secure_path:
        found += f" (+ {clouds.secure_path})"
    if not entries:
        return Finding(name, PROBLEM, found, "add an entry under clouds:")
    return Finding(name, OK, found)


def check_credentials(cloud: str) -> Finding:
    from scs_testbed.cloud import connect

    name = f"credentials ({cloud})"
    try:
        conn = connect(cloud)
        project = conn.current_project_id
    except TestbedError as error:
        return Finding(name, PROBLEM, error.message, error.hint or "")
    return Finding(name, OK, f"logged in (project {project})")


# --------------------------------------------------------------------------- state


def _mode_problem(path: Path) -> str | None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        info = path.stat()
    problems = []
    if info.st_uid != os.geteuid():
        problems.append(f"owned by uid {info.st_uid}, not you ({os.geteuid()})")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        problems.append(f"mode {mode:04o} (others can read it)")
    return f"{path}: {' and '.join(problems)}" if problems else None


def check_state_dir() -> Finding:
    from scs_testbed.state_dir import state_root

    name = "state directory"
    root = state_root()
    if not root.exists():
        return Finding(name, OK, f"{root} (not created yet; it will be 0700)")
    if not root.is_dir():
        return Finding(name, PROBLEM, f"{root} is not a directory", "move it away")
    problems = []
    testbeds = root / "testbeds"
    candidates: Iterable[Path] = [root]
    if testbeds.is_dir():
        candidates = [root, testbeds, *sorted(p for p in testbeds.iterdir() if p.is_dir())]
    for path in candidates:
        try:
            problem = _mode_problem(path)
        except OSError as error:
            problem = f"{path}: {error.strerror}"
        if problem:
            problems.append(problem)
    if problems:
        fix = "chmod 700 " + " ".join(p.split(":")[0] for p in problems[:3])
        return Finding(name, PROBLEM, "; ".join(problems[:3]), f"{fix} (as their owner)")
    count = sum(1 for p in candidates) - (2 if testbeds.is_dir() else 1)
    return Finding(name, OK, f"{root} (0700, yours; {count} testbed(s))")


def check_remote_state(tool: Any, probe: Callable[[str, int], bool]) -> Finding:
    from scs_testbed import remote_state

    name = "remote state"
    try:
        config = remote_state.load_config()
    except TestbedError as error:
        return Finding(name, PROBLEM, error.message, error.hint or "")
    if config is None:
        return Finding(
            name,
            OK,
            "local (each testbed's state in its working directory)",
            "for teams and CI: scs-testbed remote-state set --endpoint URL --bucket NAME",
        )
    found = config.describe()
    missing = remote_state.missing_credentials()
    if missing:
        return Finding(
            name, PROBLEM, f"{found}; {' and '.join(missing)} not set", "export the store's keys"
        )
    if tool is not None:
        version = tuple(int(p) for p in re.findall(r"\d+", tool.version)[:3])
        if version < remote_state.LOCKFILE_VERSION:
            return Finding(
                name,
                PROBLEM,
                f"{found}; {tool.product} {tool.version} has no use_lockfile (needs >= 1.10)",
                f"upgrade {tool.product} to 1.10 or newer",
            )
    from urllib.parse import urlsplit

    parts = urlsplit(config.endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not probe(parts.hostname or "", port):
        return Finding(
            name,
            WARNING,
            f"{found}; {parts.hostname}:{port} does not answer",
            "check the endpoint and your network",
        )
    return Finding(name, OK, f"{found} (credentials from AWS_* variables, reachable)")
