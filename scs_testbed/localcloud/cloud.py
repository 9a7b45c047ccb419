"""Start, stop and inspect the local cloud: the service table put into motion.

`up` is idempotent: whatever runs is left alone, whatever is missing is installed, set up or
started. If anything fails on the way, every process of the cloud is stopped again, so a
failed `up` never leaves half a cloud behind.

Longer than 400 lines on purpose: up, down and status share the starter's bookkeeping (which
process runs, restarts, port conflicts), one state machine that reads best in one place.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scs_testbed import runner, ui
from scs_testbed.errors import InputError, TestbedError
from scs_testbed.localcloud import configs, image, install, mirrors, procs, provision
from scs_testbed.localcloud.layout import CLOUD_NAME, Layout
from scs_testbed.localcloud.services import (
    BY_NAME,
    DATABASES,
    DB_USER,
    SERVICES,
    SETUP_CHAINS,
    Service,
    Step,
    expand,
)

START_TIMEOUT = 180.0
READY_TIMEOUT = 240.0
LOG_TAIL = 20


class LocalCloudError(TestbedError):
    """The local cloud could not be started, stopped or set up."""


class ServiceDied(LocalCloudError):
    """A service of the local cloud exited while it was supposed to run."""


@dataclass(frozen=True)
class ServiceState:
    """One row of `localcloud status`."""

    name: str
    running: bool
    port: int | None
    pid: int | None
    rss_bytes: int
    listening: bool


# services that must restart when a config file they read changed (the compute driver, the
# floating IP hook); everything else reads only what never changes after the first `up`
RESTART_ON_CHANGE = {
    "nova/nova.conf": ("nova-compute",),
    "neutron/neutron.conf": ("neutron-api",),
}


@dataclass
class UpResult:
    clouds_file: str
    project_id: str
    driver: str = configs.DEFAULT_DRIVER
    image: image.Image | None = None
    started: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quotas: dict[str, int] = field(default_factory=dict)


@dataclass
class DownResult:
    stopped: list[str]
    killed: list[int]
    purged: bool
    seconds: float
    servers: int = 0


def require_root(action: str) -> None:
    """The local cloud installs Debian packages and runs MariaDB/RabbitMQ: root only."""
    if os.geteuid() != 0:
        raise InputError(
            f"`scs-testbed localcloud {action}` must run as root",
            hint="it installs Debian packages (MariaDB, RabbitMQ), runs them and the OpenStack "
            "services from /var/lib/scs-testbed/localcloud and binds their ports on "
            "127.0.0.1; run it with sudo",
        )


def record_of(layout: Layout, service: Service) -> procs.ProcessRecord | None:
    """The living process of `service`, or None (never started, exited, or PID reused)."""
    record = procs.ProcessRecord.load(layout.pid_file(service.name))
    return record if record is not None and record.alive() else None


def status(layout: Layout | None = None) -> list[ServiceState]:
    """State of every service, in start order."""
    layout = layout or Layout.default()
    rows = []
    for service in SERVICES:
        record = record_of(layout, service)
        family = [record.pid, *procs.descendants(record.pid)] if record else []
        rows.append(
            ServiceState(
                name=service.name,
                running=record is not None,
                port=service.port,
                pid=record.pid if record else None,
                rss_bytes=procs.rss_bytes(family),
                listening=bool(service.port and procs.is_listening(service.port)),
            )
        )
    return rows


def is_running(layout: Layout | None = None) -> bool:
    """Every service of the cloud runs."""
    return all(row.running for row in status(layout))


def readiness_problem() -> str | None:
    """None when the localcloud test tier can run here, else why not (for auto-skip)."""
    if os.geteuid() != 0:
        return "needs root"
    layout = Layout.default()
    if is_running(layout):
        return None
    missing = install.missing_apt_packages()
    if missing:
        return f"not installed: {', '.join(missing)} (run `scs-testbed localcloud up`)"
    if not install.venv_ready(layout):
        return f"not installed: no venv in {layout.venv} (run `scs-testbed localcloud up`)"
    conflicts = _port_conflicts(layout)
    if conflicts:
        return "cannot start: " + "; ".join(conflicts)
    return None


def running_driver(layout: Layout | None = None) -> str | None:
    """The compute driver the running cloud's nova reports (`nspawn`: servers boot), asked
    of nova through the admin entry of the cloud's clouds.yaml; None when it is not running."""
    layout = layout or Layout.default()
    if not (is_running(layout) and layout.clouds_file.is_file()):
        return None
    secret = configs.load_secrets(layout)
    return provision.compute_driver(provision.connect(provision.admin_auth(secret)))


def env_exports(layout: Layout | None = None) -> dict[str, str]:
    """Variables that point openstacksdk, the openstack CLI and Terraform at the cloud."""
    layout = layout or Layout.default()
    return {"OS_CLIENT_CONFIG_FILE": str(layout.clouds_file), "OS_CLOUD": CLOUD_NAME}


def log_tail(name: str, lines: int, layout: Layout | None = None) -> tuple[str, list[str]]:
    """The last `lines` lines of a service's log (its own log file, else its stdout)."""
    layout = layout or Layout.default()
    service = BY_NAME.get(name)
    if service is None:
        raise InputError(f"no service named {name!r}", hint="one of: " + ", ".join(BY_NAME))
    for path in _log_paths(layout, service):
        if path.is_file() and path.stat().st_size:
            return str(path), _tail(path, lines)
    raise InputError(f"{name} has not written a log yet", hint=f"look in {layout.logs}")


def up(
    quotas: dict[str, int] | None = None,
    *,
    driver: str | None = None,
    rebuild_image: bool = False,
    layout: Layout | None = None,
    progress: Callable[[str], None] = ui.info,
) -> UpResult:
    """Install what is missing, start what is not running, provision, write clouds.yaml.

    `driver` picks nova's compute driver (configs.DRIVERS; None: the one of the last `up`,
    else the default `nspawn`). With `nspawn` the server image is built first when missing
    (`rebuild_image`: always). Services whose code or config changed are restarted.
    """
    require_root("up")
    layout = layout or Layout.default()
    began = time.monotonic()

    def step(message: str) -> None:
        progress(f"[{time.monotonic() - began:5.1f}s] {message}")

    layout.create()
    install.install_apt_packages()
    reinstalled = install.install_venv(layout)
    reinstalled |= install.install_driver_shim(layout)
    mirrors.install_devpi(layout)
    chosen = configs.chosen_driver(layout, driver)
    built = None
    if chosen == "nspawn":
        built = image.ensure_image(layout, rebuild=rebuild_image)
        what = "built" if built.built else "cached"
        step(f"server image {what}: {built.rootfs}")
    secret = configs.load_secrets(layout)
    changed = configs.render_configs(layout, secret, chosen, built.rootfs if built else None)
    mirrors.prepare(layout)
    _restart_changed(layout, reinstalled, changed, step)
    conflicts = _port_conflicts(layout)
    if conflicts:
        raise InputError(
            "ports the local cloud needs are taken",
            details=conflicts,
            hint="stop those processes (e.g. a system MariaDB or RabbitMQ) and run up again",
        )
    starter = _Starter(layout, secret, step, chosen)
    try:
        mirrors.add_address()
        if mirrors.init_devpi(layout):
            step("devpi's server directory initialised")
        project_id = starter.run(quotas or {})
    except BaseException as error:
        step("stopping everything again after the failure")
        _stop_all(layout)
        if isinstance(error, TimeoutError):
            raise LocalCloudError(
                str(error), details=starter.recent_logs(), hint=f"logs are in {layout.logs}"
            ) from error
        if isinstance(error, Exception) and not isinstance(error, TestbedError):
            raise LocalCloudError(
                f"setting up the local cloud failed: {error}", hint=f"logs are in {layout.logs}"
            ) from error
        raise
    return UpResult(
        clouds_file=str(layout.clouds_file),
        project_id=project_id,
        started=starter.started,
        seconds=time.monotonic() - began,
        quotas={**provision.DEFAULT_QUOTAS, **(quotas or {})},
        driver=chosen,
        image=built,
    )


def down(purge: bool = False, *, layout: Layout | None = None) -> DownResult:
    """Stop every process of the cloud by PID; with `purge` also delete its data."""
    require_root("down")
    layout = layout or Layout.default()
    began = time.monotonic()
    stopped, killed = _stop_all(layout)
    servers = stop_servers(layout)
    mirrors.remove_address()
    if purge:
        for path in (layout.data, layout.etc, layout.logs, layout.run, layout.hosts):
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(layout.root / "build", ignore_errors=True)
        for path in (layout.clouds_file, layout.secrets_file, layout.root / "erl_crash.dump"):
            path.unlink(missing_ok=True)
    return DownResult(stopped, killed, purge, time.monotonic() - began, servers)


def stop_servers(layout: Layout) -> int:
    """Power off every booted server and remove its mounts, veths and namespaces.

    Overlays (the servers' disks) stay for their deletion through the API; `--purge` removes
    them. Returns how many servers there were.
    """
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

    if not layout.hosts.is_dir():
        return 0
    host = nspawn.Host(layout.hosts, Path("/nonexistent"))  # stopping never reads the image
    uuids = host.server_uuids()
    try:
        host.stop_all(timeout=20)
    except nspawn.HostError as error:
        raise LocalCloudError(f"stopping the servers failed: {error}") from error
    return len(uuids)


def _restart_changed(
    layout: Layout, reinstalled: bool, changed: list[str], step: Callable[[str], None]
) -> None:
    """Stop running services that would keep old code or config; `up` starts them again."""
    names = {n for target in changed for n in RESTART_ON_CHANGE.get(target, ())}
    if reinstalled:
        names |= {s.name for s in SERVICES if s.stage >= 2}
    running = [(s, record_of(layout, s)) for s in SERVICES if s.name in names]
    records = [(s, r) for s, r in running if r is not None]
    if not records:
        return
    step("restarting for new code or config: " + ", ".join(s.name for s, _ in records))
    procs.terminate([r for _, r in records], max(s.stop_timeout for s, _ in records))
    for service, _ in records:
        layout.pid_file(service.name).unlink(missing_ok=True)


def _stop_all(layout: Layout) -> tuple[list[str], list[int]]:
    """Stop the OpenStack services together, then RabbitMQ, then MariaDB and epmd."""
    stopped: list[str] = []
    killed: list[int] = []
    for stages in ((2, 3, 4), (1,), (0,)):
        group = [s for s in SERVICES if s.stage in stages]
        records = {s.name: record_of(layout, s) for s in group}
        running = [r for r in records.values() if r is not None]
        if running:
            killed += procs.terminate(running, max(s.stop_timeout for s in group))
        stopped += [name for name, r in records.items() if r is not None]
        for service in group:
            layout.pid_file(service.name).unlink(missing_ok=True)
    return stopped, killed


def _port_conflicts(layout: Layout) -> list[str]:
    problems = []
    for service in SERVICES:
        if record_of(layout, service) is not None:
            continue
        for port in service.ports:
            holders = procs.port_holders(port)
            if holders:
                who = ", ".join(f"{cmd} (pid {pid})" for pid, cmd in holders)
                problems.append(f"port {port} ({service.name}) is in use by {who}")
    return problems


def _log_paths(layout: Layout, service: Service) -> list:
    paths = [layout.log_file(service.log)] if service.log else []
    return [*paths, layout.out_file(service.name)]


def _tail(path: os.PathLike[str], lines: int) -> list[str]:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 256 * lines))
        text = handle.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]


class _Starter:
    """One run of `up`: starts services stage by stage and watches them while it waits."""

    def __init__(
        self, layout: Layout, secret: dict[str, str], step: Callable[[str], None], driver: str
    ):
        self.layout = layout
        self.secret = secret
        self.driver = driver
        self.step = step
        self.started: list[str] = []
        self._watched: dict[str, procs.ProcessRecord] = {}
        self._lock = threading.Lock()

    def run(self, quotas: dict[str, int]) -> str:
        self._init_mariadb()
        self._start(0)
        self._wait_ports(0)
        self._create_databases()
        self._start(1)
        with ThreadPoolExecutor(max_workers=len(SETUP_CHAINS)) as pool:
            chains = [pool.submit(self._run_chain, chain) for chain in SETUP_CHAINS]
            self._wait_future(chains[0], "keystone setup")
            self._start(2)
            self._wait_ports(2)
            self._once("catalog", self._build_catalog)
            self.step("catalog ready")
            # a new connection: a token taken before the catalog existed has an empty one
            admin = provision.connect(provision.admin_auth(self.secret))
            for future in chains[1:]:
                self._wait_future(future, "database setup")
        self.step("databases in sync")
        self._start(3)
        self._wait_ports(1)
        self._start(4)
        self._wait_ports(3)
        # the hypervisor must report the chosen driver: after a switch, nova-compute's record
        # is updated once the restarted service has looked at itself
        self._wait(
            f"hypervisor ({self.driver}) and cinder-volume",
            lambda: provision.compute_and_volume_ready(admin, self.driver),
            READY_TIMEOUT,
        )
        self.step(f"hypervisor ({self.driver}) and cinder-volume up")
        project_id = provision.provision(admin, self.layout, self.secret, quotas)
        provision.write_clouds_file(self.layout, self.secret)
        self.step("flavors, image, public network, testbed project and quotas in place")
        return project_id

    # --- processes -------------------------------------------------------------------

    def _start(self, stage: int) -> None:
        for service in (s for s in SERVICES if s.stage == stage):
            record = record_of(self.layout, service)
            if record is None:
                record = self._spawn(service)
                self.started.append(service.name)
                self.step(f"started {service.name} (pid {record.pid})")
            self._watched[service.name] = record

    def _spawn(self, service: Service) -> procs.ProcessRecord:
        argv = [expand(arg, self.layout) for arg in service.argv]
        env = {key: expand(value, self.layout) for key, value in service.env.items()}
        out = self.layout.out_file(service.name)
        out.write_bytes(b"")
        pid = runner.start_detached(argv, log_path=out, cwd=self.layout.root, env=env)
        record = procs.ProcessRecord.of(pid)
        configs.write_private(self.layout.pid_file(service.name), record.dump())
        return record

    def _check_alive(self) -> None:
        for name, record in list(self._watched.items()):
            if not record.alive():
                service = BY_NAME[name]
                details = []
                for path in _log_paths(self.layout, service):
                    if path.is_file() and path.stat().st_size:
                        details += [f"--- {path}", *_tail(path, LOG_TAIL)]
                raise ServiceDied(
                    f"{name} exited while the local cloud was starting",
                    details=details,
                    hint=f"scs-testbed localcloud logs {name}",
                )

    def _wait(self, what: str, probe: Callable[[], bool], timeout: float) -> None:
        provision.wait_for(what, probe, timeout, self._check_alive)

    def _wait_ports(self, stage: int) -> None:
        ports = [s.port for s in SERVICES if s.stage == stage and s.port]
        self._wait(
            f"ports {ports}", lambda: all(procs.is_listening(p) for p in ports), START_TIMEOUT
        )

    def _wait_future(self, future: Future[None], what: str) -> None:
        self._wait(what, future.done, START_TIMEOUT * 2)
        future.result()

    def recent_logs(self) -> list[str]:
        """Last lines of the services that were being waited for (for a timeout message)."""
        lines: list[str] = []
        for name in self._watched:
            path = self.layout.log_file(BY_NAME[name].log or name)
            if path.is_file():
                lines += [f"--- {path}", *_tail(path, 3)]
        return lines

    # --- one-time setup ------------------------------------------------------------

    def _once(self, name: str, action: Callable[[], object]) -> None:
        marker = self.layout.steps / f"{name}.done"
        if marker.exists():
            return
        action()
        marker.touch()

    def _build_catalog(self) -> None:
        provision.build_catalog(provision.connect(provision.admin_auth(self.secret)), self.secret)

    def _run_chain(self, chain: Iterable[Step]) -> None:
        for step in chain:
            self._once(step.name, functools.partial(self._run_step, step))

    def _run_step(self, step: Step) -> None:
        argv = [expand(arg, self.layout, self.secret) for arg in step.argv]
        env = {k: expand(v, self.layout, self.secret) for k, v in step.env.items()}
        result = runner.run(argv, cwd=self.layout.root, env=env)
        with open(self.layout.log_file("setup"), "a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
        if not result.ok:
            tail = (result.stdout + result.stderr).strip().splitlines()[-LOG_TAIL:]
            raise LocalCloudError(
                f"setup step {step.name} failed (exit {result.returncode})",
                details=tail,
                hint=f"full output: {self.layout.log_file('setup')}",
            )
        self.step(f"{step.name} done")

    def _init_mariadb(self) -> None:
        if (self.layout.data / "mysql" / "mysql").is_dir():
            return
        shutil.rmtree(self.layout.data / "mysql", ignore_errors=True)
        result = runner.run(
            [
                "mariadb-install-db",
                f"--defaults-file={self.layout.etc}/mysql/my.cnf",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            cwd=self.layout.root,
        )
        if not result.ok:
            raise LocalCloudError(
                "mariadb-install-db failed",
                details=(result.stdout + result.stderr).splitlines()[-LOG_TAIL:],
            )
        self.step("MariaDB data directory initialised")

    def _create_databases(self) -> None:
        user = f"'{DB_USER}'@'127.0.0.1'"
        password = self.secret["database"]
        sql = [f"CREATE DATABASE IF NOT EXISTS `{db}`;" for db in DATABASES]
        sql += [
            f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY '{password}';",
            f"ALTER USER {user} IDENTIFIED BY '{password}';",
            *(f"GRANT ALL PRIVILEGES ON `{db}`.* TO {user};" for db in DATABASES),
        ]
        result = runner.run(
            ["mariadb", f"--defaults-file={self.layout.etc}/mysql/my.cnf"],
            input_text="\n".join(sql) + "\n",
        )
        if not result.ok:
            raise LocalCloudError(
                "creating the databases failed", details=result.stderr.splitlines()[-LOG_TAIL:]
            )
