"""The local cloud as data: its processes, the order they start in, and one-time setup steps.

Placeholders in argv and env values: {bin} (the venv's bin/), {etc}, {data}, {logs}, {run},
{devpi} (devpi-server's venv), {mirrors} (the mirrors' caches: mirrors.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scs_testbed.localcloud import mirrors
from scs_testbed.localcloud.layout import Layout

WSGI = ("{bin}/python", "-m", "scs_localcloud_plugins.wsgi")


@dataclass(frozen=True)
class Service:
    """One long-running process of the local cloud."""

    name: str
    argv: tuple[str, ...]
    stage: int
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    # seconds between SIGTERM and SIGKILL; nova-compute takes more than 10 s to stop
    stop_timeout: float = 15.0
    # the log file the service writes itself (`logs/<log>.log`); None: only its .out file
    log: str | None = None
    # more ports it listens on, checked for conflicts before it starts
    extra_ports: tuple[int, ...] = ()

    @property
    def ports(self) -> tuple[int, ...]:
        return ((self.port,) if self.port else ()) + self.extra_ports


def _wsgi(
    name: str,
    app: str,
    port: int,
    stage: int,
    env: dict[str, str] | None = None,
    oslo_args: tuple[str, ...] = (),
) -> Service:
    """An API served by gunicorn; arguments after `--` reach the app's oslo.config."""
    argv = (*WSGI, app, f"127.0.0.1:{port}", *(("--", *oslo_args) if oslo_args else ()))
    return Service(name, argv, stage, port, env=env or {}, log=name)


def _worker(name: str, config: str, stop_timeout: float = 15.0) -> Service:
    """An RPC worker from the venv's console scripts, logging to its own file."""
    argv = (f"{{bin}}/{name}", "--config-file", config, "--log-file", f"{{logs}}/{name}.log")
    return Service(name, argv, 4, stop_timeout=stop_timeout, log=name)


_RABBIT_ENV = {
    "HOME": "{data}/rabbitmq",  # the Erlang cookie lands here, not in /root
    "RABBITMQ_CONFIG_FILE": "{etc}/rabbitmq/rabbitmq.conf",
    "RABBITMQ_ENABLED_PLUGINS_FILE": "{etc}/rabbitmq/enabled_plugins",
    "RABBITMQ_MNESIA_BASE": "{data}/rabbitmq/mnesia",
    "RABBITMQ_LOG_BASE": "{logs}",
    "RABBITMQ_LOGS": "{logs}/rabbitmq.log",
    "RABBITMQ_PID_FILE": "{run}/rabbitmq-beam.pid",
    "RABBITMQ_NODENAME": "rabbit@localhost",
    "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
    "RABBITMQ_DIST_PORT": "25672",
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {{127,0,0,1}}",
    "ERL_EPMD_ADDRESS": "127.0.0.1",
    "ERL_EPMD_PORT": "4369",
}

SERVICES: tuple[Service, ...] = (
    # stage 0: infrastructure that needs nothing else; the servers' package mirrors
    Service(
        "apt-cacher-ng",
        ("/usr/sbin/apt-cacher-ng", "-c", "{etc}/apt-cacher-ng"),
        0,
        mirrors.APT_PORT,
        log="apt-cacher-ng/apt-cacher",
    ),
    Service(
        "devpi",
        (
            "{devpi}/bin/devpi-server",
            "--serverdir",
            "{mirrors}/pypi",
            "--host",
            mirrors.MIRROR_ADDRESS,
            "--port",
            str(mirrors.PYPI_PORT),
        ),
        0,
        mirrors.PYPI_PORT,
    ),
    Service("epmd", ("/usr/bin/epmd", "-address", "127.0.0.1", "-port", "4369"), 0, 4369),
    Service(
        "mariadb",
        ("/usr/sbin/mariadbd", "--defaults-file={etc}/mysql/my.cnf"),
        0,
        3306,
        stop_timeout=30.0,
        log="mariadb",
    ),
    # stage 1: RabbitMQ registers with epmd. The wrapper script turns SIGTERM into a clean stop.
    Service(
        "rabbitmq",
        ("/usr/lib/rabbitmq/bin/rabbitmq-server",),
        1,
        5672,
        env=_RABBIT_ENV,
        stop_timeout=30.0,
        log="rabbitmq",
        extra_ports=(25672,),
    ),
    # stage 2: identity, needed to build the catalog
    _wsgi(
        "keystone",
        "keystone.wsgi.api:application",
        5000,
        2,
        env={"OS_KEYSTONE_CONFIG_DIR": "{etc}/keystone"},
    ),
    # stage 3: the APIs
    _wsgi(
        "glance-api",
        "glance.wsgi.api:application",
        9292,
        3,
        env={"OS_GLANCE_CONFIG_DIR": "{etc}/glance"},
    ),
    _wsgi(
        "placement-api",
        "placement.wsgi.api:application",
        8778,
        3,
        env={"OS_PLACEMENT_CONFIG_DIR": "{etc}/placement"},
    ),
    _wsgi(
        "neutron-api",
        "neutron.wsgi.api:application",
        9696,
        3,
        env={"OS_NEUTRON_CONFIG_DIR": "{etc}/neutron"},
    ),
    _wsgi(
        "nova-api",
        "nova.wsgi.osapi_compute:application",
        8774,
        3,
        env={"OS_NOVA_CONFIG_DIR": "{etc}/nova"},
    ),
    _wsgi(
        "cinder-api",
        "cinder.wsgi.api:application",
        8776,
        3,
        oslo_args=("--config-file", "{etc}/cinder/cinder.conf"),
    ),
    # stage 4: RPC workers
    _worker("nova-conductor", "{etc}/nova/nova.conf"),
    _worker("nova-scheduler", "{etc}/nova/nova.conf"),
    _worker("nova-compute", "{etc}/nova/nova.conf", stop_timeout=25.0),
    _worker("cinder-scheduler", "{etc}/cinder/cinder.conf"),
    _worker("cinder-volume", "{etc}/cinder/cinder.conf", stop_timeout=25.0),
)

STAGES = sorted({s.stage for s in SERVICES})
BY_NAME = {s.name: s for s in SERVICES}


@dataclass(frozen=True)
class Step:
    """A one-time setup command; done once, remembered by a marker file."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def _manage(tool: str, config: str, *args: str) -> tuple[str, ...]:
    return (f"{{bin}}/{tool}", "--config-file", config, *args)


_KEYSTONE = "{etc}/keystone/keystone.conf"
_NOVA = "{etc}/nova/nova.conf"
_NEUTRON = (
    "--config-file",
    "{etc}/neutron/neutron.conf",
    "--config-file",
    "{etc}/neutron/plugins/ml2/ml2_conf.ini",
)

# Chains run in parallel with each other; steps within a chain run in order.
# The keystone chain must finish before keystone starts (stage 2), all of them before stage 3.
SETUP_CHAINS: tuple[tuple[Step, ...], ...] = (
    (
        Step("keystone-db-sync", _manage("keystone-manage", _KEYSTONE, "db_sync")),
        Step(
            "keystone-fernet",
            _manage(
                "keystone-manage",
                _KEYSTONE,
                "fernet_setup",
                "--keystone-user",
                "root",
                "--keystone-group",
                "root",
            ),
        ),
        Step(
            "keystone-credential",
            _manage(
                "keystone-manage",
                _KEYSTONE,
                "credential_setup",
                "--keystone-user",
                "root",
                "--keystone-group",
                "root",
            ),
        ),
        # the admin password comes in through OS_BOOTSTRAP_PASSWORD, not argv (ps shows argv)
        Step(
            "keystone-bootstrap",
            _manage(
                "keystone-manage",
                _KEYSTONE,
                "bootstrap",
                "--bootstrap-admin-url",
                "http://127.0.0.1:5000/v3/",
                "--bootstrap-internal-url",
                "http://127.0.0.1:5000/v3/",
                "--bootstrap-public-url",
                "http://127.0.0.1:5000/v3/",
                "--bootstrap-region-id",
                "RegionOne",
            ),
            env={"OS_BOOTSTRAP_PASSWORD": "{admin_password}"},
        ),
    ),
    (
        Step("nova-api-db-sync", _manage("nova-manage", _NOVA, "api_db", "sync")),
        Step(
            "nova-cell0",
            _manage(
                "nova-manage",
                _NOVA,
                "cell_v2",
                "map_cell0",
                "--database_connection",
                "{db}/nova_cell0",
            ),
        ),
        Step(
            "nova-cell1", _manage("nova-manage", _NOVA, "cell_v2", "create_cell", "--name", "cell1")
        ),
        Step("nova-db-sync", _manage("nova-manage", _NOVA, "db", "sync")),
    ),
    (
        Step("glance-db-sync", _manage("glance-manage", "{etc}/glance/glance-api.conf", "db_sync")),
        Step(
            "placement-db-sync",
            _manage("placement-manage", "{etc}/placement/placement.conf", "db", "sync"),
        ),
        Step("neutron-db-sync", ("{bin}/neutron-db-manage", *_NEUTRON, "upgrade", "heads")),
        Step("cinder-db-sync", _manage("cinder-manage", "{etc}/cinder/cinder.conf", "db", "sync")),
    ),
)

DATABASES = ("glance", "placement", "nova_api", "nova", "nova_cell0", "neutron", "cinder")
DB_USER = "openstack"


def expand(text: str, layout: Layout, secrets: dict[str, str] | None = None) -> str:
    """Fill the placeholders of one argv or env value."""
    values = {
        "bin": str(layout.venv / "bin"),
        "etc": str(layout.etc),
        "data": str(layout.data),
        "logs": str(layout.logs),
        "run": str(layout.run),
        "devpi": str(mirrors.devpi_venv(layout)),
        "mirrors": str(mirrors.cache_dir(layout)),
    }
    if secrets is not None:
        values["admin_password"] = secrets["admin"]
        values["db"] = database_url(secrets)
    return text.format(**values)


def database_url(secrets: dict[str, str]) -> str:
    """SQLAlchemy URL prefix of the local MariaDB (append `/<database>`)."""
    return f"mysql+pymysql://{DB_USER}:{secrets['database']}@127.0.0.1:3306"
