"""Secrets of the local cloud and the config files rendered from the packaged templates."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from importlib.resources import files
from pathlib import Path
from string import Template

from scs_testbed.localcloud.layout import KEYSTONE_URL, Layout
from scs_testbed.localcloud.services import database_url

SECRET_NAMES = ("admin", "service", "database", "rabbit", "testbed")

# nova's compute driver per choice of `localcloud up --driver`
DRIVERS = {
    # every server boots as a systemd-nspawn container (scs_localcloud_plugins.nspawn_driver)
    # (nova imports it as nova.virt.scs_nspawn: install.install_driver_shim)
    "nspawn": "scs_nspawn.NspawnDriver",
    # servers are rows in the database; nothing boots
    "fake": "fake.FakeDriverWithoutFakeNodes",
}
DEFAULT_DRIVER = "nspawn"
# the hypervisor type nova reports for each driver (os-hypervisors): how a client asks the
# running cloud whether its servers boot (provision.compute_driver)
HYPERVISOR_TYPES = {"nspawn": "nspawn", "fake": "fake"}

# template file -> where it goes under etc/
TEMPLATES = {
    "keystone.conf": "keystone/keystone.conf",
    "glance-api.conf": "glance/glance-api.conf",
    "placement.conf": "placement/placement.conf",
    "nova.conf": "nova/nova.conf",
    "neutron.conf": "neutron/neutron.conf",
    "ml2_conf.ini": "neutron/plugins/ml2/ml2_conf.ini",
    "cinder.conf": "cinder/cinder.conf",
    "rabbitmq.conf": "rabbitmq/rabbitmq.conf",
    "my.cnf": "mysql/my.cnf",
}
# files the pip packages install under venv/etc/ that the services need beside their config
# (nova's WSGI app only looks for its paste file next to nova.conf)
COPIED_FILES = (
    "cinder/resource_filters.json",
    "glance/glance-api-paste.ini",
    "nova/api-paste.ini",
    "neutron/api-paste.ini",
    "cinder/api-paste.ini",
)


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600, never briefly wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def load_secrets(layout: Layout) -> dict[str, str]:
    """The cloud's passwords, generated once on first use and kept in secrets.json (0600)."""
    known: dict[str, str] = {}
    if layout.secrets_file.is_file():
        known = dict(json.loads(layout.secrets_file.read_text(encoding="utf-8")))
    missing = [name for name in SECRET_NAMES if not known.get(name)]
    if missing:
        for name in missing:
            known[name] = secrets.token_urlsafe(18)
        write_private(layout.secrets_file, json.dumps(known, indent=2) + "\n")
    return known


def configured_driver(layout: Layout) -> str | None:
    """The driver the rendered nova.conf names (what nova-compute runs with), or None."""
    import configparser

    path = layout.etc / TEMPLATES["nova.conf"]
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(path, encoding="utf-8")
    compute = parser.get("DEFAULT", "compute_driver", fallback="")
    return next((name for name, value in DRIVERS.items() if value == compute), None)


def chosen_driver(layout: Layout, choice: str | None = None) -> str:
    """`choice`, else the driver the cloud is configured with (its nova.conf), else the
    default. There is no separate record of the choice: nova.conf is the one answer."""
    from scs_testbed.errors import InputError

    if choice is None:
        return configured_driver(layout) or DEFAULT_DRIVER
    if choice not in DRIVERS:
        raise InputError(f"no compute driver {choice!r}", hint="one of: " + ", ".join(DRIVERS))
    return choice


def render_configs(
    layout: Layout, secret: dict[str, str], driver: str = "fake", rootfs: Path | None = None
) -> list[str]:
    """(Re)write every config file under etc/ from the templates; return those that changed.

    With driver `nspawn`, nova boots servers from `rootfs` and neutron follows floating IPs
    on the host (both through the host layer's state in `layout.hosts`).
    """
    booting = driver == "nspawn"
    values = {
        "state": str(layout.root),
        "venv": str(layout.venv),
        "keystone": KEYSTONE_URL.removesuffix("/v3"),
        "db": database_url(secret),
        "rabbit": f"rabbit://openstack:{secret['rabbit']}@127.0.0.1:5672/",
        "password": secret["service"],
        "driver": driver,
        "compute_driver": DRIVERS[driver],
        "nspawn_state": str(layout.hosts) if booting else "",
        "rootfs": str(rootfs) if booting and rootfs else "",
    }
    changed = []
    templates = files("scs_testbed.localcloud") / "templates"
    for name, target in TEMPLATES.items():
        text = (templates / name).read_text(encoding="utf-8")
        if name == "rabbitmq.conf":
            text = Template(text).substitute(values, password=secret["rabbit"])
        else:
            text = Template(text).substitute(values)
        path = layout.etc / target
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            changed.append(target)
        write_private(path, text)
    write_private(layout.etc / "rabbitmq" / "enabled_plugins", "[].\n")
    for name in COPIED_FILES:
        shutil.copyfile(layout.venv / "etc" / name, layout.etc / name)
    return changed
