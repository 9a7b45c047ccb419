"""Package mirrors for the local cloud's servers: an apt caching proxy and a PyPI caching index.

The servers reach nothing outside this machine (their router rejects it, nspawn.py); these two
processes on the host side of the router are the exception, as a proxy or a mirror is on a
cloud with restricted egress. They listen on MIRROR_ADDRESS only — an address of this host on its
loopback link, the public subnet's gateway address, which the servers' routers let through to
MIRROR_PORTS and nothing else — and only they talk to the package registries this machine
reaches:

- apt-cacher-ng (Debian's package) on port 3142: the `local` environment's `apt_proxy`;
- devpi-server (from PyPI, in a venv of its own in the cache) on port 3141, its `root/pypi`
  index mirroring PyPI: the `local` environment's `pypi_index_url`.

Their caches are content-keyed downloads (package files by name and version), so they live in
the cache directory next to the venvs and images (`mirrors/`): a fresh state directory (CI
makes one per run) finds them warm.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from scs_testbed import runner, ui
from scs_testbed.errors import TestbedError
from scs_testbed.localcloud.layout import Layout

# the public subnet's gateway (provision.PUBLIC_CIDR): "the host side of the router".
# nspawn.py (which runs in the services' venv and cannot import this) names the same values.
MIRROR_ADDRESS = "172.24.4.1"
APT_PORT = 3142
PYPI_PORT = 3141
MIRROR_PORTS = (PYPI_PORT, APT_PORT)
LINK = "lo"  # the host's own loopback link carries MIRROR_ADDRESS (add_address)
APT_PROXY_URL = f"http://{MIRROR_ADDRESS}:{APT_PORT}"
PYPI_INDEX_URL = f"http://{MIRROR_ADDRESS}:{PYPI_PORT}/root/pypi/+simple/"
DEVPI_REQUIREMENTS = ("devpi-server==6.20.3",)


class MirrorError(TestbedError):
    """A package mirror of the local cloud could not be set up."""


def cache_dir(layout: Layout) -> Path:
    return layout.cache_root / "mirrors"


def devpi_venv(layout: Layout) -> Path:
    digest = hashlib.sha256(" ".join(DEVPI_REQUIREMENTS).encode())
    digest.update(Path(sys.executable).resolve().as_posix().encode())
    return layout.venvs / f"devpi-{digest.hexdigest()[:12]}"


def install_devpi(layout: Layout) -> Path:
    """The cached venv with devpi-server (built once per pinned version); its path."""
    venv = devpi_venv(layout)
    marker = venv / ".scs-testbed-installed"
    if marker.is_file():
        return venv
    ui.info(f"installing devpi-server into {venv}")
    _check(runner.run([sys.executable, "-m", "venv", "--clear", str(venv)]), "creating its venv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _check(
        runner.run([*pip, "--disable-pip-version-check", *DEVPI_REQUIREMENTS]),
        "pip install of devpi-server",
    )
    marker.write_text(" ".join(DEVPI_REQUIREMENTS) + "\n", encoding="utf-8")
    return venv


def init_devpi(layout: Layout) -> bool:
    """Initialise devpi's server directory once (devpi-init); True when it was done now."""
    serverdir = cache_dir(layout) / "pypi"
    if (serverdir / ".serverversion").exists():
        return False
    serverdir.mkdir(parents=True, exist_ok=True)
    _check(
        runner.run([str(devpi_venv(layout) / "bin" / "devpi-init"), "--serverdir", str(serverdir)]),
        "devpi-init",
    )
    return True


def apt_cacher_config(layout: Layout) -> str:
    """apt-cacher-ng's configuration: our address, port, cache, logs; in the foreground."""
    return (
        "# written by scs-testbed localcloud up (mirrors.py)\n"
        f"CacheDir: {cache_dir(layout) / 'apt'}\n"
        f"LogDir: {layout.logs / 'apt-cacher-ng'}\n"
        f"Port: {APT_PORT}\n"
        f"BindAddress: {MIRROR_ADDRESS}\n"
        f"PidFile: {layout.run / 'apt-cacher-ng-daemon.pid'}\n"
        f"SocketPath: {layout.run / 'apt-cacher-ng.socket'}\n"
        "ForeGround: 1\n"
        "ReuseConnections: 1\n"
        "ExThreshold: 4\n"
    )


def prepare(layout: Layout) -> None:
    """Directories and the apt-cacher-ng configuration (written each `up`; it holds no secret)."""
    for path in (
        cache_dir(layout) / "apt",
        layout.logs / "apt-cacher-ng",
        layout.etc / "apt-cacher-ng",
    ):
        path.mkdir(parents=True, exist_ok=True)
    (layout.etc / "apt-cacher-ng" / "acng.conf").write_text(
        apt_cacher_config(layout), encoding="utf-8"
    )


def add_address() -> None:
    """MIRROR_ADDRESS as a /32 on this host's loopback link (idempotent). Not a dummy link:
    kernels without the dummy module (containers, minimal hosts) refuse that type; the host
    takes packets for its own addresses on any link, so the servers' uplinks reach it."""
    addresses = runner.run(["ip", "-o", "-4", "addr", "show", "dev", LINK]).stdout
    if f" {MIRROR_ADDRESS}/32 " not in addresses:
        _check(
            runner.run(["ip", "addr", "add", f"{MIRROR_ADDRESS}/32", "dev", LINK]),
            f"adding {MIRROR_ADDRESS} to {LINK}",
        )


def remove_address() -> None:
    """The address goes (`localcloud down`)."""
    addresses = runner.run(["ip", "-o", "-4", "addr", "show", "dev", LINK]).stdout
    if f" {MIRROR_ADDRESS}/32 " in addresses:
        runner.run(["ip", "addr", "del", f"{MIRROR_ADDRESS}/32", "dev", LINK])


def _check(result: runner.Completed, what: str) -> None:
    if result.ok:
        return
    raise MirrorError(
        f"package mirrors: {what} failed (exit {result.returncode})",
        details=result.failure_details(),
    )
