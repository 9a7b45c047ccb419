"""Runs of scs-testbed through `faultproxy` against the local cloud, for the fault tests and
the fault benchmark: the proxy as a child process on ports of its own (never the defaults, so
no other proxy on the machine is disturbed), stopped by its PID; the CLI as a user runs it;
what the injector's log says happened; and what the cloud's API still shows with a testbed's
names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROXY = REPO / "tests" / "tools" / "faultproxy.py"
# Ports of our own: the real port + 21000 (26000 identity … 30696 network), control 29997.
PORT_OFFSET = 21000
ADMIN_PORT = 29997
DEFAULT_KINDS = "500,502,503,503-retry-after,409,reset-before,reset-after"


def localcloud_dir() -> Path:
    """The local cloud's directory, as `scs-testbed localcloud` finds it."""
    from scs_testbed.localcloud.layout import Layout

    return Layout.default().root


def cloud_absent() -> str | None:
    """Why the local cloud cannot be used (None: it answers)."""
    clouds = localcloud_dir() / "clouds.yaml"
    if not clouds.is_file():
        return f"no local cloud: {clouds} is missing"
    try:
        urllib.request.urlopen("http://127.0.0.1:5000/v3", timeout=5).read()
    except OSError as error:
        return f"the local cloud's identity service does not answer: {error}"
    return None


@dataclass
class Proxy:
    process: subprocess.Popen[str]
    clouds: Path
    log: Path
    admin: str

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.admin}{path}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def state(self) -> dict[str, Any]:
        return self.control("/state")

    def configure(self, **settings: Any) -> None:
        self.control("/config", settings)

    def outage(self, seconds: float, mode: str = "refuse") -> None:
        self.control("/outage", {"seconds": seconds, "mode": mode})

    def records(self) -> list[dict[str, Any]]:
        """The log's request records (what got which fault)."""
        lines = self.log.read_text().splitlines() if self.log.is_file() else []
        return [r for r in map(json.loads, lines) if r.get("event") == "request"]

    def faults(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records():
            if record.get("fault"):
                counts[record["fault"]] = counts.get(record["fault"], 0) + 1
        return counts


@contextmanager
def fault_proxy(
    workdir: Path,
    rate: float,
    seed: int,
    kinds: str = DEFAULT_KINDS,
    port_offset: int = PORT_OFFSET,
    admin_port: int = ADMIN_PORT,
    extra: tuple[str, ...] = (),
) -> Iterator[Proxy]:
    """`faultproxy serve` in front of the local cloud until the block ends (stopped by PID)."""
    workdir.mkdir(parents=True, exist_ok=True)
    clouds, log = workdir / "clouds.yaml", workdir / "faults.jsonl"
    argv = [
        sys.executable, str(PROXY), "serve",
        "--clouds-from", str(localcloud_dir() / "clouds.yaml"), "--clouds-out", str(clouds),
        "--rate", str(rate), "--seed", str(seed), "--kinds", kinds,
        "--port-offset", str(port_offset), "--admin-port", str(admin_port),
        "--log", str(log), *extra,
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()  # the proxy's first line: it listens
        if '"ready"' not in ready:
            process.wait(10)
            raise RuntimeError(f"faultproxy did not start: {ready}{process.stderr.read()}")  # type: ignore[union-attr]
        yield Proxy(process, clouds, log, f"http://127.0.0.1:{admin_port}")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def user_env(proxy_clouds: Path, base: Path) -> dict[str, str]:
    """A user of the local cloud whose clouds.yaml leads through the proxy."""
    from tests import tiers

    base.mkdir(parents=True, exist_ok=True)
    (base / "plugins").mkdir(exist_ok=True)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    env.update(
        OS_CLIENT_CONFIG_FILE=str(proxy_clouds),
        TF_CLI_CONFIG_FILE=str(tiers.write_terraformrc(base / "terraformrc")),
        SCS_TESTBED_TERRAFORM=str(tiers.terraform_command()),
        SCS_TESTBED_STATE_DIR=str(base / "state"),
        TF_PLUGIN_CACHE_DIR=str(base / "plugins"),
        SCS_TESTBED_LOCALCLOUD_DIR=str(localcloud_dir()),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    env.pop("SCS_TESTBED_ENV_DIR", None)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """`scs-testbed ARGS` (this checkout) as that user runs it, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )


def direct_connection() -> Any:
    """openstacksdk straight to the local cloud (not through the proxy): the judge."""
    import openstack.config
    from openstack.connection import Connection

    config = openstack.config.OpenStackConfig(config_files=[str(localcloud_dir() / "clouds.yaml")])
    return Connection(config=config.get_one(cloud="localcloud"))


def leftovers(conn: Any, prefix: str) -> list[str]:
    """Everything the cloud's API shows named after the testbed: its exact names (servers,
    ports, subnets, networks, routers, volumes, floating IPs, security groups, keypairs), and
    anything else whose name starts with `prefix-`."""
    from scs_testbed.discover import find_resources

    found = {f"{f.kind}:{f.name}:{f.id}" for f in find_resources(conn, prefix)}
    project = conn.current_project_id
    listings = {
        "server": conn.compute.servers(),
        "volume": conn.block_storage.volumes(),
        "port": conn.network.ports(project_id=project),
        "network": conn.network.networks(project_id=project),
        "router": conn.network.routers(project_id=project),
        "security_group": conn.network.security_groups(project_id=project),
        "keypair": conn.compute.keypairs(),
    }
    for kind, items in listings.items():
        for item in items:
            if str(item.name or "").startswith(f"{prefix}-"):
                found.add(f"{kind}:{item.name}:{item.id}")
    for ip in conn.network.ips(project_id=project):
        if str(ip.description or "").startswith(f"{prefix}-"):
            found.add(f"floating_ip:{ip.description}:{ip.id}")
    return sorted(found)


def remove_testbeds(judge: Any, names: list[str], user: Path) -> None:
    """Destroy each testbed as `user` (its state directory) straight through the local cloud,
    with --force-cleanup; then delete by name whatever still carries it (a deploy that never
    wrote a workspace, a destroy that failed). Raises if anything remains."""
    from scs_testbed.discover import delete_resources

    env = user_env(localcloud_dir() / "clouds.yaml", user)
    remaining: dict[str, list[str]] = {}
    for name in names:
        testbed = Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / name
        if testbed.is_dir():
            cli(env, "destroy", name, "--yes", "--force-cleanup")
        left = leftovers(judge, name)
        if left:
            delete_resources(judge, name)
            left = leftovers(judge, name)
        if left:
            remaining[name] = left
    if remaining:
        raise RuntimeError(f"testbeds left in the local cloud after the test: {remaining}")


def wait_for_room(env: dict[str, str], name: str, timeout: float = 1200) -> None:
    """The shared cloud must hold one more testbed (the preflight passes) before a run."""
    deadline = time.monotonic() + timeout
    while True:
        done = cli(env, "check", "-e", "local", "--name", name, "--json", timeout=300)
        if done.returncode == 0 or time.monotonic() > deadline:
            return
        time.sleep(10)  # other sessions' testbeds are being destroyed


def retry_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if "retrying in" in line]
