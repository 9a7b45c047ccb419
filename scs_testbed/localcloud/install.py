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

APT_PACKAGES = ("mariadb-server", "rabbitmq-server", "apt-cacher-ng")
# a file from each package that we run directly
APT_BINARIES = {
    "mariadb-server": Path("/usr/sbin/mariadbd"),
    "rabbitmq-server": Path("/usr/lib/rabbitmq/bin/rabbitmq-server"),
    "apt-cacher-ng": Path("/usr/sbin/apt-cacher-ng"),
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


def base_key() -> str:
    """Key of the cached venv: the pinned services and the Python that runs them."""
    digest = hashlib.sha256(constraints_file().read_bytes())
    digest.update(" ".join(PIP_REQUIREMENTS).encode())
    digest.update(Path(_python()).resolve().as_posix().encode())
    return digest.hexdigest()[:16]


def _fingerprint() -> str:
    """Changes whenever the pinned set or the plugins change, so `up` reinstalls."""
    digest = hashlib.sha256(base_key().encode())
    for path in sorted(plugins_dir().rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _python() -> str:
    return os.environ.get(PYTHON_ENV, sys.executable)


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


BASE_MARKER = ".scs-testbed-base"


def install_venv(layout: Layout) -> bool:
    """Link the cached venv of the pinned services (built first when missing) and install
    our plugins package into it when they changed.

    The venv lives in the cache under base_key() (constraints, requirements, Python), so a
    fresh state directory reuses it; only the small plugins package is reinstalled when its
    code changed. Returns whether anything was installed (running services then still run
    the old code).
    """
    key = base_key()
    target = layout.venvs / key
    relinked = _link_venv(layout, target)
    if not relinked and venv_ready(layout):
        return False
    base = target / BASE_MARKER
    if not (base.is_file() and base.read_text(encoding="utf-8").strip() == key):
        _build_venv(target)
        base.write_text(key + "\n", encoding="utf-8")
    if not venv_ready(layout):
        _install_plugins(layout)
        layout.install_marker.write_text(_fingerprint() + "\n", encoding="utf-8")
    return True


def _link_venv(layout: Layout, target: Path) -> bool:
    """Point layout.venv at `target`; True when it pointed elsewhere (or was a directory)."""
    link = layout.venv
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return False
    if link.is_dir() and not link.is_symlink():  # a venv of an older release, in the state dir
        shutil.rmtree(link)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = link.with_name(link.name + ".new")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target)
    staged.replace(link)
    return True


def _build_venv(target: Path) -> None:
    """A new venv at `target` with the pinned OpenStack services (from pip's cache if there)."""
    shutil.rmtree(target, ignore_errors=True)  # a build that was interrupted
    ui.info(f"creating the venv {target}")
    _check(runner.run([_python(), "-m", "venv", str(target)]), "creating the venv failed")
    ui.info("installing OpenStack services into the venv (pinned; about a minute)")
    _check(
        runner.run([*_pip(target), "-c", str(constraints_file()), *PIP_REQUIREMENTS]),
        "pip install of the OpenStack services failed",
    )


def _pip(venv: Path) -> list[str]:
    return [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]


def _install_plugins(layout: Layout) -> None:
    """(Re)install the scs-localcloud-plugins package into the venv."""
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    build = layout.root / "build" / "plugins"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(plugins_dir(), build, ignore=shutil.ignore_patterns("__pycache__"))
    _check(
        runner.run(
            [
                *_pip(layout.venv),
                "--no-build-isolation",
                "--no-deps",
                "--force-reinstall",
                str(build),
            ]
        ),
        "installing the scs-localcloud-plugins package failed",
    )
    shutil.rmtree(build.parent, ignore_errors=True)


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
    raise InstallError(f"{message} (exit {result.returncode})", details=result.failure_details(15))
