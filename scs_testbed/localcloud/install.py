"""Install what the local cloud runs on: Debian's MariaDB and RabbitMQ, and a venv of pinned
OpenStack services plus our plugins package. Each part is skipped when already in place."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from importlib.resources import files
from pathlib import Path

from scs_testbed import runner, ui
from scs_testbed.errors import TestbedError
from scs_testbed.localcloud.layout import Layout

APT_PACKAGES = ("mariadb-server", "rabbitmq-server")
# a file from each package that we run directly
APT_BINARIES = {
    "mariadb-server": Path("/usr/sbin/mariadbd"),
    "rabbitmq-server": Path("/usr/lib/rabbitmq/bin/rabbitmq-server"),
}
PIP_REQUIREMENTS = (
    "keystone",
    "glance",
    "openstack-placement",
    "nova",
    "neutron",
    "cinder",
    "gunicorn",
    "PyMySQL",
    # builds our plugins package offline (bdist_wheel is built in since setuptools 70.1)
    "setuptools",
)
PYTHON_ENV = "SCS_TESTBED_LOCALCLOUD_PYTHON"


class InstallError(TestbedError):
    """Installing a part of the local cloud failed."""


def constraints_file() -> Path:
    """The exact versions the local cloud is known to work with (a pip constraints file)."""
    return Path(str(files("scs_testbed.localcloud") / "constraints.txt"))


def plugins_dir() -> Path:
    """Source of the scs-localcloud-plugins package (ML2 binding driver, WSGI launcher)."""
    return Path(str(files("scs_testbed.localcloud") / "plugins"))


def missing_apt_packages() -> list[str]:
    return [name for name, path in APT_BINARIES.items() if not path.exists()]


def _fingerprint() -> str:
    """Changes whenever the pinned set or the plugins change, so `up` reinstalls."""
    digest = hashlib.sha256(constraints_file().read_bytes())
    digest.update(" ".join(PIP_REQUIREMENTS).encode())
    for path in sorted(plugins_dir().rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def venv_ready(layout: Layout) -> bool:
    marker = layout.install_marker
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == _fingerprint()


def install_apt_packages() -> None:
    """apt-get install MariaDB and RabbitMQ (their init scripts are never used)."""
    missing = missing_apt_packages()
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise InstallError(
            f"missing {', '.join(missing)} and there is no apt-get here",
            hint="the local cloud supports Debian/Ubuntu; install the packages by other means",
        )
    ui.info(f"installing Debian packages: {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
    ):
        _check(runner.run(argv, env=env), "apt-get failed")


def install_venv(layout: Layout) -> bool:
    """Create the venv and pip-install the pinned services and our plugins package.

    Returns whether anything was installed (running services then still run the old code).
    """
    if venv_ready(layout):
        return False
    python = os.environ.get(PYTHON_ENV, sys.executable)
    if not layout.python.exists():
        ui.info(f"creating the venv {layout.venv}")
        _check(runner.run([python, "-m", "venv", str(layout.venv)]), "creating the venv failed")
    ui.info("installing OpenStack services into the venv (pinned; about a minute)")
    pip = [str(layout.python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _check(
        runner.run([*pip, "-c", str(constraints_file()), *PIP_REQUIREMENTS]),
        "pip install of the OpenStack services failed",
    )
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    build = layout.root / "build" / "plugins"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(plugins_dir(), build, ignore=shutil.ignore_patterns("__pycache__"))
    _check(
        runner.run([*pip, "--no-build-isolation", "--no-deps", "--force-reinstall", str(build)]),
        "installing the scs-localcloud-plugins package failed",
    )
    shutil.rmtree(build.parent, ignore_errors=True)
    layout.install_marker.write_text(_fingerprint() + "\n", encoding="utf-8")
    return True


# nova loads its compute driver as `nova.virt.<compute_driver>`: a one-line module there
# makes ours loadable (compute_driver = scs_nspawn.NspawnDriver).
DRIVER_SHIM = "scs_nspawn.py"
DRIVER_SHIM_TEXT = (
    "# Written by scs-testbed localcloud up: nova loads drivers from nova.virt only.\n"
    "from scs_localcloud_plugins.nspawn_driver import NspawnDriver  # noqa: F401\n"
)


def install_driver_shim(layout: Layout) -> bool:
    """Put nova.virt.scs_nspawn into the venv (again when missing); True if it was written."""
    found = sorted(layout.venv.glob("lib/python3*/site-packages/nova/virt/__init__.py"))
    if not found:
        raise InstallError(f"nova is not installed in {layout.venv}")
    shim = found[0].parent / DRIVER_SHIM
    if shim.is_file() and shim.read_text(encoding="utf-8") == DRIVER_SHIM_TEXT:
        return False
    shim.write_text(DRIVER_SHIM_TEXT, encoding="utf-8")
    return True


def _check(result: runner.Completed, message: str) -> None:
    if result.ok:
        return
    tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
    raise InstallError(
        f"{message} (exit {result.returncode})",
        details=[" ".join(result.argv)[:200], *tail],
    )
