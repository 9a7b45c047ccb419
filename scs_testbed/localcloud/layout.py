"""Where the local cloud keeps everything: one state directory, owned by root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path("/var/lib/scs-testbed/localcloud")
DIR_ENV = "SCS_TESTBED_LOCALCLOUD_DIR"
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
    """

    root: Path

    @classmethod
    def default(cls) -> Layout:
        """`$SCS_TESTBED_LOCALCLOUD_DIR`, else /var/lib/scs-testbed/localcloud."""
        explicit = os.environ.get(DIR_ENV)
        return cls(Path(explicit).expanduser().resolve() if explicit else DEFAULT_DIR)

    @property
    def venv(self) -> Path:
        return self.root / "venv"

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
        return self.root / "images"

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
