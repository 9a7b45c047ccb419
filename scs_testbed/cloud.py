"""openstacksdk connections, with the failures users meet turned into clear errors.

openstacksdk is imported lazily: `scs-testbed --help` must not pay for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from scs_testbed.errors import InputError, PreflightError

if TYPE_CHECKING:
    from openstack.connection import Connection

CONFIG_SEARCH = (
    "$OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, "
    "/etc/openstack/clouds.yaml"
)


def connect(cloud: str) -> Connection:
    """An authenticated connection to the clouds.yaml entry `cloud`."""
    import logging

    import openstack
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # keystoneauth warns on stderr about version discovery; our errors say it better
        logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    try:
        conn = openstack.connect(cloud=cloud)
    except exceptions.ConfigException as error:
        config = os.environ.get("OS_CLIENT_CONFIG_FILE")
        raise InputError(
            f"cloud {cloud!r} is not in clouds.yaml ({error})",
            hint=f"add an entry named {cloud!r} to clouds.yaml (searched: "
            f"{config or CONFIG_SEARCH}), or set cloud_provider in the environment",
        ) from error
    try:
        conn.authorize()
    except ks.Unauthorized as error:
        raise InputError(
            f"cloud {cloud!r}: authentication failed (HTTP 401)",
            hint="check the username/password or application credential of this clouds.yaml entry",
        ) from error
    except ks.ConnectFailure as error:
        auth_url = (conn.config.config.get("auth") or {}).get("auth_url", "?")
        raise InputError(
            f"cloud {cloud!r}: cannot reach its identity service at {auth_url}",
            hint="check auth_url in clouds.yaml and your network (VPN, proxy)",
        ) from error
    except (ks.MissingRequiredOptions, ks.NoMatchingPlugin) as error:
        raise InputError(
            f"cloud {cloud!r}: incomplete credentials in clouds.yaml: {error}",
            hint="the entry needs auth_url plus username/password or an application credential",
        ) from error
    except exceptions.SDKException as error:
        # openstacksdk wraps keystone's 401 into a plain SDKException: recognise its text
        if getattr(error, "status_code", None) == 401 or "(HTTP 401)" in str(error):
            raise InputError(
                f"cloud {cloud!r}: authentication failed (HTTP 401)",
                hint="check the username/password or application credential of this "
                "clouds.yaml entry",
            ) from error
        if isinstance(error.__cause__, ks.ConnectFailure) or "Unable to establish" in str(error):
            auth_url = (conn.config.config.get("auth") or {}).get("auth_url", "?")
            raise InputError(
                f"cloud {cloud!r}: cannot reach its identity service at {auth_url}",
                hint="check auth_url in clouds.yaml and your network (VPN, proxy)",
            ) from error
        raise PreflightError(f"cloud {cloud!r}: {error}") from error
    return conn


def project_id(conn: Connection) -> str:
    return str(conn.current_project_id)


def as_dict(resource: Any) -> dict[str, Any]:
    """A plain dict of an openstacksdk resource (or a dict passed through)."""
    if isinstance(resource, dict):
        return resource
    return dict(resource.to_dict(computed=True))
