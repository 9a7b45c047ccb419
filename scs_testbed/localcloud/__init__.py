"""The local cloud: a real OpenStack control plane with fake back-ends on this machine.

keystone, glance, placement, nova, neutron (ML2 with an agentless binding driver), cinder
(fake driver), RabbitMQ and MariaDB, all on 127.0.0.1. Servers boot as systemd-nspawn
containers (`--driver nspawn`, the default) or stay database rows (`--driver fake`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_testbed.localcloud.cloud import (
        DownResult,
        LocalCloudError,
        ServiceState,
        UpResult,
        down,
        env_exports,
        is_running,
        log_tail,
        readiness_problem,
        require_root,
        running_driver,
        status,
        stop_servers,
        up,
    )
    from scs_testbed.localcloud.layout import ADMIN_CLOUD_NAME, CLOUD_NAME, Layout
    from scs_testbed.localcloud.provision import parse_quotas

__all__ = [
    "ADMIN_CLOUD_NAME",
    "CLOUD_NAME",
    "DownResult",
    "Layout",
    "LocalCloudError",
    "ServiceState",
    "UpResult",
    "down",
    "env_exports",
    "is_running",
    "log_tail",
    "parse_quotas",
    "readiness_problem",
    "require_root",
    "running_driver",
    "status",
    "stop_servers",
    "up",
]

# Where each name lives. Loaded on first use (PEP 562), so that importing one module of the
# package (`localcloud.layout`, say) does not run `cloud`, whose modules import the package:
# no loop through this file.
_HOMES = {
    "ADMIN_CLOUD_NAME": "layout",
    "CLOUD_NAME": "layout",
    "Layout": "layout",
    "parse_quotas": "provision",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{_HOMES.get(name, 'cloud')}"), name)
