"""Where the local cloud keeps everything: one state directory, owned by root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path("/var/lib/scs-testbed/localcloud")
DIR_ENV = "SCS_TESTBED_LOCALCLOUD_DIR"
# Built things keyed by their content (the services' venv, the server image): shared by every
# state directory, so a fresh cloud (CI makes one per run) does not build them again.
DEFAULT_CACHE = Path("/var/cache/scs-testbed/localcloud")
CACHE_ENV = "SCS_TESTBED_LOCALCLOUD_CACHE"
KEYSTONE_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
CLOUD_NAME = "localcloud"
ADMIN_CLOUD_NAME = "localcloud-admin"
# directories the services expect to exist (named in the config templates)
DATA_DIRS = (
    "rabbitmq",
    "glance-images",
    "nova",
    "nova-instances",
    "neutron",
    "cinder",
    "locks/glance",
    "locks/nova",
    "locks/neutron",
    "locks/cinder",
)


@dataclass(frozen=True)
class Layout:
    """Paths inside the local cloud's state directory.

    venv/ holds the OpenStack services, etc/ the rendered configs, data/ databases and
    images, logs/ one log per service, run/ one PID record per started process.
    venv is a link into the cache (`cache`: content-keyed builds, see DEFAULT_CACHE), where
    the server images live too; everything else is this cloud's own state.
    """

    root: Path
    cache: Path | None = None  # None: $SCS_TESTBED_LOCALCLOUD_CACHE, else DEFAULT_CACHE

    @classmethod
    def default(cls) -> Layout:
        """`$SCS_TESTBED_LOCALCLOUD_DIR`, else /var/lib/scs-testbed/localcloud."""
        explicit = os.environ.get(DIR_ENV)
        return cls(Path(explicit).expanduser().resolve() if explicit else DEFAULT_DIR)

    @property
    def cache_root(self) -> Path:
        if self.cache is not None:
            return self.cache
        explicit = os.environ.get(CACHE_ENV)
        return Path(explicit).expanduser().resolve() if explicit else DEFAULT_CACHE

    @property
    def venv(self) -> Path:
        """A link to the cached venv of the pinned services (install.install_venv)."""
        return self.root / "venv"

    @property
    def venvs(self) -> Path:
        """Cached venvs, one per pinned set of services (keyed by install.base_key)."""
        return self.cache_root / "venvs"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def install_marker(self) -> Path:
        return self.venv / ".scs-testbed-installed"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def steps(self) -> Path:
        """One marker file per completed one-time setup step (db syncs, bootstrap)."""
        return self.data / "steps"

    @property
    def images(self) -> Path:
        """Cached server root filesystems, one directory per package list (image.py)."""
        return self.cache_root / "images"

    @property
    def hosts(self) -> Path:
        """The booted servers' host layer (nspawn.Host): servers/<uuid>/ with overlay, config
        drive and console log, networks/ with one record per network namespace."""
        return self.root / "nspawn"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def clouds_file(self) -> Path:
        return self.root / "clouds.yaml"

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def out_file(self, service: str) -> Path:
        """stdout/stderr of a service's process (early crashes land here)."""
        return self.logs / f"{service}.out"

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def create(self) -> None:
        """Create the directory tree; the root is 0700 because configs hold passwords."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        for path in (self.etc, self.data, self.logs, self.run, self.steps):
            path.mkdir(parents=True, exist_ok=True)
        for name in DATA_DIRS:
            (self.data / name).mkdir(parents=True, exist_ok=True)
